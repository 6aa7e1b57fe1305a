/**
 * The decision logic of `reroute watch`, as a pure reducer: (state, event) →
 * (state, effects). No clock, no I/O, no randomness from outside (jitter
 * comes from a seeded generator kept in the state), so every scheduling rule
 * (period, backoff, re-check after return, one job per host, stop) is unit
 * tested without hosts. The I/O loop (watch-loop.ts) only carries out the
 * effects and feeds their outcomes back as events.
 */
import type { MessageLevel } from '../engine/engine-io';

export type WatchMode = 'report' | 'correct';

export interface WatchConfig {
  mode: WatchMode;
  /** Tear down nodes removed from the manifest (off by default: a half-edited file never tears down a host). */
  prune: boolean;
  /** Re-check period per host. */
  intervalMs: number;
  /** ± fraction of the period, so hosts do not all get checked in the same second. */
  jitter: number;
  /** At most this many hosts are observed or corrected at once. */
  parallelism: number;
  /** First retry after a failure; doubles per consecutive failure. */
  retryBaseMs: number;
  /** Ceiling for retries after failed corrections (unreachable hosts are retried at least once a period). */
  backoffMaxMs: number;
  /** A corrected host, or one back from unreachable, is checked again this soon. */
  confirmDelayMs: number;
}

export function defaultWatchConfig(over: Partial<WatchConfig> & { mode: WatchMode }): WatchConfig {
  const intervalMs = over.intervalMs ?? 60_000;
  return {
    prune: false,
    jitter: 0.1,
    parallelism: 8,
    retryBaseMs: Math.min(5_000, intervalMs),
    backoffMaxMs: Math.max(intervalMs, 600_000),
    confirmDelayMs: Math.min(10_000, intervalMs),
    ...over,
    intervalMs,
  };
}

/** One drifted item of one host, as the planner saw it. */
export interface DriftItem {
  hostKind: 'esxi' | 'scvm';
  /** What drifted: `crontab`, `local.sh`, `agent`, `reroute-loop.sh`, `authorized_keys`, … */
  item: string;
  /** The planner's reason, e.g. `crontab line missing`. */
  reason: string;
}

export type ObserveOutcome = {
  /** Hosts of this node that could not be observed (the others were). */
  unreachable: { hostKind: 'esxi' | 'scvm'; reason: string }[];
  drift: DriftItem[];
};

export type CorrectOutcome =
  | { kind: 'ok'; items: DriftItem[] }
  | { kind: 'failed'; items: DriftItem[]; reason: string }
  /** Not attempted: the state lock is held by a manual apply (or the host lease by another operator). */
  | { kind: 'deferred'; reason: string };

export type WatchEvent =
  | { type: 'tick'; now: number }
  | { type: 'manifest-loaded'; now: number; nodes: string[]; manifestSha: string; source: string }
  | { type: 'manifest-invalid'; now: number; problems: string[]; source: string }
  | { type: 'observed'; now: number; node: string; outcome: ObserveOutcome }
  | { type: 'corrected'; now: number; node: string; outcome: CorrectOutcome }
  | { type: 'pruned'; now: number; node: string; ok: boolean; reason?: string }
  | { type: 'stop'; now: number; signal: string };

export type LogLevel = MessageLevel;

export interface LogEffect {
  type: 'log';
  level: LogLevel;
  /** Stable event name (JSON log field `event`). */
  event: string;
  message: string;
  fields: Record<string, unknown>;
}

export type WatchEffect =
  | { type: 'observe'; node: string }
  | { type: 'correct'; node: string }
  | { type: 'prune'; node: string }
  | LogEffect
  /** Nothing is in flight and a stop was asked for: the loop may exit. */
  | { type: 'done' };

export interface HostState {
  node: string;
  busy?: 'observe' | 'correct' | 'prune';
  /** When the next check may start (ms). */
  dueAt: number;
  /** Consecutive failed observations or corrections. */
  failures: number;
  /** undefined until first observed. */
  reachable?: boolean;
  /** Drift last reported, so an unchanged drift in report mode is not re-announced every period. */
  lastDriftKey?: string;
  /** No longer in the manifest: pruned (with --prune) or dropped once its job ends. */
  removed?: 'prune' | 'drop';
}

export interface WatchState {
  config: WatchConfig;
  hosts: Record<string, HostState>;
  /** Manifest order, for stable scheduling and logs. */
  order: string[];
  manifestSha?: string;
  /** mulberry32 state for jitter. */
  seed: number;
  stopping: boolean;
  done: boolean;
}

export function initialWatchState(config: WatchConfig, seed = 1): WatchState {
  return { config, hosts: {}, order: [], seed: seed >>> 0, stopping: false, done: false };
}

/** mulberry32: small, deterministic, good enough to spread checks. */
function nextRandom(seed: number): [number, number] {
  const s = (seed + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, s];
}

/** Retry delay after `failures` consecutive failures: base · 2^(n-1), capped. */
export function backoffMs(failures: number, baseMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  const exp = Math.min(failures - 1, 30);
  return Math.min(maxMs, baseMs * 2 ** exp);
}

function driftKey(items: DriftItem[]): string {
  return items
    .map((d) => `${d.hostKind}\u0000${d.item}\u0000${d.reason}`)
    .sort()
    .join('\u0001');
}

class Step {
  readonly effects: WatchEffect[] = [];
  constructor(public s: WatchState) {}

  log(level: LogLevel, event: string, message: string, fields: Record<string, unknown> = {}): void {
    this.effects.push({ type: 'log', level, event, message, fields });
  }

  host(node: string): HostState | undefined {
    return this.s.hosts[node];
  }

  setHost(h: HostState): void {
    this.s = { ...this.s, hosts: { ...this.s.hosts, [h.node]: h } };
  }

  dropHost(node: string): void {
    const hosts = { ...this.s.hosts };
    delete hosts[node];
    this.s = { ...this.s, hosts, order: this.s.order.filter((n) => n !== node) };
  }

  /** `ms` spread by ± jitter. */
  jittered(ms: number): number {
    const [r, seed] = nextRandom(this.s.seed);
    this.s = { ...this.s, seed };
    const j = Math.max(0, Math.min(1, this.s.config.jitter));
    return Math.max(0, Math.round(ms * (1 + j * (2 * r - 1))));
  }
}

function busyCount(s: WatchState): number {
  return Object.values(s.hosts).filter((h) => h.busy !== undefined).length;
}

/** A job ended: the host is free again, or gone if it was removed meanwhile. Returns false when dropped. */
function release(st: Step, node: string, update: Partial<HostState>): boolean {
  const h = st.host(node);
  if (!h) return false;
  if (h.removed === 'drop') {
    st.dropHost(node);
    return false;
  }
  const next: HostState = { ...h, ...update };
  delete next.busy;
  st.setHost(next);
  return true;
}

function onManifestLoaded(st: Step, e: Extract<WatchEvent, { type: 'manifest-loaded' }>): void {
  const first = st.s.manifestSha === undefined;
  const wanted = new Set(e.nodes);
  const added: string[] = [];
  const removed: string[] = [];
  for (const node of e.nodes) {
    const h = st.host(node);
    if (!h) {
      st.setHost({ node, dueAt: e.now, failures: 0 });
      if (!first) added.push(node);
    } else {
      // Re-plan every host against the new manifest now; a removal that was undone is cancelled.
      const next: HostState = { ...h, dueAt: e.now, failures: 0 };
      delete next.removed;
      st.setHost(next);
    }
  }
  for (const node of st.s.order) {
    if (wanted.has(node)) continue;
    const h = st.host(node) as HostState;
    removed.push(node);
    if (st.s.config.prune) st.setHost({ ...h, removed: 'prune', dueAt: e.now });
    else if (h.busy) st.setHost({ ...h, removed: 'drop' });
    else st.dropHost(node);
  }
  const kept = st.s.order.filter((n) => !wanted.has(n) && st.host(n)?.removed === 'prune');
  st.s = { ...st.s, order: [...e.nodes, ...kept], manifestSha: e.manifestSha };
  if (first) {
    st.log(
      'info',
      'watch-started',
      `watching ${e.nodes.length} node(s) from ${e.source} in ${st.s.config.mode} mode, every ${Math.round(st.s.config.intervalMs / 1000)} s`,
      {
        nodes: e.nodes,
        mode: st.s.config.mode,
        intervalMs: st.s.config.intervalMs,
        prune: st.s.config.prune,
      },
    );
    return;
  }
  st.log(
    'info',
    'manifest-reloaded',
    `manifest ${e.source} changed: re-planning every node${added.length ? `; added ${added.join(', ')}` : ''}`,
    { source: e.source, added, removed },
  );
  for (const node of removed) {
    if (st.s.config.prune)
      st.log('warn', 'node-removed', `${node} was removed from the manifest: it will be torn down (--prune)`, { node, prune: true });
    else
      st.log(
        'warn',
        'node-removed',
        `${node} was removed from the manifest: no longer watched, left installed (pass --prune to tear it down)`,
        { node, prune: false },
      );
  }
}

function onObserved(st: Step, e: Extract<WatchEvent, { type: 'observed' }>): void {
  const h = st.host(e.node);
  if (!h) return;
  const { config } = st.s;
  const o = e.outcome;
  if (o.unreachable.length > 0) {
    const failures = h.failures + 1;
    const wasReachable = h.reachable !== false;
    const delay = st.jittered(backoffMs(failures, config.retryBaseMs, config.intervalMs));
    for (const u of o.unreachable) {
      st.log(
        wasReachable ? 'warn' : 'debug',
        'host-unreachable',
        `${e.node} (${u.hostKind}) unreachable: ${u.reason}; retry in ${Math.round(delay / 1000)} s`,
        { host: e.node, hostKind: u.hostKind, reason: u.reason, failures, retryInMs: delay },
      );
    }
    if (!release(st, e.node, { failures, reachable: false, dueAt: e.now + delay })) return;
    // Whatever drift the reachable half shows is handled at the next check, with the whole node.
    return;
  }
  const cameBack = h.reachable === false;
  if (cameBack)
    st.log('info', 'host-returned', `${e.node} is reachable again: checking it now`, { host: e.node, afterFailures: h.failures });
  if (o.drift.length === 0) {
    if (h.lastDriftKey !== undefined) st.log('info', 'in-sync', `${e.node}: in sync`, { host: e.node });
    const next: Partial<HostState> = {
      failures: 0,
      reachable: true,
      dueAt: e.now + (cameBack ? config.confirmDelayMs : st.jittered(config.intervalMs)),
    };
    release(st, e.node, next);
    const after = st.host(e.node);
    if (after) {
      const cleared = { ...after };
      delete cleared.lastDriftKey;
      st.setHost(cleared);
    }
    return;
  }
  const key = driftKey(o.drift);
  const fresh = key !== h.lastDriftKey || config.mode === 'correct';
  for (const d of o.drift) {
    st.log(fresh ? 'warn' : 'debug', 'drift-found', `${e.node} (${d.hostKind}) drift: ${d.item}: ${d.reason}`, {
      host: e.node,
      hostKind: d.hostKind,
      item: d.item,
      reason: d.reason,
      mode: config.mode,
    });
  }
  if (config.mode === 'report' || st.s.stopping || h.removed !== undefined) {
    release(st, e.node, { failures: 0, reachable: true, lastDriftKey: key, dueAt: e.now + st.jittered(config.intervalMs) });
    return;
  }
  // Straight from observing to correcting: the host stays busy, so no second job can start on it.
  st.setHost({ ...h, busy: 'correct', reachable: true, lastDriftKey: key });
  st.effects.push({ type: 'correct', node: e.node });
}

function onCorrected(st: Step, e: Extract<WatchEvent, { type: 'corrected' }>): void {
  const h = st.host(e.node);
  if (!h) return;
  const { config } = st.s;
  const o = e.outcome;
  if (o.kind === 'ok') {
    for (const d of o.items)
      st.log('info', 'drift-corrected', `${e.node} (${d.hostKind}) corrected: ${d.item}: ${d.reason}`, {
        host: e.node,
        hostKind: d.hostKind,
        item: d.item,
        reason: d.reason,
      });
    release(st, e.node, { failures: 0, dueAt: e.now + config.confirmDelayMs });
    return;
  }
  if (o.kind === 'deferred') {
    st.log('warn', 'correction-deferred', `${e.node}: correction deferred: ${o.reason}`, { host: e.node, reason: o.reason });
    release(st, e.node, { dueAt: e.now + st.jittered(config.retryBaseMs) });
    return;
  }
  const failures = h.failures + 1;
  const delay = st.jittered(backoffMs(failures, config.retryBaseMs, config.backoffMaxMs));
  const items = o.items.length > 0 ? o.items : [{ hostKind: 'esxi' as const, item: 'host', reason: 'correction' }];
  for (const d of items) {
    st.log(
      'error',
      'drift-correction-failed',
      `${e.node} (${d.hostKind}) correction failed: ${d.item}: ${o.reason}; retry in ${Math.round(delay / 1000)} s`,
      { host: e.node, hostKind: d.hostKind, item: d.item, reason: o.reason, drift: d.reason, failures, retryInMs: delay },
    );
  }
  // Forget the drift key so the retry's finding is logged again.
  const next: Partial<HostState> = { failures, dueAt: e.now + delay };
  if (release(st, e.node, next)) {
    const after = { ...(st.host(e.node) as HostState) };
    delete after.lastDriftKey;
    st.setHost(after);
  }
}

function onPruned(st: Step, e: Extract<WatchEvent, { type: 'pruned' }>): void {
  const h = st.host(e.node);
  if (!h) return;
  if (e.ok) {
    st.log('info', 'node-pruned', `${e.node}: torn down (removed from the manifest, --prune)`, { host: e.node });
    st.dropHost(e.node);
    return;
  }
  const failures = h.failures + 1;
  const delay = st.jittered(backoffMs(failures, st.s.config.retryBaseMs, st.s.config.backoffMaxMs));
  st.log('error', 'prune-failed', `${e.node}: teardown failed: ${e.reason ?? 'unknown'}; retry in ${Math.round(delay / 1000)} s`, {
    host: e.node,
    reason: e.reason,
    failures,
    retryInMs: delay,
  });
  release(st, e.node, { failures, dueAt: e.now + delay });
}

/** Start due hosts (earliest first) while there is room; say `done` when stopping and idle. */
function schedule(st: Step, now: number): void {
  if (st.s.done) return;
  if (st.s.stopping) {
    if (busyCount(st.s) === 0) {
      st.s = { ...st.s, done: true };
      st.log('info', 'watch-stopped', 'watch stopped: no correction in flight', {});
      st.effects.push({ type: 'done' });
    }
    return;
  }
  let room = st.s.config.parallelism - busyCount(st.s);
  if (room <= 0) return;
  const due = st.s.order
    .map((n) => st.s.hosts[n])
    .filter((h): h is HostState => h !== undefined && h.busy === undefined && h.dueAt <= now)
    .sort((a, b) => a.dueAt - b.dueAt || st.s.order.indexOf(a.node) - st.s.order.indexOf(b.node));
  for (const h of due) {
    if (room <= 0) break;
    room--;
    if (h.removed === 'prune') {
      st.setHost({ ...h, busy: 'prune' });
      st.effects.push({ type: 'prune', node: h.node });
    } else {
      st.setHost({ ...h, busy: 'observe' });
      st.effects.push({ type: 'observe', node: h.node });
    }
  }
}

export function reduceWatch(state: WatchState, event: WatchEvent): { state: WatchState; effects: WatchEffect[] } {
  const st = new Step(state);
  switch (event.type) {
    case 'tick':
      break;
    case 'manifest-loaded':
      if (!st.s.stopping) onManifestLoaded(st, event);
      break;
    case 'manifest-invalid':
      st.log(
        'error',
        'manifest-invalid',
        `manifest ${event.source} is not valid; the last good manifest stays in force:\n${event.problems.map((p) => `  ${p}`).join('\n')}`,
        { source: event.source, problems: event.problems, keptManifestSha: st.s.manifestSha },
      );
      break;
    case 'observed':
      onObserved(st, event);
      break;
    case 'corrected':
      onCorrected(st, event);
      break;
    case 'pruned':
      onPruned(st, event);
      break;
    case 'stop':
      if (!st.s.stopping) {
        st.s = { ...st.s, stopping: true };
        const inFlight = st.s.order.filter((n) => st.s.hosts[n]?.busy !== undefined);
        st.log(
          'info',
          'watch-stopping',
          `${event.signal}: stopping${inFlight.length ? ` after the host(s) in flight: ${inFlight.join(', ')}` : ''}`,
          { signal: event.signal, inFlight },
        );
      }
      break;
  }
  schedule(st, event.now);
  return { state: st.s, effects: st.effects };
}

/** When the loop should next wake up if nothing else happens (undefined: nothing scheduled). */
export function nextWakeAt(state: WatchState): number | undefined {
  if (state.stopping || state.done) return undefined;
  const idle = Object.values(state.hosts).filter((h) => h.busy === undefined);
  if (idle.length === 0) return undefined;
  return Math.min(...idle.map((h) => h.dueAt));
}
