/**
 * Failover and failback (issue 7 item 3): the shipped agent on every host of a 4-node lab
 * (installed by hand as test/agent does, session source REST), three faults at once on
 * different nodes, every round:
 *   node-1  SCVM storage link down   (storage-down scvm-1: esxi-1 must leave its SCVM)
 *   node-2  ESXi storage link down   (storage-down esxi-2: esxi-2 must use a management path)
 *   node-3  access unhealthy in meta (access-unhealthy scvm-3: links up, meta drops it)
 *   node-4  healthy peer
 * then all healed. From the IO probe (a request to 192.168.33.2 every 50 ms per ESXi) and the
 * route monitor: time from fault to the route move, the longest IO gap while failed over, time
 * from heal to the route back on the local SCVM, and its error against the failback delay.
 * Run at INTERVAL 3 s and 1 s (rewriting reroute.conf, which the loop re-reads every iteration).
 */
import * as fs from 'node:fs';
import type { Lab, LabNode } from '../lab/lab';
import type { HostIoSummary } from '../lab/services/io-summary';
import {
  AgentKey,
  authorizeOnScvms,
  esxiPath,
  installAgent,
  installDir,
  renderConf,
  routeVia,
  status,
  type AgentTiming,
} from '../test/agent/agent-lab';
import { sleep, startLab, until, benchLabName } from './bench-lab';
import { stats, type BenchBody, type BenchContext, type Benchmark } from './bench-result';

export const NFS = '192.168.33.2';

export interface Scenario {
  name: 'scvm-storage-down' | 'esxi-storage-down' | 'access-unhealthy';
  fault: string;
  faultTarget: string;
  node: number;
}

export const SCENARIOS: Scenario[] = [
  { name: 'scvm-storage-down', fault: 'storage-down', faultTarget: 'scvm-1', node: 1 },
  { name: 'esxi-storage-down', fault: 'storage-down', faultTarget: 'esxi-2', node: 2 },
  { name: 'access-unhealthy', fault: 'access-unhealthy', faultTarget: 'scvm-3', node: 3 },
];

export interface FailoverSample {
  scenario: string;
  interval: number;
  round: number;
  /** Fault → route 33.2 moved off the local SCVM (route monitor). */
  failoverMs: number | null;
  /** Longest IO-probe gap between fault and heal. */
  gapMs: number;
  /** Kind of path taken while failed over (heartbeat target_kind). */
  failedOverTo: string;
  /** Heal → route back via the local SCVM storage IP. */
  failbackMs: number | null;
  failbackErrorMs: number | null;
  /** Longest IO gap from heal until after the failback. */
  failbackGapMs: number;
}

export interface TimelineHost {
  host: string;
  segments: { from: number; to: number; node: string }[];
  gaps: { from: number; to: number; ms: number }[];
  routes: { t: number; action: string; via: string | null }[];
}

export interface TimelineExample {
  interval: number;
  failbackDelay: number;
  tFault: number;
  tHeal: number;
  tEnd: number;
  hosts: TimelineHost[];
}

function nfsRoutes(s: HostIoSummary) {
  return s.routeChanges.filter((c) => c.dst === NFS || c.dst === `${NFS}/32`);
}

/** Pure: one scenario's figures from its host's IO summary (window starting at the fault). */
export function sampleFrom(
  s: HostIoSummary,
  o: {
    scenario: string;
    interval: number;
    round: number;
    local: string;
    tFault: number;
    tHeal: number;
    failbackDelayS: number;
    failedOverTo: string;
  },
): FailoverSample {
  const routes = nfsRoutes(s);
  const moved = routes.find((r) => r.action === 'add' && r.t >= o.tFault && r.via !== o.local);
  const back = routes.find((r) => r.action === 'add' && r.t >= o.tHeal && r.via === o.local);
  const before = s.gaps.filter((g) => g.from < o.tHeal);
  const after = s.gaps.filter((g) => g.from >= o.tHeal);
  const failbackMs = back ? back.t - o.tHeal : null;
  return {
    scenario: o.scenario,
    interval: o.interval,
    round: o.round,
    failoverMs: moved ? moved.t - o.tFault : null,
    gapMs: Math.max(0, ...before.map((g) => g.ms)),
    failedOverTo: o.failedOverTo,
    failbackMs,
    failbackErrorMs: failbackMs === null ? null : failbackMs - o.failbackDelayS * 1000,
    failbackGapMs: Math.max(0, ...after.map((g) => g.ms)),
  };
}

/** Pure: per scenario and interval, the distributions and the issue's targets. */
export function summarizeFailover(
  samples: FailoverSample[],
  p: { intervals: number[]; failbackDelay: number; pingTimeout: number },
): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const interval of p.intervals) {
    for (const s of SCENARIOS) {
      const x = samples.filter((y) => y.interval === interval && y.scenario === s.name);
      const nums = (f: (y: FailoverSample) => number | null) => x.map(f).filter((v): v is number => v !== null);
      const gapBoundMs = (2 * interval + p.pingTimeout) * 1000;
      const gaps = nums((y) => y.gapMs);
      const errs = nums((y) => y.failbackErrorMs);
      const structuralMs = (Math.ceil(p.failbackDelay / interval) * interval - p.failbackDelay) * 1000;
      const expected = [structuralMs - 1000, structuralMs + (interval + p.pingTimeout + 1) * 1000];
      summary[`${s.name}@${interval}s`] = {
        runs: x.length,
        failedOverTo: [...new Set(x.map((y) => y.failedOverTo))],
        failoverMs: stats(nums((y) => y.failoverMs)),
        gapMs: stats(gaps),
        failbackMs: stats(nums((y) => y.failbackMs)),
        failbackErrorMs: stats(errs),
        failbackGapMs: stats(nums((y) => y.failbackGapMs)),
        target: {
          gapBoundMs,
          gapWithinBound: `${gaps.filter((g) => g <= gapBoundMs).length}/${gaps.length}`,
          failbackWithinOneInterval: `${errs.filter((e) => Math.abs(e) <= interval * 1000).length}/${errs.length}`,
          failbackStructuralOffsetMs: structuralMs,
          failbackExpectedErrorMs: expected,
          failbackWithinExpected: `${errs.filter((e) => e >= (expected[0] as number) && e <= (expected[1] as number)).length}/${errs.length}`,
        },
      };
    }
  }
  return summary;
}

/** Rewrites a host's reroute.conf atomically (the loop re-reads it every iteration). */
export function writeConf(lab: Lab, node: LabNode, t: AgentTiming): void {
  const f = esxiPath(node, `${installDir(node)}/reroute.conf`);
  fs.writeFileSync(`${f}.tmp`, renderConf(lab, node, t, 'rest'), { mode: 0o600 });
  fs.renameSync(`${f}.tmp`, f);
}

async function steady(lab: Lab, timeoutMs: number): Promise<void> {
  await until(
    'every host routed via its own SCVM, heartbeat local',
    timeoutMs,
    () => lab.nodes.every((n) => routeVia(n) === n.scvm.storageIp && status(n).target_kind === 'local'),
    250,
  );
}

export const failover: Benchmark = {
  name: 'failover',
  title: 'Failover and failback',
  async run(ctx: BenchContext): Promise<BenchBody> {
    const rounds = ctx.smoke ? 1 : 10;
    const intervals = [3, 1];
    // A multiple of both intervals: the loop fails back at its first iteration at or after the
    // delay, so a delay like 10 s at a 3 s interval adds a structural +2 s (see the note).
    const failbackDelay = 12;
    const pingTimeout = 1;
    const holdMs = 2_000;
    const labName = benchLabName('zrb-fo', ctx.smoke);
    const lab = await startLab(labName, 4, ctx.log);
    const key = new AgentKey();
    const samples: FailoverSample[] = [];
    let example: TimelineExample | undefined;
    const notes: string[] = [];
    try {
      authorizeOnScvms(lab, key);
      for (const n of lab.nodes) await installAgent(lab, n, key, { interval: intervals[0] as number, failbackDelay, pingTimeout }, 'rest');
      await steady(lab, 60_000);
      for (const interval of intervals) {
        const timing = { interval, failbackDelay, pingTimeout };
        for (const n of lab.nodes) writeConf(lab, n, timing);
        await sleep(interval * 2_000 + 500);
        await steady(lab, 60_000);
        for (let round = 1; round <= rounds; round++) {
          const tFault = Date.now();
          await Promise.all(SCENARIOS.map((s) => lab.fault(s.fault, s.faultTarget)));
          const kinds: Record<string, string> = {};
          try {
            await until(
              'every faulted host to fail over',
              60_000,
              () =>
                SCENARIOS.every((s) => {
                  const n = lab.nodes[s.node - 1] as LabNode;
                  const st = status(n);
                  const via = routeVia(n);
                  if (via !== '' && via !== n.scvm.storageIp && st.target === via) kinds[s.name] = st.target_kind ?? '?';
                  return kinds[s.name] !== undefined;
                }),
              100,
            );
          } catch (e) {
            notes.push(
              `interval ${interval} round ${round}: ${(e as Error).message} (failed over: ${Object.keys(kinds).join(', ') || 'none'})`,
            );
          }
          await sleep(holdMs);
          const tHeal = Date.now();
          await Promise.all(SCENARIOS.map((s) => lab.heal(s.fault, s.faultTarget)));
          try {
            await steady(lab, (failbackDelay + 6 * interval + 20) * 1000);
          } catch (e) {
            notes.push(`interval ${interval} round ${round}: ${(e as Error).message}`);
          }
          await sleep(1_500);
          const tEnd = Date.now();
          const io = lab.io(tFault);
          for (const s of SCENARIOS) {
            const n = lab.nodes[s.node - 1] as LabNode;
            const sum = io[n.esxi.target];
            if (!sum) continue;
            samples.push(
              sampleFrom(sum, {
                scenario: s.name,
                interval,
                round,
                local: n.scvm.storageIp,
                tFault,
                tHeal,
                failbackDelayS: failbackDelay,
                failedOverTo: kinds[s.name] ?? 'none',
              }),
            );
          }
          ctx.log(
            `interval ${interval} round ${round}: ${samples
              .slice(-SCENARIOS.length)
              .map((x) => `${x.scenario} over ${x.failoverMs} gap ${x.gapMs} back ${x.failbackMs}`)
              .join('; ')}`,
          );
          if (interval === 1 && round === 1) {
            const window = lab.io(tFault - 2_000);
            example = {
              interval,
              failbackDelay,
              tFault,
              tHeal,
              tEnd,
              hosts: lab.nodes.map((n) => {
                const w = window[n.esxi.target] as HostIoSummary;
                return {
                  host: n.esxi.target,
                  segments: w.timeline.filter((x) => x.from <= tEnd).map((x) => ({ ...x, to: Math.min(x.to, tEnd) })),
                  gaps: w.gaps.filter((g) => g.from <= tEnd).map((g) => ({ from: g.from, to: Math.min(g.to, tEnd), ms: g.ms })),
                  routes: nfsRoutes(w)
                    .filter((r) => r.t <= tEnd)
                    .map((r) => ({ t: r.t, action: r.action, via: r.via })),
                };
              }),
            };
          }
        }
      }
    } finally {
      key.remove();
      await lab.stop();
    }

    const summary = summarizeFailover(samples, { intervals, failbackDelay, pingTimeout });
    notes.push(
      'Scenarios run at the same time on different nodes of one lab; each ESXi host is judged only by its own IO probe and route.',
      'IO gaps are a lower bound on what a VM would see: each probe is a fresh TCP connection (see lab/services/README.md); a real NFS client also waits for its own retransmit and reconnect.',
      `Failback delay ${failbackDelay} s (production default 180 s); failback error = measured − delay. The loop fails back at its first iteration at or after the delay, so when the delay is not a multiple of the interval there is a structural offset (10 s at 3 s: the 4th iteration, 12 s, +2 s, as a first full run with 10 s showed: bench/results/archive/failover-delay10s.json; none for 12 s or for the production 180 s at 3 s), plus detection (the first iteration after the heal, up to one interval + ping timeout) and the whole-second clock (±1 s). "expected" in the table is that window.`,
      "Seed tooling for comparison: ≈ 30 s to fail over and ≤ 3 min to fail back (from the seed's own description, not measured here).",
    );
    return {
      lab: { nodes: 4, name: labName },
      parameters: {
        rounds,
        intervals,
        failbackDelay,
        pingTimeout,
        holdMs,
        scenarios: SCENARIOS,
        sessionSource: 'rest',
        ioProbePeriodMs: 50,
      },
      samples: { runs: samples, timelineExample: example ?? null },
      summary,
      notes,
    };
  },
};
