/**
 * From a host's decisions to what an operator asks about them (issue 16): each failover paired
 * with the failback that ended it (how long, why, where IO went meanwhile), the episodes still
 * open, and the stretches of time a host's IO went one way (the SVG's lanes). Then the window the
 * operator asked for (`--since`, `--node`). Pure: the current time is an argument.
 */
import { RerouteError } from '../errors/reroute-error';
import type { AgentEvent, Episode, RouteKind, ServedSegment } from './timeline-types';

/** Every event of every host in one time order (stable: a host's lines of one second keep their order). */
export function mergeTimeline(perHost: AgentEvent[][]): AgentEvent[] {
  return perHost
    .flat()
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.atMs - b.e.atMs || a.i - b.i)
    .map(({ e }) => e);
}

/** A host's failovers paired with their failbacks, in time order; `events` are that host's, in log order. */
export function pairEpisodes(events: AgentEvent[]): Episode[] {
  const out: Episode[] = [];
  let open: Episode | undefined;
  const begin = (e: AgentEvent, kind: RouteKind, gateway: string, reason: string, partial: boolean): void => {
    open = {
      host: e.host,
      start: e.at,
      startMs: e.atMs,
      end: null,
      endMs: null,
      durationSeconds: null,
      open: true,
      reason,
      kinds: [kind],
      gateways: [gateway],
      switches: 0,
      endedBy: null,
      partial,
    };
    out.push(open);
  };
  const close = (e: AgentEvent, by: 'failback' | 'adopted'): void => {
    if (!open) return;
    open.end = e.at;
    open.endMs = e.atMs;
    open.durationSeconds = Math.round((e.atMs - open.startMs) / 1000);
    open.open = false;
    open.endedBy = by;
    open = undefined;
  };
  for (const e of events) {
    const r = e.route;
    if (r) {
      if (r.kind === 'local') {
        close(e, 'failback');
      } else if (r.decision === 'failover' && !open) {
        begin(e, r.kind, r.to, r.reason, false);
      } else if (open) {
        open.switches++;
        open.kinds.push(r.kind);
        open.gateways.push(r.to);
      } else if (r.kind !== 'none' && r.kind !== 'unknown') {
        // A switch between remotes with no failover before it: the log starts inside an episode.
        begin(e, r.kind, r.to, r.reason, true);
      }
      continue;
    }
    // A (re)started or adopting agent says where IO is: local ends an episode, a remote one is inside one.
    const s = e.served;
    if (!s) continue;
    if (s.kind === 'local') close(e, 'adopted');
    else if (!open && (s.kind === 'remote-storage' || s.kind === 'remote-management' || s.kind === 'pin'))
      begin(e, s.kind, s.gateway, 'unknown', true);
  }
  return out;
}

/** A host's IO over time, from its events, up to `nowMs`; nothing before its first line that says where IO went. */
export function servedSegments(events: AgentEvent[], nowMs: number): ServedSegment[] {
  const out: ServedSegment[] = [];
  let cur: ServedSegment | undefined;
  for (const e of events) {
    if (!e.served) continue;
    if (cur && cur.kind === e.served.kind && cur.gateway === e.served.gateway) continue;
    if (cur) cur.toMs = e.atMs;
    cur = { host: e.host, fromMs: e.atMs, toMs: nowMs, kind: e.served.kind, gateway: e.served.gateway };
    out.push(cur);
  }
  if (cur) cur.toMs = Math.max(cur.fromMs, nowMs);
  return out;
}

export interface TimelineWindow {
  /** Epoch ms; undefined: everything the logs hold. */
  sinceMs?: number;
  untilMs: number;
  /** Only these hosts; undefined: all. */
  nodes?: string[];
}

const inNodes = (w: TimelineWindow, host: string): boolean => w.nodes === undefined || w.nodes.includes(host);

/** The events, episodes and segments that fall in the window (an episode or segment counts when any of it does). */
export function inWindow(
  w: TimelineWindow,
  t: { events: AgentEvent[]; episodes: Episode[]; segments: ServedSegment[] },
): { events: AgentEvent[]; episodes: Episode[]; segments: ServedSegment[] } {
  const since = w.sinceMs ?? Number.NEGATIVE_INFINITY;
  return {
    events: t.events.filter((e) => inNodes(w, e.host) && e.atMs >= since && e.atMs <= w.untilMs),
    episodes: t.episodes.filter((p) => inNodes(w, p.host) && p.startMs <= w.untilMs && (p.endMs === null || p.endMs >= since)),
    segments: t.segments
      .filter((s) => inNodes(w, s.host) && s.toMs >= since && s.fromMs <= w.untilMs)
      .map((s) => ({ ...s, fromMs: Math.max(s.fromMs, since), toMs: Math.min(s.toMs, w.untilMs) })),
  };
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a duration back from now (`90s`, `30m`, `24h`, `7d`), an ISO 8601 time (UTC unless it
 * names a zone), or `all`. Returns epoch ms, or undefined for `all`.
 */
export function parseSince(value: string, nowMs: number): number | undefined {
  const v = value.trim();
  if (v === 'all') return undefined;
  const d = /^(\d{1,7})([smhd])$/.exec(v);
  if (d) return nowMs - Number(d[1]) * (UNITS[d[2] as string] as number);
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(v) || v.length === 10 ? v : `${v.replace(' ', 'T')}Z`;
    const ms = Date.parse(zoned);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new RerouteError(
    'USAGE',
    `--since ${JSON.stringify(value)} is neither a duration nor a time`,
    'Give a duration back from now (90s, 30m, 24h, 7d), a UTC time like 2026-12-02T14:00:00Z, or all.',
  );
}
