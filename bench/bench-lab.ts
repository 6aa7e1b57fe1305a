/**
 * Lab plumbing shared by the benchmarks: a lab of their own (a leftover of a killed run with
 * the same name is removed first), the static rusage helper copied into a host, and process
 * accounting read from /proc in the root pid namespace (lab hosts' pid namespaces are children
 * of it, so every host process is visible there with its global pid).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Lab, type LabNode } from '../lab/lab';
import { readRegistry } from '../lab/registry';

export { CLK_TCK, procTimes, type ProcTimes } from '../lab/host-cpu';

const REPO = path.resolve(__dirname, '..');

/** Builds the release (scripts/package-linux-x64.sh) into WORKDIR/pkg; returns its bin/reroute. */
export function packageRelease(workDir: string): string {
  const out = path.join(workDir, 'pkg');
  const tarball =
    execFileSync('sh', [path.join(REPO, 'scripts', 'package-linux-x64.sh'), '--out', out], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    })
      .trim()
      .split('\n')
      .pop() ?? '';
  const cli = path.join(tarball.replace(/\.tar\.gz$/, ''), 'bin', 'reroute');
  if (!fs.existsSync(cli)) throw new Error(`packaging gave no ${cli}`);
  return cli;
}

/**
 * The CLI as operators get it: the release folder (one esbuild bundle run by node, no tsx).
 * Falls back to the dev `reroute` (tsx) when packaging fails, and says so in `how`.
 */
export function packagedCli(workDir: string, log: (m: string) => void): { cli: string; how: string } {
  try {
    const cli = packageRelease(workDir);
    return { cli, how: `release bundle (scripts/package-linux-x64.sh): ${path.basename(path.dirname(path.dirname(cli)))}` };
  } catch (err) {
    log(`packaging failed (${(err as Error).message.split('\n')[0]}); using the dev CLI`);
  }
  return { cli: 'reroute', how: 'dev CLI (bin/reroute.js through tsx)' };
}

/** Where the benchmark puts its helpers inside an ESXi host (ramdisk, as ESXi's /tmp). */
export const HOST_BENCH_DIR = '/tmp/zrb';

/** A benchmark's lab name: the fixed one for a real run, one per process for a smoke run (bench-smoke runs beside other suites). */
export function benchLabName(base: string, smoke: boolean): string {
  return smoke ? `${base}-s${process.pid % 10000}` : base;
}

export async function startLab(name: string, nodes: number, log: (m: string) => void): Promise<Lab> {
  if (Lab.list().includes(name)) {
    log(`removing leftover lab ${name}`);
    await Lab.down(name);
  }
  const t0 = Date.now();
  const lab = await Lab.start({ nodes, name });
  log(`lab ${name}: ${nodes} node(s) up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return lab;
}

let rusageBinary: string | undefined;

/** Builds bench/native/rusage.c once per process (static: it runs inside busybox chroots). */
export function buildRusage(workDir: string): string {
  if (rusageBinary && fs.existsSync(rusageBinary)) return rusageBinary;
  const out = path.join(workDir, 'zrb-rusage');
  execFileSync('gcc', ['-static', '-O2', '-o', out, path.join(__dirname, 'native', 'rusage.c')], { stdio: 'pipe' });
  rusageBinary = out;
  return out;
}

/** Copies the rusage helper into the ESXi host's ramdisk /tmp; returns its in-host path. */
export function installRusage(node: LabNode, workDir: string): string {
  const dir = path.join(node.esxi.root, HOST_BENCH_DIR);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.copyFileSync(buildRusage(workDir), path.join(dir, 'zrb-rusage'));
  fs.chmodSync(path.join(dir, 'zrb-rusage'), 0o755);
  return `${HOST_BENCH_DIR}/zrb-rusage`;
}

export function hostFile(node: LabNode, inHostPath: string): string {
  return path.join(node.esxi.root, inHostPath);
}

/** A /proc/<pid>/status field in kB (VmRSS, VmHWM, …); undefined when missing. */
export function procStatusKb(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** pid and every descendant. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  for (let guard = 0; todo.length > 0 && guard < 10_000; guard++) {
    const p = todo.pop() as number;
    out.push(p);
    todo.push(...childPids(p));
  }
  return out;
}

/** Global pid of a lab-tracked process (e.g. `scvm-1:meta-sim`, `scvm-1:sshd`). */
export function trackedPid(lab: Lab, key: string): number | undefined {
  return readRegistry(lab.name).pids[key];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(
  what: string,
  timeoutMs: number,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  stepMs = 100,
): Promise<T> {
  const t0 = Date.now();
  for (let i = 0; i < 1_000_000; i++) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) break;
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const ms2 = (v: number): number => Math.round(v * 100) / 100;
