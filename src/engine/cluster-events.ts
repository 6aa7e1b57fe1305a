/**
 * `reroute events` (issue 16), read-only: one exec per ESXi host reads the agent's log and its
 * rotation (src/timeline/agent-log-read.ts), and the pure timeline turns them into one time-ordered
 * list of decisions, the failovers paired with their failbacks, and where each host's IO went. A
 * host that cannot be read is a row saying why, never the end of the command.
 */
import { mapBounded } from '../apply/map-bounded';
import { RerouteError } from '../errors/reroute-error';
import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import { sanitizeForDisplay } from '../observe/sanitize';
import { parseAgentLog } from '../timeline/agent-log';
import { agentLogCommand, LOG_READ_MAX_OUTPUT, parseAgentLogRead } from '../timeline/agent-log-read';
import { inWindow, mergeTimeline, pairEpisodes, parseSince, servedSegments } from '../timeline/episodes';
import type { AgentEvent, Episode, RouteKind, ServedSegment } from '../timeline/timeline-types';
import type { ClusterSession } from './cluster-session';
import type { EngineIo } from './engine-io';

/** What the operator asked: `--since` as typed (default 24h), `--node` (default all). */
export interface EventsQuery {
  since?: string;
  nodes?: string[];
}

/** One ESXi host's log as read. */
export interface HostLog {
  node: string;
  address: string;
  /** The agent's LOG_FILE (reroute.conf is rendered from the manifest's install.logFile). */
  logFile: string;
  read: boolean;
  /** Why the log could not be read (whole), when it could not. */
  reason?: string;
  lines: number;
  malformed: number;
  /** The start of a file was left out (over the read cap). */
  truncated: boolean;
}

export interface EventsReport {
  cluster: string;
  /** The window: ISO times; since null for `--since all`. */
  since: string | null;
  until: string;
  nodes: string[];
  hosts: HostLog[];
  events: AgentEvent[];
  episodes: Episode[];
  segments: ServedSegment[];
}

export const DEFAULT_SINCE = '24h';

/** What each gateway is from `node`'s host, as the manifest says (for lines that name a gateway but not its kind). */
export function gatewayKinds(manifest: Manifest, node: NodeSpec): Record<string, RouteKind> {
  const out: Record<string, RouteKind> = {};
  for (const n of manifest.nodes) {
    const storage: RouteKind = n.name === node.name ? 'local' : 'remote-storage';
    out[n.scvm.storageIp] = storage;
    if (n.scvm.accessIp !== undefined) out[n.scvm.accessIp] = storage;
    if (n.name !== node.name) out[n.scvm.managementIp] = 'remote-management';
  }
  return out;
}

function chosenNodes(manifest: Manifest, names: string[] | undefined): NodeSpec[] {
  if (names === undefined || names.length === 0) return manifest.nodes;
  const unknown = names.filter((n) => !manifest.nodes.some((m) => m.name === n));
  if (unknown.length > 0) {
    throw new RerouteError(
      'USAGE',
      `--node ${unknown.join(', ')}: no such node in cluster ${manifest.clusterName}`,
      `Use node names from the manifest: ${manifest.nodes.map((n) => n.name).join(', ')}.`,
    );
  }
  return manifest.nodes.filter((n) => names.includes(n.name));
}

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const oneLine = (s: string): string => sanitizeForDisplay(s.trim(), { multiline: false, maxLength: 300 });

async function readHostLog(session: ClusterSession, node: NodeSpec, io: EngineIo): Promise<{ log: HostLog; events: AgentEvent[] }> {
  const m = session.manifest;
  const started = Date.now();
  const log: HostLog = {
    node: node.name,
    address: node.esxi.address,
    logFile: m.install.logFile,
    read: false,
    lines: 0,
    malformed: 0,
    truncated: false,
  };
  let events: AgentEvent[] = [];
  try {
    const host = await session.connections.get({ kind: 'esxi', node: node.name, address: node.esxi.address });
    const r = await host.exec(agentLogCommand(m.install.logFile), {
      timeoutMs: m.access.ssh.commandTimeoutSeconds * 1000,
      maxOutputBytes: LOG_READ_MAX_OUTPUT,
    });
    const out = (r as { stdoutBytes?: Buffer }).stdoutBytes ?? r.stdout;
    const read = parseAgentLogRead(out);
    const parsed = parseAgentLog(read.text, { host: node.name, gatewayKinds: gatewayKinds(m, node) });
    events = parsed.events;
    Object.assign(log, { lines: parsed.lines, malformed: parsed.malformed, truncated: read.files.some((f) => f.status === 'truncated') });
    if (r.code !== 0)
      log.reason = `reading the log exited with status ${r.code ?? 'signal'}${r.stderr.trim() ? `: ${oneLine(r.stderr)}` : ''}`;
    else if (read.problems.length > 0) log.reason = oneLine(read.problems.join('; '));
    else if (read.files.some((f) => f.status === 'unreadable')) log.reason = `${m.install.logFile} (or its .1) is not a readable file`;
    log.read = log.reason === undefined;
  } catch (err) {
    log.reason = oneLine(reasonOf(err));
  }
  io.emit({
    code: 'EVENTS_HOST',
    node: node.name,
    read: log.read,
    lines: log.lines,
    ms: Date.now() - started,
    ...(log.reason ? { reason: log.reason } : {}),
  });
  return { log, events };
}

/** The events of the hosts asked for, in the window asked for; every host read once, `access.parallelism` at a time. */
export async function eventsReport(
  session: ClusterSession,
  io: EngineIo,
  query: EventsQuery,
  now: Date = new Date(),
): Promise<EventsReport> {
  const m = session.manifest;
  const nowMs = now.getTime();
  const sinceMs = parseSince(query.since ?? DEFAULT_SINCE, nowMs);
  const nodes = chosenNodes(m, query.nodes);
  io.emit({ code: 'EVENTS_START', cluster: m.clusterName, nodes: nodes.length });
  const read = await mapBounded(nodes, m.access.parallelism, (n) => readHostLog(session, n, io));
  // Pairs and segments come from each host's whole log: an episode begun before --since still ends in it.
  const all = {
    events: mergeTimeline(read.map((r) => r.events)),
    episodes: read.flatMap((r) => pairEpisodes(r.events)).sort((a, b) => a.startMs - b.startMs),
    segments: read.flatMap((r) => servedSegments(r.events, nowMs)),
  };
  const shown = inWindow({ sinceMs, untilMs: nowMs, nodes: nodes.map((n) => n.name) }, all);
  return {
    cluster: m.clusterName,
    since: sinceMs === undefined ? null : new Date(sinceMs).toISOString(),
    until: now.toISOString(),
    nodes: nodes.map((n) => n.name),
    hosts: read.map((r) => r.log),
    ...shown,
  };
}
