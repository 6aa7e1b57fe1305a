/**
 * Agent cost at rest (issue 7 item 4): the shipped agent with production timings (INTERVAL 3 s,
 * FAILBACK_DELAY 180 s, PING_TIMEOUT 1 s) on an idle, healthy lab, one host per session source
 * (esxi-1 REST, esxi-2 ssh), measured side by side over the same period:
 * - CPU: the loop shell's utime+stime plus cutime+cstime (every child it forks and reaps: ping,
 *   wget/ssh, awk, date, watchdog subshells) from /proc/<pid>/stat, start vs end of the period;
 * - the per-minute cron starter (a copy that finds the healthy loop's lock and exits), timed
 *   separately with wait4() rusage, because crond, not the loop, reaps it;
 * - memory: the loop shell's VmRSS/VmHWM, and the RSS of the loop's whole process tree sampled
 *   every 200 ms (its peak is the transient client: wget or ssh);
 * - log growth (a healthy agent logs nothing per iteration).
 * Per hour = measured × 3600 / period (full run: 10 min; smoke: 30 s).
 */
import * as fs from 'node:fs';
import type { Lab, LabNode } from '../lab/lab';
import {
  AgentKey,
  authorizeOnScvms,
  esxiPath,
  installAgent,
  installDir,
  LOG_FILE,
  loopPids,
  routeVia,
  status,
} from '../test/agent/agent-lab';
import {
  hostFile,
  HOST_BENCH_DIR,
  installRusage,
  ms2,
  procStatusKb,
  procTimes,
  processTree,
  sleep,
  startLab,
  until,
  benchLabName,
} from './bench-lab';
import { stats, type BenchBody, type BenchContext, type Benchmark } from './bench-result';
import { parseCallSamples } from './session-source';

type Source = 'rest' | 'ssh';

interface Probe {
  source: Source;
  node: LabNode;
  pid: number;
  cpu0: number;
  rssKb: number[];
  treeRssKb: number[];
  treeSize: number[];
  log0: number;
}

function logSize(node: LabNode): number {
  const f = esxiPath(node, LOG_FILE);
  return fs.existsSync(f) ? fs.statSync(f).size : 0;
}

function treeRss(pid: number): { kb: number; n: number } {
  let kb = 0;
  const tree = processTree(pid);
  for (const p of tree) kb += procStatusKb(p, 'VmRSS') ?? 0;
  return { kb, n: tree.length };
}

function cpuOf(pid: number): number {
  const t = procTimes(pid);
  return t ? t.self + t.children : NaN;
}

export const agentAtRest: Benchmark = {
  name: 'agent-at-rest',
  title: 'Agent cost at rest',
  async run(ctx: BenchContext): Promise<BenchBody> {
    const periodS = ctx.smoke ? 30 : 600;
    const starterRuns = ctx.smoke ? 2 : 5;
    const timing = { interval: 3, failbackDelay: 180, pingTimeout: 1 };
    const labName = benchLabName('zrb-ar', ctx.smoke);
    const lab: Lab = await startLab(labName, 2, ctx.log);
    const key = new AgentKey();
    const notes: string[] = [];
    const perSource: Record<string, unknown> = {};
    const samples: Record<string, unknown> = {};
    try {
      authorizeOnScvms(lab, key);
      const plan: [Source, LabNode][] = [
        ['rest', lab.nodes[0] as LabNode],
        ['ssh', lab.nodes[1] as LabNode],
      ];
      for (const [src, node] of plan) await installAgent(lab, node, key, timing, src);
      await until(
        'both agents routing locally with a fetched list',
        60_000,
        () => plan.every(([, n]) => routeVia(n) === n.scvm.storageIp && status(n).target_kind === 'local' && status(n).fetch === 'ok'),
        250,
      );
      // Let the first minute's cron starter and the start-up work pass before measuring.
      await sleep(5_000);
      const probes: Probe[] = plan.map(([source, node]) => {
        const pids = loopPids(node);
        if (pids.length !== 1) throw new Error(`${node.esxi.target}: expected one agent loop, found ${pids.length}`);
        const pid = pids[0] as number;
        return { source, node, pid, cpu0: cpuOf(pid), rssKb: [], treeRssKb: [], treeSize: [], log0: logSize(node) };
      });
      ctx.log(`measuring ${periodS} s (loops ${probes.map((p) => `${p.source}:${p.pid}`).join(', ')})`);
      const t0 = Date.now();
      for (let i = 0; Date.now() - t0 < periodS * 1000 && i < periodS * 10; i++) {
        for (const p of probes) {
          p.rssKb.push(procStatusKb(p.pid, 'VmRSS') ?? NaN);
          const t = treeRss(p.pid);
          p.treeRssKb.push(t.kb);
          p.treeSize.push(t.n);
        }
        await sleep(200);
      }
      const elapsedS = (Date.now() - t0) / 1000;

      for (const p of probes) {
        const cpuS = cpuOf(p.pid) - p.cpu0;
        const alive = loopPids(p.node);
        if (alive.length !== 1 || alive[0] !== p.pid)
          notes.push(
            `${p.source}: the loop changed during the period (${alive.join(',') || 'none'} instead of ${p.pid}); its CPU figure is incomplete`,
          );
        const st = status(p.node);
        // The cron starter: a second copy that finds the healthy loop's lock and exits.
        const ru = installRusage(p.node, ctx.workDir);
        const out = hostFile(p.node, `${HOST_BENCH_DIR}/ru.starter`);
        fs.rmSync(out, { force: true });
        for (let i = 0; i < starterRuns; i++)
          await lab.execOk(p.node.esxi.target, `${ru} ${HOST_BENCH_DIR}/ru.starter /bin/sh ${installDir(p.node)}/reroute-loop.sh`, {
            timeoutMs: 60_000,
          });
        const starter = parseCallSamples(fs.readFileSync(out, 'utf8'), '');
        const starterCpuMs = stats(starter.map((s) => s.cpuMs));
        const iterations = elapsedS / timing.interval;
        const perHourLoopS = (cpuS * 3600) / elapsedS;
        const perHourStarterS = (starterCpuMs.mean * 60) / 1000;
        const tree = stats(p.treeRssKb);
        perSource[p.source] = {
          host: p.node.esxi.target,
          periodS: Math.round(elapsedS),
          loopCpuS: ms2(cpuS),
          loopCpuPercentOfOneCore: ms2((cpuS / elapsedS) * 100),
          cpuMsPerIteration: ms2((cpuS * 1000) / iterations),
          cpuSecondsPerHour: { loop: ms2(perHourLoopS), cronStarters: ms2(perHourStarterS), total: ms2(perHourLoopS + perHourStarterS) },
          cronStarterCpuMs: starterCpuMs,
          cronStarterWallMs: stats(starter.map((s) => s.wallMs)),
          loopRssKb: stats(p.rssKb),
          loopHwmKb: procStatusKb(p.pid, 'VmHWM') ?? null,
          treeRssKb: tree,
          treeProcesses: stats(p.treeSize),
          logBytesPerHour: Math.round(((logSize(p.node) - p.log0) * 3600) / elapsedS),
          lastFetchMs: Number(st.fetch_ms ?? NaN),
        };
        // Every 5 s of the 200 ms series is enough to draw it again; the stats use all of it.
        samples[p.source] = {
          pid: p.pid,
          cpuS,
          elapsedS,
          rssKbEvery5s: p.rssKb.filter((_, i) => i % 25 === 0),
          treeRssKbEvery5s: p.treeRssKb.filter((_, i) => i % 25 === 0),
          starter,
        };
      }
    } finally {
      key.remove();
      await lab.stop();
    }
    notes.push(
      'CPU is what the lab host spent: busybox ash and its applets, the lab ESXi shims (esxcfg-route is a shell script here, a native tool on ESXi) and OpenSSH from the host system; treat it as an estimate of ESXi cost, not a measurement of it.',
      'The cron starter runs the lab `ps -c` shim (a shell script); on ESXi `ps` is native, so the real starter is cheaper.',
      'Both hosts are measured over the same period on the same shared 2-core machine (see load average).',
    );
    const r = perSource as Record<Source, { cpuSecondsPerHour: { total: number } }>;
    return {
      lab: { nodes: 2, name: labName },
      parameters: { periodS, timing, sources: { rest: 'esxi-1', ssh: 'esxi-2' }, samplePeriodMs: 200, starterRuns },
      samples,
      summary: {
        ...perSource,
        ratioSshOverRestCpu:
          r.rest && r.ssh && r.rest.cpuSecondsPerHour.total > 0
            ? Math.round((r.ssh.cpuSecondsPerHour.total / r.rest.cpuSecondsPerHour.total) * 10) / 10
            : null,
      },
      notes,
    };
  },
};
