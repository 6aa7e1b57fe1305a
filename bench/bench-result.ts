/**
 * What every benchmark writes: one JSON document per benchmark in bench/results/<name>.json,
 * with the machine's load at start and end (the lab shares 2 cores with other work, so every
 * figure is read next to the load it was taken under), the lab size, the parameters, the raw
 * samples and the summary derived from them. Benchmarks report; they never pass or fail.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const RESULT_FORMAT = 'zbs-reroute/bench-v1';

export interface Stats {
  n: number;
  min: number;
  p50: number;
  p90: number;
  max: number;
  mean: number;
}

export interface MachineInfo {
  cpus: number;
  node: string;
  kernel: string;
  /** os.loadavg() (1, 5, 15 min) when the benchmark started and ended. */
  loadAvgStart: number[];
  loadAvgEnd: number[];
}

export interface BenchResult {
  format: typeof RESULT_FORMAT;
  benchmark: string;
  mode: 'smoke' | 'full';
  date: string;
  finishedAt: string;
  durationMs: number;
  machine: MachineInfo;
  lab: { nodes: number; name: string };
  /** The code measured: HEAD and whether the agent, probe or CLI sources differed from it. */
  source: { commit: string; dirty: boolean };
  parameters: Record<string, unknown>;
  samples: Record<string, unknown>;
  summary: Record<string, unknown>;
  notes: string[];
}

/** What a benchmark body returns; run.ts adds the envelope (dates, load, machine). */
export type BenchBody = Pick<BenchResult, 'lab' | 'parameters' | 'samples' | 'summary' | 'notes'>;

export interface BenchContext {
  smoke: boolean;
  /** Directory for scratch files (removed by the runner afterwards). */
  workDir: string;
  log(msg: string): void;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchBody>;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (i - lo);
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/** Distribution of a sample; empty input gives n = 0 and NaN-free zeros so JSON stays valid. */
export function stats(values: number[]): Stats {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, min: 0, p50: 0, p90: 0, max: 0, mean: 0 };
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return {
    n: v.length,
    min: round3(v[0] as number),
    p50: round3(quantile(v, 0.5)),
    p90: round3(quantile(v, 0.9)),
    max: round3(v[v.length - 1] as number),
    mean: round3(mean),
  };
}

function sourceInfo(): { commit: string; dirty: boolean } {
  const repo = path.resolve(__dirname, '..');
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'esxi', 'src', 'bench'], { cwd: repo, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: true };
  }
}

export function loadAvg(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

export async function runBenchmark(
  b: Benchmark,
  opts: { smoke: boolean; workDir: string; log?: (msg: string) => void },
): Promise<BenchResult> {
  const date = new Date();
  const loadAvgStart = loadAvg();
  const t0 = Date.now();
  const log = opts.log ?? ((msg: string) => process.stderr.write(`[${b.name} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`));
  fs.mkdirSync(opts.workDir, { recursive: true });
  const source = sourceInfo();
  const body = await b.run({ smoke: opts.smoke, workDir: opts.workDir, log });
  return {
    format: RESULT_FORMAT,
    benchmark: b.name,
    mode: opts.smoke ? 'smoke' : 'full',
    date: date.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Date.now() - t0,
    machine: { cpus: os.cpus().length, node: process.version, kernel: os.release(), loadAvgStart, loadAvgEnd: loadAvg() },
    source,
    ...body,
  };
}

export function writeResult(dir: string, r: BenchResult): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${r.benchmark}.json`);
  fs.writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}

export function readResults(dir: string): BenchResult[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as BenchResult)
    .filter((r) => r.format === RESULT_FORMAT);
}

/** Shape check used by the smoke test and by the report before it trusts a file. */
export function resultShapeProblems(r: unknown): string[] {
  const p: string[] = [];
  if (typeof r !== 'object' || r === null) return ['not an object'];
  const o = r as Record<string, unknown>;
  if (o.format !== RESULT_FORMAT) p.push('format');
  for (const k of ['benchmark', 'mode', 'date', 'finishedAt']) if (typeof o[k] !== 'string') p.push(k);
  if (typeof o.durationMs !== 'number') p.push('durationMs');
  const m = o.machine as Record<string, unknown> | undefined;
  if (!m || !Array.isArray(m.loadAvgStart) || m.loadAvgStart.length !== 3 || !Array.isArray(m.loadAvgEnd) || m.loadAvgEnd.length !== 3)
    p.push('machine.loadAvg');
  const lab = o.lab as Record<string, unknown> | undefined;
  if (!lab || typeof lab.nodes !== 'number') p.push('lab.nodes');
  for (const k of ['parameters', 'samples', 'summary']) if (typeof o[k] !== 'object' || o[k] === null) p.push(k);
  if (!Array.isArray(o.notes)) p.push('notes');
  return p;
}
