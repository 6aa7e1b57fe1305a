/**
 * `reroute watch --metrics-listen`: what watch last saw of every node, as Prometheus metrics.
 *
 * An EngineSink: it takes watch's messages (NODES_WATCHED, NODE_CHECKED, WATCH_RECORD) and keeps
 * the latest check of each node; every scrape renders that state (prom-client's `collect`), so a
 * scrape costs no SSH and no waiting. Labels are `node` (bounded by the manifest), a host kind, a
 * route target kind, a version pair and the agent's last decision and reason (fixed sets): the
 * series count is bounded by the node count. Nodes that leave the manifest leave the output.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineMessage, EngineSink, NodeCheck } from '../engine/engine-io';
import type { AgentHeartbeat, TargetKind } from '../observe/observed-types';

const P = 'zbs_reroute_';
const KINDS: TargetKind[] = ['local', 'remote-storage', 'remote-management', 'pin', 'none'];

interface NodeRecord {
  failbackDelaySeconds: number;
  last?: NodeCheck;
  /** The last heartbeat any check read: the agent's counters stay known while its host is out of sight. */
  heartbeat?: AgentHeartbeat;
  lastOkAt?: number;
  driftFound: number;
  driftCorrected: number;
}

/** Where IO is served from, by the agent's own word, else by the route the host has. */
export function routeKind(check: NodeCheck): TargetKind | undefined {
  if (check.heartbeat) return check.heartbeat.targetKind;
  const s = check.status;
  if (!s) return undefined;
  if (s.routeGateway === undefined) return 'none';
  return s.routeLocal === true ? 'local' : undefined;
}

/** Seconds since the route left the local SCVM (0 while it is local or there is none). */
export function offLocalSeconds(check: NodeCheck): number | undefined {
  const hb = check.heartbeat;
  if (!hb || check.hostNow === undefined) return undefined;
  if (hb.targetKind === 'local' || hb.targetKind === 'none') return 0;
  return Math.max(0, check.hostNow - hb.since);
}

/** The agent's own counters (its status file), as `zbs_reroute_<name>`. */
const AGENT_COUNTERS: [
  string,
  keyof AgentHeartbeat & ('failovers' | 'failbacks' | 'routeChanges' | 'fetchFailures' | 'blindIterations'),
  string,
][] = [
  ['agent_failovers_total', 'failovers', 'Route moves from the local SCVM to another, by the agent since the host booted.'],
  ['agent_failbacks_total', 'failbacks', 'Route moves back to the local SCVM, by the agent since the host booted.'],
  ['agent_route_changes_total', 'routeChanges', 'Route changes the agent made since the host booted.'],
  ['agent_session_fetch_failures_total', 'fetchFailures', 'Agent iterations whose session list fetch failed, since the host booted.'],
  ['agent_blind_iterations_total', 'blindIterations', 'Agent iterations spent blind, since the host booted.'],
];

type Labels = Record<string, string>;
type Setter = (labels: Labels, value: number) => void;

export class WatchMetrics implements EngineSink {
  readonly registry = new Registry();
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly checkDuration: Histogram;

  constructor() {
    const gauge = (name: string, help: string, labelNames: string[], fill: (set: Setter) => void): void => {
      new Gauge({
        name: P + name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          fill((labels, value) => this.set(labels, value));
        },
      });
    };
    // The agent's own counters: totals it keeps in its status file (reset only by a reboot of the host).
    const counter = (name: string, help: string, fill: (set: Setter) => void): void => {
      new Counter({
        name: P + name,
        help,
        labelNames: ['node'],
        registers: [this.registry],
        collect() {
          this.reset();
          fill((labels, value) => this.inc(labels, value));
        },
      });
    };
    const each = (f: (node: string, r: NodeRecord, set: Setter) => void) => (set: Setter) => {
      for (const [node, r] of this.nodes) f(node, r, set);
    };
    const fromCheck = (value: (c: NodeCheck) => number | undefined) =>
      each((node, r, set) => {
        const v = r.last ? value(r.last) : undefined;
        if (v !== undefined) set({ node }, v);
      });
    const fromHeartbeat = (value: (hb: AgentHeartbeat) => number | undefined) =>
      each((node, r, set) => {
        const v = r.heartbeat ? value(r.heartbeat) : undefined;
        if (v !== undefined) set({ node }, v);
      });
    const bool = (b: boolean | undefined | null): number | undefined => (b === undefined || b === null ? undefined : b ? 1 : 0);

    gauge(
      'host_reachable',
      'Whether the last check reached the host over SSH (host: esxi or scvm).',
      ['node', 'host'],
      each((node, r, set) => {
        if (!r.last) return;
        set({ node, host: 'esxi' }, r.last.esxiReachable ? 1 : 0);
        set({ node, host: 'scvm' }, r.last.scvmReachable ? 1 : 0);
      }),
    );
    gauge(
      'agent_up',
      'Whether the agent loop runs and its heartbeat is fresh (absent when the ESXi host was not reached).',
      ['node'],
      fromCheck((c) => bool(c.status?.agentAlive)),
    );
    gauge(
      'agent_info',
      'The agent version installed on the host and the version the manifest wants (value 1).',
      ['node', 'version', 'wanted_version'],
      each((node, r, set) => {
        const s = r.last?.status;
        if (s) set({ node, version: s.installedVersion ?? 'none', wanted_version: s.wantedVersion }, 1);
      }),
    );
    gauge(
      'agent_version_mismatch',
      'Whether the installed or running agent is not the version the manifest wants.',
      ['node'],
      fromCheck((c) => (c.status ? bool(c.status.versionOk === false) : undefined)),
    );
    gauge(
      'route_target',
      'Where the host sends 192.168.33.2 (value 1 for the current kind: local, remote-storage, remote-management, pin, none).',
      ['node', 'kind'],
      each((node, r, set) => {
        const kind = r.last ? routeKind(r.last) : undefined;
        if (kind !== undefined) for (const k of KINDS) set({ node, kind: k }, k === kind ? 1 : 0);
      }),
    );
    gauge(
      'route_off_local_seconds',
      'Seconds since the route left the local SCVM, by the host clock (0 while local).',
      ['node'],
      fromCheck(offLocalSeconds),
    );
    gauge(
      'heartbeat_age_seconds',
      "Age of the agent's heartbeat at the last check, by the host clock.",
      ['node'],
      fromCheck((c) => c.status?.heartbeatAgeSeconds),
    );
    gauge(
      'session_fetch_ok',
      "Whether the agent's last ZBS session list fetch succeeded.",
      ['node'],
      fromCheck((c) => (c.heartbeat ? bool(c.heartbeat.fetch === 'ok') : undefined)),
    );
    gauge(
      'agent_blind',
      'Whether the agent has had no session list for BLIND_AFTER iterations (it cannot see an SCVM fail).',
      ['node'],
      fromCheck((c) => (c.heartbeat ? bool(c.heartbeat.blind === true) : undefined)),
    );
    gauge(
      'session_list_age_seconds',
      "Seconds since the agent's last good session list.",
      ['node'],
      fromCheck((c) => c.heartbeat?.listAgeSeconds),
    );
    gauge(
      'peer_list_stale',
      "Whether the agent's peer files (reroute.conf, known_hosts) differ from what the manifest renders.",
      ['node'],
      fromCheck((c) => (c.status?.peerList ? bool(c.status.peerList.state === 'stale') : undefined)),
    );
    gauge(
      'failback_delay_seconds',
      'The failback delay the manifest sets: how long the local SCVM must stay healthy before the route returns.',
      ['node'],
      each((node, r, set) => set({ node }, r.failbackDelaySeconds)),
    );
    gauge(
      'drift_items',
      'Drift items the last check found on the node (its ESXi host and SCVM).',
      ['node'],
      fromCheck((c) => c.drift.length),
    );
    gauge(
      'last_successful_check_timestamp_seconds',
      'When a check last reached the ESXi host and judged it (Unix time).',
      ['node'],
      each((node, r, set) => {
        if (r.lastOkAt !== undefined) set({ node }, r.lastOkAt / 1000);
      }),
    );
    gauge(
      'agent_last_decision_timestamp_seconds',
      'When the agent last moved (or failed to move) the route, with the decision and its reason (host clock, Unix time).',
      ['node', 'decision', 'reason'],
      each((node, r, set) => {
        const hb = r.heartbeat;
        if (hb?.lastDecision !== undefined && hb.lastDecisionAt !== undefined)
          set({ node, decision: hb.lastDecision, reason: hb.lastReason ?? 'unknown' }, hb.lastDecisionAt);
      }),
    );
    for (const [name, field, help] of AGENT_COUNTERS)
      counter(
        name,
        help,
        fromHeartbeat((hb) => hb[field]),
      );
    counter(
      'drift_items_found_total',
      'Drift items this watch process found (each new finding once).',
      each((node, r, set) => set({ node }, r.driftFound)),
    );
    counter(
      'drift_items_corrected_total',
      'Drift items this watch process corrected.',
      each((node, r, set) => set({ node }, r.driftCorrected)),
    );
    this.checkDuration = new Histogram({
      name: `${P}check_duration_seconds`,
      help: "How long one node's check took (observe over SSH and plan).",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [this.registry],
    });
  }

  emit(m: EngineMessage): void {
    switch (m.code) {
      case 'NODES_WATCHED': {
        const wanted = new Set(m.nodes.map((n) => n.node));
        for (const node of [...this.nodes.keys()]) if (!wanted.has(node)) this.nodes.delete(node);
        for (const n of m.nodes) {
          const r = this.nodes.get(n.node);
          if (r) r.failbackDelaySeconds = n.failbackDelaySeconds;
          else this.nodes.set(n.node, { failbackDelaySeconds: n.failbackDelaySeconds, driftFound: 0, driftCorrected: 0 });
        }
        return;
      }
      case 'NODE_CHECKED': {
        const r = this.nodes.get(m.check.node);
        if (!r) return;
        r.last = m.check;
        if (m.check.heartbeat) r.heartbeat = m.check.heartbeat;
        if (m.check.status) r.lastOkAt = m.check.at;
        this.checkDuration.observe(m.check.durationMs / 1000);
        return;
      }
      case 'WATCH_RECORD': {
        // A repeated finding is logged at debug: count each finding once, as the log shows it.
        const node = typeof m.fields.host === 'string' ? this.nodes.get(m.fields.host) : undefined;
        if (!node) return;
        if (m.event === 'drift-found' && m.level !== 'debug') node.driftFound += 1;
        if (m.event === 'drift-corrected') node.driftCorrected += 1;
        return;
      }
      default:
        return;
    }
  }

  /** The Prometheus text exposition of the current state. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
