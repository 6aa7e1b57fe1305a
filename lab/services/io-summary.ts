/**
 * Turns one host-monitor log into what `lab io` reports and what tests assert on:
 * who served the host's IO over time, every interruption, and the route changes seen.
 * Everything but summarizeHostLog() is pure.
 */
import * as fs from 'node:fs';

export interface TimelineSegment {
  from: number;
  to: number;
  node: string;
}

export interface IoGap {
  /** Last success before the gap, or the first failed probe when none came before. */
  from: number;
  /** Next success, or the last failed probe when the gap is still open. */
  to: number;
  /** Time IO was actually missing: to - from - periodMs for closed gaps, to - from otherwise; >= 0. */
  ms: number;
  failedProbes: number;
  ongoing: boolean;
}

export interface ParsedRoute {
  action: 'add' | 'del';
  /** unicast, local, broadcast, unreachable, blackhole, … (`ip route` route types). */
  type: string;
  dst: string;
  via: string | null;
  dev: string | null;
  table: string | null;
}

export interface RouteChange extends ParsedRoute {
  t: number;
  line: string;
}

export interface HostIoSummary {
  host: string | null;
  periodMs: number;
  window: { from: number; to: number } | null;
  probes: number;
  ok: number;
  failed: number;
  servedBy: string | null;
  timeline: TimelineSegment[];
  switches: number;
  gaps: IoGap[];
  longestGapMs: number;
  longestGap: IoGap | null;
  routeChanges: RouteChange[];
  badLines: number;
}

const DEFAULT_PERIOD_MS = 50;
const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'unreachable',
  'blackhole',
  'prohibit',
  'throw',
  'nat',
]);

/** One line of `ip monitor route` (optionally with `-ts`/`[ROUTE]` prefixes). */
export function parseRouteLine(line: string): ParsedRoute {
  // `ip -ts monitor` prefixes `[timestamp]`, `ip monitor all` prefixes `[ROUTE]` (no space after it).
  const tokens = line
    .replace(/^\s*(\[[^\]]*\]\s*)+/, '')
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '');
  let action: 'add' | 'del' = 'add';
  if (tokens[0] === 'Deleted') {
    action = 'del';
    tokens.shift();
  }
  let type = 'unicast';
  if (tokens[0] !== undefined && ROUTE_TYPES.has(tokens[0])) type = tokens.shift()!;
  const dst = tokens.shift() ?? '';
  const after = (key: string): string | null => {
    const i = tokens.indexOf(key);
    if (i < 0) return null;
    let v = tokens[i + 1] ?? null;
    // Cross-family gateways print as `via inet 1.2.3.4`.
    if ((v === 'inet' || v === 'inet6') && tokens[i + 2] !== undefined) v = tokens[i + 2]!;
    return v;
  };
  return { action, type, dst, via: after('via'), dev: after('dev'), table: after('table') };
}

interface IoRec {
  t: number;
  seq: number;
  ok: boolean;
  node: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function summarizeHostLogText(text: string, sinceMs?: number): HostIoSummary {
  let host: string | null = null;
  let periodMs = DEFAULT_PERIOD_MS;
  let badLines = 0;
  const ios: IoRec[] = [];
  const routeChanges: RouteChange[] = [];
  let winFrom = Infinity;
  let winTo = -Infinity;

  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch {
      badLines += 1;
      continue;
    }
    if (!isObject(rec) || typeof rec.t !== 'number' || typeof rec.type !== 'string') {
      badLines += 1;
      continue;
    }
    const t = rec.t;
    // Identity comes from the start record even when it lies before the window.
    if (rec.type === 'start') {
      if (typeof rec.host === 'string') host = rec.host;
      if (typeof rec.periodMs === 'number' && rec.periodMs > 0) periodMs = rec.periodMs;
    }
    if (sinceMs !== undefined && t < sinceMs) continue;
    winFrom = Math.min(winFrom, t);
    winTo = Math.max(winTo, t);
    if (rec.type === 'io') {
      const ok = rec.ok === true && typeof rec.node === 'string';
      ios.push({ t, seq: typeof rec.seq === 'number' ? rec.seq : 0, ok, node: ok ? (rec.node as string) : '' });
    } else if (rec.type === 'route' && typeof rec.line === 'string') {
      const line = rec.line;
      const prev = routeChanges[routeChanges.length - 1];
      // Multipath routes continue on indented `nexthop via …` lines; fold them into their route.
      if (/^\s/.test(line) || line.trim().startsWith('nexthop')) {
        if (prev !== undefined) {
          prev.line += `\n${line}`;
          if (prev.via === null) prev.via = parseRouteLine(line.trim().replace(/^nexthop\s+/, 'x ')).via;
        }
        continue;
      }
      routeChanges.push({ t, line, ...parseRouteLine(line) });
    }
  }

  ios.sort((a, b) => a.t - b.t || a.seq - b.seq);

  const timeline: TimelineSegment[] = [];
  const gaps: IoGap[] = [];
  let lastOk: number | null = null;
  let failedRun = 0;
  let firstFail: number | null = null;
  let lastFail: number | null = null;
  let ok = 0;
  for (const r of ios) {
    if (!r.ok) {
      failedRun += 1;
      firstFail ??= r.t;
      lastFail = r.t;
      continue;
    }
    ok += 1;
    if (lastOk === null) {
      if (failedRun > 0 && firstFail !== null)
        gaps.push({ from: firstFail, to: r.t, ms: r.t - firstFail, failedProbes: failedRun, ongoing: false });
    } else {
      const interval = r.t - lastOk;
      if (failedRun > 0 || interval > 2 * periodMs) {
        gaps.push({ from: lastOk, to: r.t, ms: Math.max(0, interval - periodMs), failedProbes: failedRun, ongoing: false });
      }
    }
    lastOk = r.t;
    failedRun = 0;
    firstFail = null;
    const seg = timeline[timeline.length - 1];
    if (seg !== undefined && seg.node === r.node) seg.to = r.t;
    else timeline.push({ from: r.t, to: r.t, node: r.node });
  }
  if (failedRun > 0 && lastFail !== null) {
    const from = lastOk ?? firstFail ?? lastFail;
    gaps.push({ from, to: lastFail, ms: Math.max(0, lastFail - from), failedProbes: failedRun, ongoing: true });
  }

  let longestGap: IoGap | null = null;
  for (const g of gaps) if (longestGap === null || g.ms > longestGap.ms) longestGap = g;

  return {
    host,
    periodMs,
    window: winFrom <= winTo ? { from: winFrom, to: winTo } : null,
    probes: ios.length,
    ok,
    failed: ios.length - ok,
    servedBy: timeline.length > 0 ? timeline[timeline.length - 1]!.node : null,
    timeline,
    switches: Math.max(0, timeline.length - 1),
    gaps,
    longestGapMs: longestGap?.ms ?? 0,
    longestGap,
    routeChanges,
    badLines,
  };
}

/** The lab core's entry point: a missing log (monitor not started yet) is an error, not an empty summary. */
export function summarizeHostLog(path: string, sinceMs?: number): HostIoSummary {
  return summarizeHostLogText(fs.readFileSync(path, 'utf8'), sinceMs);
}
