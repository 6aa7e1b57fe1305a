/**
 * What a running lab costs the machine at idle: every process inside the lab's namespaces
 * (hosts, their services, probes), its resident memory (RSS and PSS: RSS counts shared library
 * pages once per process, PSS splits them) and CPU over a window. The figures in lab/README.md
 * come from here: `tsx lab/services/footprint.ts NAME [SECONDS]` (JSON on stdout).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { CLK_TCK, readProcStat } from '../../src/core/proc-stat';

interface Sample {
  comm: string;
  rssKb: number;
  pssKb: number;
  ticks: number;
}

function labPids(name: string): number[] {
  const nss = fs.readdirSync('/run/netns').filter((n) => n.startsWith(`zrl-${name}-`));
  const pids = new Set<number>();
  for (const ns of nss) {
    const out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 });
    for (const l of out.split('\n')) if (/^\d+$/.test(l.trim())) pids.add(Number(l.trim()));
  }
  return [...pids];
}

function sample(pid: number): Sample | undefined {
  try {
    const st = readProcStat(pid);
    if (!st) return undefined;
    const ticks = st.utime + st.stime;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    let pssKb = 0;
    try {
      pssKb = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // kernel threads or a process gone mid-read
    }
    return { comm: st.comm, rssKb, pssKb, ticks };
  } catch {
    return undefined;
  }
}

export interface Footprint {
  processes: number;
  rssMb: number;
  pssMb: number;
  cpuPercentOfOneCore: number;
  windowS: number;
  byCommand: Record<string, { count: number; rssMb: number; pssMb: number; cpuPercent: number }>;
}

export async function measureFootprint(name: string, windowS: number): Promise<Footprint> {
  const pids = labPids(name);
  const before = new Map<number, Sample>();
  for (const p of pids) {
    const s = sample(p);
    if (s) before.set(p, s);
  }
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, windowS * 1000));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const by: Footprint['byCommand'] = {};
  let rss = 0;
  let pss = 0;
  let ticks = 0;
  for (const [pid, b] of before) {
    const a = sample(pid);
    if (a === undefined) continue;
    const d = a.ticks - b.ticks;
    rss += a.rssKb;
    pss += a.pssKb;
    ticks += d;
    const e = (by[a.comm] ??= { count: 0, rssMb: 0, pssMb: 0, cpuPercent: 0 });
    e.count += 1;
    e.rssMb += a.rssKb / 1024;
    e.pssMb += a.pssKb / 1024;
    e.cpuPercent += (100 * d) / CLK_TCK / seconds;
  }
  for (const e of Object.values(by)) {
    e.rssMb = Math.round(e.rssMb);
    e.pssMb = Math.round(e.pssMb);
    e.cpuPercent = Math.round(e.cpuPercent * 10) / 10;
  }
  return {
    processes: before.size,
    rssMb: Math.round(rss / 1024),
    pssMb: Math.round(pss / 1024),
    cpuPercentOfOneCore: Math.round(((100 * ticks) / CLK_TCK / seconds) * 10) / 10,
    windowS: Math.round(seconds * 10) / 10,
    byCommand: by,
  };
}

if (require.main === module) {
  const name = process.argv[2];
  const windowS = Number(process.argv[3] ?? '30');
  if (name === undefined || !Number.isFinite(windowS) || windowS <= 0) {
    process.stderr.write('usage: footprint.ts LAB_NAME [SECONDS]\n');
    process.exit(2);
  }
  void measureFootprint(name, windowS).then((f) => process.stdout.write(`${JSON.stringify(f, null, 2)}\n`));
}
