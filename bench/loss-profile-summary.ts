/**
 * Pure half of the loss-profile benchmark (bench/loss-profile.ts): what a window and a detection
 * run are, how they become the per-configuration summary, and the docs/benchmarks.md section.
 * Kept apart from the lab code so the arithmetic can be read (and tested) without a lab.
 */
import { quantile, stats, type BenchResult, type Stats } from './bench-result';

export const NFS = '192.168.33.2';

/** Route events of one host, as the lab's route monitor saw them (ms since the epoch). */
export interface RouteEvent {
  t: number;
  action: 'add' | 'del';
  via: string | null;
}

/** Route changes of one host over an observation period of one configuration: the window
 *  (every host, nothing faulted but the loss) or a detection trial's spare host (its own SCVM
 *  fine, the others' storage links down), fault to failback. */
export interface WindowSample {
  loss: number;
  interval: number;
  phase: 'window' | 'trial-spare';
  host: string;
  windowMs: number;
  /** Gateway of 33.2 when the window opened ('' when there was none). */
  startVia: string;
  /** Adds of 33.2 to a gateway other than the one in use: each one a route change. */
  changes: number;
  /** Time the host spent routed through something else than its local SCVM, ms. */
  offLocalMs: number;
}

/** One detection run: one host's local SCVM storage link taken down. */
export interface DetectionSample {
  loss: number;
  interval: number;
  trial: number;
  host: string;
  /** Fault → first route add of 33.2 away from the local SCVM; null when none came in time.
   *  Timed from the moment the fault was requested (conservative by faultApplyMs at most). */
  detectionMs: number | null;
  /** Where detectionMs comes from: the lab's route monitor, or (when the monitor has no line for
   *  the move) the benchmark's own 100 ms poll of the route. */
  source: 'monitor' | 'poll' | null;
  /** The poll's figure, for comparison (null when the poll saw no move). */
  pollMs: number | null;
  /** How long the lab took to apply this host's fault (its `ip link set` returned). */
  faultApplyMs: number;
  /** Why the run counts as failed (null when it did not fail). */
  failure: string | null;
}

export interface Config {
  loss: number;
  interval: number;
}

export const configKey = (c: Config): string => `loss ${c.loss} % @ ${c.interval} s`;

/** Route changes in a window: every add of 33.2 whose gateway differs from the one in use. */
export function countChanges(events: RouteEvent[], startVia: string, from: number, to: number): { changes: number; vias: string[] } {
  let via = startVia;
  let changes = 0;
  const vias: string[] = [];
  for (const e of [...events].sort((a, b) => a.t - b.t)) {
    if (e.t < from || e.t > to || e.action !== 'add' || e.via === null) continue;
    if (e.via !== via) {
      changes += 1;
      via = e.via;
      vias.push(e.via);
    }
  }
  return { changes, vias };
}

/** ms spent off the local gateway inside [from, to], from the route adds seen. */
export function offLocalMs(events: RouteEvent[], local: string, startVia: string, from: number, to: number): number {
  let via = startVia;
  let since = from;
  let off = 0;
  for (const e of [...events].sort((a, b) => a.t - b.t)) {
    if (e.t < from || e.t > to || e.action !== 'add' || e.via === null) continue;
    if (via !== local) off += e.t - since;
    via = e.via;
    since = e.t;
  }
  if (via !== local) off += to - since;
  return off;
}

/** First add of 33.2 away from the local gateway at or after the fault (ms after it), or null. */
export function detectionFrom(events: RouteEvent[], local: string, tFault: number, tLimit: number): number | null {
  const moved = [...events]
    .sort((a, b) => a.t - b.t)
    .find((e) => e.action === 'add' && e.t >= tFault && e.t <= tLimit && e.via !== null && e.via !== local);
  return moved ? moved.t - tFault : null;
}

/** The issue's bound for moving IO after a real failure: 2 intervals + ping timeout + 1 s. */
export const detectionBoundMs = (interval: number, pingTimeout: number): number => (2 * interval + pingTimeout + 1) * 1000;

export interface ConfigSummary {
  loss: number;
  interval: number;
  /** Measured round-trip loss of a ping between two hosts through the faulted links (calibration). */
  probeLossPct: number | null;
  /** 1-minute load average when the configuration started and ended (2 shared cores: detection
   *  times stretch with it). Absent in results taken before it was recorded. */
  loadAvg1?: [number, number];
  /** Every host over the window; `spare*`: the spare hosts of the detection trials; the rate is
   *  over both (every route change there is a false one: nothing failed on those hosts). */
  window: {
    hosts: number;
    windowS: number;
    changes: number;
    perHost: number[];
    offLocalS: number;
    spareS: number;
    spareChanges: number;
    hostHours: number;
    changesPerHostHour: number;
  };
  detection: {
    runs: number;
    failedRuns: number;
    failures: string[];
    ms: Stats & { p95: number };
    boundMs: number;
    /** Runs that moved IO within the bound, out of all runs (failed runs count as not within). */
    withinBound: string;
    met: boolean;
  };
  /** The issue's "0 false failovers at <= 5 % loss" (null above 5 %). */
  noFalseFailovers: boolean | null;
}

export function summarizeConfig(
  c: Config,
  windows: WindowSample[],
  runs: DetectionSample[],
  p: { pingTimeout: number; probeLossPct: number | null; loadAvg1?: [number, number] },
): ConfigSummary {
  const all = windows.filter((x) => x.loss === c.loss && x.interval === c.interval);
  const w = all.filter((x) => x.phase === 'window');
  const spare = all.filter((x) => x.phase === 'trial-spare');
  const d = runs.filter((x) => x.loss === c.loss && x.interval === c.interval);
  const windowS = w.length ? Math.max(...w.map((x) => x.windowMs)) / 1000 : 0;
  const hostHours = all.reduce((s, x) => s + x.windowMs, 0) / 3_600_000;
  const changes = all.reduce((s, x) => s + x.changes, 0);
  const boundMs = detectionBoundMs(c.interval, p.pingTimeout);
  const ok = d.filter((x) => x.failure === null && x.detectionMs !== null);
  const values = ok.map((x) => x.detectionMs as number);
  const sorted = [...values].sort((a, b) => a - b);
  const within = ok.filter((x) => (x.detectionMs as number) <= boundMs).length;
  return {
    loss: c.loss,
    interval: c.interval,
    probeLossPct: p.probeLossPct,
    ...(p.loadAvg1 ? { loadAvg1: p.loadAvg1 } : {}),
    window: {
      hosts: w.length,
      windowS,
      changes: w.reduce((s, x) => s + x.changes, 0),
      perHost: w.map((x) => x.changes),
      offLocalS: Math.round(all.reduce((s, x) => s + x.offLocalMs, 0) / 100) / 10,
      spareS: Math.round(spare.reduce((s, x) => s + x.windowMs, 0) / 1000),
      spareChanges: spare.reduce((s, x) => s + x.changes, 0),
      hostHours: Math.round(hostHours * 10_000) / 10_000,
      changesPerHostHour: hostHours > 0 ? Math.round((changes / hostHours) * 10) / 10 : 0,
    },
    detection: {
      runs: d.length,
      failedRuns: d.length - ok.length,
      failures: d.filter((x) => x.failure !== null).map((x) => `trial ${x.trial} ${x.host}: ${x.failure}`),
      ms: { ...stats(values), p95: sorted.length ? Math.round(quantile(sorted, 0.95)) : 0 },
      boundMs,
      withinBound: `${within}/${d.length}`,
      met: d.length > 0 && within === d.length,
    },
    noFalseFailovers: c.loss <= 5 ? all.length > 0 && changes === 0 : null,
  };
}

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const s1 = (ms: number | null | undefined): string =>
  ms === null || ms === undefined || !Number.isFinite(ms) ? '–' : `${(ms / 1000).toFixed(1)} s`;

function table(r: BenchResult): string {
  const rows = Object.values(r.summary.configs as Record<string, ConfigSummary>).map((c) => {
    const d = c.detection;
    const w = c.window;
    const det = d.ms.n === 0 ? '–' : `${s1(d.ms.p50)} / ${s1(d.ms.p95)} / ${s1(d.ms.max)}`;
    const ff = c.noFalseFailovers === null ? '' : c.noFalseFailovers ? ' **met**' : ' **not met**';
    const load = c.loadAvg1 ? `${c.loadAvg1[0]} → ${c.loadAvg1[1]}` : '–';
    return `| ${c.loss} % | ${c.probeLossPct === null ? '–' : `${c.probeLossPct} %`} | ${c.interval} s | ${load} | ${w.changes} in ${w.hosts} × ${w.windowS.toFixed(0)} s + ${w.spareChanges} in ${w.spareS} s | ${w.changesPerHostHour}${ff} | ${d.runs} | ${d.failedRuns} | ${det} | ${d.withinBound} ≤ ${s1(d.boundMs)}${d.met ? ' **met**' : ' **not met**'} |`;
  });
  return `| loss per link | measured ping loss, host → its SCVM | interval | load avg (1 min) | route changes seen: window (hosts × s) + trial spares (host-s) | changes per host-hour (both; target at ≤ 5 %: 0) | detection runs | failed runs | detection median / p95 / max | within 2 × interval + ping timeout + 1 s |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}`;
}

/** Why runs failed, per configuration, counted by reason (the table only has the number). */
function failures(r: BenchResult): string {
  const lines = Object.values(r.summary.configs as Record<string, ConfigSummary>).flatMap((c) => {
    const byReason = new Map<string, number>();
    for (const f of c.detection.failures) {
      const reason = f.replace(/^trial \d+ \S+: /, '');
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    }
    return byReason.size ? [`${configKey(c)}: ${[...byReason].map(([why, n]) => `${n} × ${why}`).join(', ')}`] : [];
  });
  return lines.length ? `\nFailed runs: ${lines.join('; ')}.\n` : '';
}

/** docs/benchmarks.md section; `before` is an archived run of the previous agent, if any. */
export function lossProfileMd(r: BenchResult, header: (r: BenchResult) => string, before?: BenchResult): string {
  const p = r.parameters as Any;
  const agentNote = (x: BenchResult): string => x.notes.find((n) => n.startsWith('Agent measured:')) ?? 'Agent measured: unknown.';
  const beforeMd = before
    ? `\n**Before**: the agent as it was before issue 12 (${before.mode} run ${before.date.slice(0, 16).replace('T', ' ')} UTC, load average ${before.machine.loadAvgStart.join(' / ')} at start; \`bench/results/archive/loss-profile-before.json\`). ${agentNote(before)}\n\n${table(before)}\n${failures(before)}`
    : '';
  return `## 5. Loss profile: route changes and detection under packet loss

${header(r)}

Agent (installed by hand, session source REST) on all ${r.lab.nodes} hosts; failback delay shortened to ${p.failbackDelay} s
(production 180 s) because detection is what is measured, not failback; ping timeout ${p.pingTimeout} s. Per configuration:
loss set on every link of every host (management and storage, both directions), then route changes of 33.2 counted on
every host over a window (${(p.intervals as number[]).map((i) => `at interval ${i} s: ${p.windowS.lowLoss[i]} s up to 5 % loss, ${p.windowS.highLoss[i]} s above`).join('; ')}) and on each trial's spare host from fault
to failback, extrapolated to one host-hour (a count over minutes, not an hour: read small numbers as "seen n times"), then ${p.trials} detection
trial(s) of ${r.lab.nodes - 1} runs each, taking the SCVM storage link of all hosts but one down at once (the loss stays on), timing fault → route
moved away from the local SCVM (lab route monitor), heal, wait for failback. A run that did not move within
${p.detectTimeoutIntervals} intervals (at least ${p.detectTimeoutMinS} s), or whose host was not on its local SCVM when
the fault came, is a failed run and never counts as within the bound. Seed tooling: ≈ 30 s to move IO (from its
own description, not measured here).

${table(r)}
${failures(r)}${beforeMd}
Targets (issue 12): detection ≤ 2 intervals + ping timeout + 1 s (8 s at 3 s, 4 s at 1 s) and 0 route changes at ≤ 5 % loss.
${r.notes.length ? `\n${r.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}
