/**
 * The machinery under lab link faults (lab/lab-netem.ts): which engine this
 * kernel allows (netem, or the stand-in for kernels without it), the
 * classic-BPF programs for tc's cls_bpf (loss by `ld rand`, partitions by
 * source MAC/IP, a pass for frames the delay relay re-sends), and the relay
 * itself (native/lab-link-delay.c), built once.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, run, runOk } from './proc';
import { LAB_STATE_ROOT, repoRoot } from './registry';

export type LinkEngine = 'netem' | 'bpf';

/** skb mark of frames the delay relay sends back out: the delay filter lets them pass. */
export const RELAY_MARK = 0x5a11;
export const TC_TIMEOUT_MS = 10_000;

type Insn = { code: number; jt?: string; jf?: string; k: number; label?: string };

const LD_W_ABS = 0x20;
const LD_H_ABS = 0x28;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;
/** Ancillary loads (linux/filter.h SKF_AD_OFF + SKF_AD_MARK / SKF_AD_RANDOM). */
const AD_MARK = 0xfffff000 + 20;
const AD_RANDOM = 0xfffff000 + 56;
/** cls_bpf: 0 = no match (next filter), -1 = match (run the filter's action). */
const MATCH = 0xffffffff;

/** Resolves symbolic jump labels and prints tc's `bytecode` form ("N,code jt jf k,..."). */
function assemble(prog: Insn[]): string {
  const at = new Map<string, number>();
  prog.forEach((ins, i) => ins.label !== undefined && at.set(ins.label, i));
  const rel = (i: number, l?: string): number => {
    if (l === undefined) return 0;
    const t = at.get(l);
    if (t === undefined || t <= i || t - i - 1 > 255) throw new LabError(`internal: bad BPF jump to ${l}`);
    return t - i - 1;
  };
  return [String(prog.length), ...prog.map((ins, i) => `${ins.code} ${rel(i, ins.jt)} ${rel(i, ins.jf)} ${ins.k >>> 0}`)].join(',');
}

const passMarked: Insn[] = [
  { code: LD_W_ABS, k: AD_MARK },
  { code: JEQ_K, k: RELAY_MARK, jt: 'pass' },
];

/** Matches a fraction `pct` of unmarked frames (rand < pct% of 2^32). */
export function lossProgram(pct: number): string {
  const threshold = Math.round((pct / 100) * 2 ** 32);
  const draw: Insn[] =
    pct >= 100
      ? []
      : [
          { code: LD_W_ABS, k: AD_RANDOM },
          { code: JGE_K, k: threshold, jt: 'pass' },
        ];
  return assemble([...passMarked, ...draw, { code: RET_K, k: MATCH }, { code: RET_K, k: 0, label: 'pass' }]);
}

/** Matches every frame the relay has not sent yet. */
export function delayProgram(): string {
  return assemble([...passMarked, { code: RET_K, k: MATCH }, { code: RET_K, k: 0, label: 'pass' }]);
}

/**
 * Matches frames sent by any of `macs` (bytes 2-5 of a lab MAC, which are
 * unique per lab interface) or from any of `ips` (IPv4 source, ARP sender):
 * put on the switch port towards a host, it cuts that host off from them.
 */
export function partitionProgram(macs: number[], ips: number[]): string {
  const prog: Insn[] = [{ code: LD_W_ABS, k: 8 }];
  for (const m of macs) prog.push({ code: JEQ_K, k: m, jt: 'drop' });
  prog.push(
    { code: LD_H_ABS, k: 12 },
    { code: JEQ_K, k: 0x0800, jt: 'ipv4' },
    { code: JEQ_K, k: 0x0806, jt: 'arp' },
    { code: RET_K, k: 0 },
  );
  prog.push({ code: LD_W_ABS, k: 26, label: 'ipv4' });
  for (const ip of ips) prog.push({ code: JEQ_K, k: ip, jt: 'drop' });
  prog.push({ code: RET_K, k: 0 }, { code: LD_W_ABS, k: 28, label: 'arp' });
  for (const ip of ips) prog.push({ code: JEQ_K, k: ip, jt: 'drop' });
  prog.push({ code: RET_K, k: 0 }, { code: RET_K, k: MATCH, label: 'drop' });
  return assemble(prog);
}

/** Matches everything (the private ESXi-SCVM link of a partitioned pair). */
export const DROP_ALL = assemble([{ code: RET_K, k: MATCH }]);

export function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function macTail(mac: string): number {
  return parseInt(mac.split(':').slice(2).join(''), 16);
}

let relayBuild: Promise<string> | undefined;

/** Builds native/lab-link-delay.c once per content hash under the lab cache (gcc is a lab requirement). */
export function relayBinary(): Promise<string> {
  relayBuild ??= (async () => {
    const src = path.join(repoRoot(), 'lab', 'native', 'lab-link-delay.c');
    const hash = createHash('sha256').update(fs.readFileSync(src)).digest('hex').slice(0, 16);
    const bin = path.join(LAB_STATE_ROOT, '.cache', `lab-link-delay-${hash}`);
    if (fs.existsSync(bin)) return bin;
    fs.mkdirSync(path.dirname(bin), { recursive: true, mode: 0o755 });
    const tmp = `${bin}.${process.pid}.tmp`;
    await runOk('gcc', ['-O2', '-o', tmp, src], { timeoutMs: 120_000 });
    fs.renameSync(tmp, bin);
    return bin;
  })().catch((e: unknown) => {
    relayBuild = undefined;
    throw e;
  });
  return relayBuild;
}

async function tc(ns: string, args: string[]): Promise<{ code: number; err: string }> {
  const r = await run('ip', ['netns', 'exec', ns, 'tc', ...args], { timeoutMs: TC_TIMEOUT_MS });
  if (r.timedOut)
    throw new LabError(`tc ${args.join(' ')} in ${ns} timed out`, 'Check the machine load; tc should answer in milliseconds.');
  return { code: r.code, err: r.stderr.trim() };
}

/**
 * netem if the kernel has it (after a modprobe try), else the bpf stand-in
 * if clsact, cls_bpf and mirred work; `forced` (ZRL_LINK_ENGINE) picks one.
 * Tried on the switch namespace's loopback, which carries no lab traffic.
 */
export async function detectEngine(switchNs: string, forced: string | undefined): Promise<LinkEngine> {
  if (forced !== undefined && forced !== 'netem' && forced !== 'bpf')
    throw new LabError(`ZRL_LINK_ENGINE must be netem or bpf, got ${JSON.stringify(forced)}`, 'Unset it to pick automatically.');
  if ((await run('sh', ['-c', 'command -v tc'])).code !== 0)
    throw new LabError('`tc` is not installed', 'Install iproute2 (lab/REQUIREMENTS.apt).');
  if (forced !== 'bpf') {
    const probe = async () => (await tc(switchNs, ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '0ms'])).code === 0;
    let ok = await probe();
    if (!ok && (await run('sh', ['-c', 'command -v modprobe'])).code === 0) {
      await run('modprobe', ['sch_netem'], { timeoutMs: TC_TIMEOUT_MS });
      ok = await probe();
    }
    if (ok) {
      await tc(switchNs, ['qdisc', 'del', 'dev', 'lo', 'root']);
      return 'netem';
    }
    if (forced === 'netem') {
      throw new LabError(
        'tc netem is not available: the kernel has no sch_netem and `modprobe sch_netem` did not load it',
        'Use a kernel with CONFIG_NET_SCH_NETEM, or unset ZRL_LINK_ENGINE (the lab then uses its bpf stand-in).',
      );
    }
  }
  const q = await tc(switchNs, ['qdisc', 'add', 'dev', 'lo', 'clsact']);
  const f =
    q.code === 0
      ? await tc(switchNs, [
          'filter',
          'add',
          'dev',
          'lo',
          'egress',
          'pref',
          '1',
          'bpf',
          'bytecode',
          lossProgram(0),
          'action',
          'mirred',
          'egress',
          'redirect',
          'dev',
          'lo',
        ])
      : q;
  await tc(switchNs, ['qdisc', 'del', 'dev', 'lo', 'clsact']);
  if (f.code !== 0) {
    throw new LabError(
      `no way to inject link faults: tc netem is unavailable (no sch_netem in this kernel, modprobe did not load it) and so is the bpf stand-in (${f.err})`,
      'Use a kernel with CONFIG_NET_SCH_NETEM, or with CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_BPF and CONFIG_NET_ACT_MIRRED.',
    );
  }
  return 'bpf';
}
