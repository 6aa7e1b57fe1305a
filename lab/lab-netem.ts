/**
 * Link faults (issue 12): packet loss, delay and jitter on a host's link, a
 * flapping link, and a partition between two hosts. Everything happens with
 * `tc` inside lab namespaces (the switch namespace and the host's own network
 * namespace); nothing touches the root namespace, and all of it goes with
 * `lab down` (the namespaces and every process in them).
 *
 * Two engines, chosen once per lab and kept in its registry:
 * - `netem`: a root netem qdisc on each end of the link (the usual tool).
 * - `bpf`, for kernels built without sch_netem (this project's CI VM has
 *   none, and no module to load): a clsact egress filter with a classic-BPF
 *   program (`ld rand` for loss) whose mirred action steals the frame into an
 *   unaddressed veth (a silent drop, as netem's: the sender is not told), and
 *   for delay a redirect to a small relay (native/lab-link-delay.c) that holds
 *   each frame and sends it again, marked so the filter lets it pass.
 * Partitions use the bpf filters with both engines (netem cannot match hosts).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabNode } from './lab';
import {
  delayProgram,
  detectEngine,
  DROP_ALL,
  ipNumber,
  lossProgram,
  macTail,
  partitionProgram,
  relayBinary,
  RELAY_MARK,
  TC_TIMEOUT_MS,
  type LinkEngine,
} from './link-bpf';
import { alive, LabError, parallel, run, runOk, waitFor } from './proc';
import { readRegistry, updateRegistry, type LinkFaultState, type Registry } from './registry';

export const LINK_NETS = ['storage', 'mgmt'] as const;
export type LinkNet = (typeof LINK_NETS)[number];
export type { LinkEngine } from './link-bpf';

export interface LinkFaultSpec {
  /** Percent of frames lost, each direction (0-100). */
  loss?: number;
  /** Added one-way delay in ms, each direction (0-60000). */
  delayMs?: number;
  /** Uniform +/- jitter around delayMs (0..delayMs). */
  jitterMs?: number;
}

export interface LinkFaultView extends LinkFaultState {
  /** Flap only: whether its flapper still runs (it stops by itself after FLAP_MAX_S). */
  flapping?: boolean;
}

/** Longest a flapper runs before it stops by itself (link left up). */
export const FLAP_MAX_S = 3600;
const MAX_DELAY_MS = 60_000;
const SINK = 'lf-sink';
/** Partition filter first, then loss, then delay (a dropped frame is never delayed). */
const PREF = { partition: 10, loss: 20, delay: 30 } as const;

// ------------------------------------------------------------ names and validation

interface HostRef {
  target: string;
  kind: 'esxi' | 'scvm';
  node: LabNode;
}

/** One end of a link: a device in a namespace. */
interface End {
  ns: string;
  dev: string;
  /** Registry pid key of this end's delay relay. */
  relayKey: string;
}

interface Link {
  name: string;
  host: HostRef;
  net: LinkNet;
  hostEnd: End;
  switchEnd: End;
}

function fail(message: string, fix: string): never {
  throw new LabError(message, fix);
}

function checkNumber(what: string, v: unknown, min: number, max: number, unit: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    fail(`${what} must be a number from ${min} to ${max} ${unit}, got ${JSON.stringify(v)}`, `Give ${what} as ${min}..${max}.`);
  return v;
}

/** Parses a CLI number argument strictly ("30", "2.5"; not "30%" or ""). */
export function numberArg(what: string, s: string): number {
  if (!/^\d+(\.\d+)?$/.test(s)) fail(`${what} must be a number, got ${JSON.stringify(s)}`, `e.g. \`lab link loss 30 scvm-1:storage\`.`);
  return Number(s);
}

// ------------------------------------------------------------ the faults

export interface LinkLab {
  name: string;
  dir: string;
  switchNs: string;
  nodes: LabNode[];
}

export class LinkFaults {
  /** Namespaces known to have their sink (this process created or saw it). */
  private readonly sinks = new Set<string>();

  constructor(private readonly lab: LinkLab) {}

  private host(target: string): HostRef {
    const m = /^(esxi|scvm)-(\d+)$/.exec(target);
    const node = m ? this.lab.nodes[Number(m[2]) - 1] : undefined;
    if (!m || node === undefined)
      fail(`${JSON.stringify(target)} is not a host of lab ${this.lab.name}`, `Name esxi-N or scvm-N, N = 1..${this.lab.nodes.length}.`);
    return { target, kind: m[1] as 'esxi' | 'scvm', node };
  }

  private link(name: string): Link {
    const [target = '', net = ''] = name.split(':');
    if (!name.includes(':') || !(LINK_NETS as readonly string[]).includes(net)) {
      fail(
        `unknown link ${JSON.stringify(name)}`,
        `Name a link <host>:<net> (e.g. scvm-1:storage, esxi-2:mgmt; net ${LINK_NETS.join(' | ')}), or all.`,
      );
    }
    const host = this.host(target);
    const i = host.node.index;
    const n = net as LinkNet;
    const hostDev = host.kind === 'esxi' ? (n === 'storage' ? 'vmk1' : 'vmk0') : n === 'storage' ? 'eth1' : 'eth0';
    const swDev = `${n === 'storage' ? 's' : 'm'}-${host.kind === 'esxi' ? 'e' : 's'}${i}`;
    const hostNs = host.kind === 'esxi' ? host.node.esxi.ns : host.node.scvm.ns;
    return {
      name: `${target}:${n}`,
      host,
      net: n,
      hostEnd: { ns: hostNs, dev: hostDev, relayKey: `link-delay:${target}:${hostDev}` },
      switchEnd: { ns: this.lab.switchNs, dev: swDev, relayKey: `link-delay:sw:${swDev}` },
    };
  }

  /** `all` = every link of every host; `esxi-1` = both of its links; else one `<host>:<net>`. */
  private links(spec: string): Link[] {
    if (spec === 'all')
      return this.lab.nodes.flatMap((n) => [n.esxi.target, n.scvm.target]).flatMap((t) => LINK_NETS.map((net) => this.link(`${t}:${net}`)));
    if (/^(esxi|scvm)-\d+$/.test(spec)) return LINK_NETS.map((net) => this.link(`${this.host(spec).target}:${net}`));
    return [this.link(spec)];
  }

  private reg(): Registry {
    return readRegistry(this.lab.name);
  }

  private mutate(fn: (r: Registry) => void): Registry {
    return updateRegistry(this.lab.name, fn);
  }

  // ---------------------------------------------------------- public operations

  async fault(spec: string, f: LinkFaultSpec): Promise<void> {
    const loss = f.loss === undefined ? 0 : checkNumber('loss', f.loss, 0, 100, '%');
    const delayMs = f.delayMs === undefined ? 0 : checkNumber('delay', f.delayMs, 0, MAX_DELAY_MS, 'ms');
    const jitterMs = f.jitterMs === undefined ? 0 : checkNumber('jitter', f.jitterMs, 0, delayMs, 'ms (at most the delay)');
    const links = this.links(spec);
    const engine = await this.engine();
    if (engine === 'bpf' && delayMs > 0) await relayBinary();
    const since = new Date().toISOString();
    this.mutate((r) => {
      for (const l of links) {
        const old = r.links?.find((x) => x.link === l.name);
        const next: LinkFaultState = { link: l.name, since, ...(old?.flap ? { flap: old.flap } : {}) };
        if (loss > 0) next.loss = loss;
        if (delayMs > 0) Object.assign(next, { delayMs, ...(jitterMs > 0 ? { jitterMs } : {}) });
        r.links = [...(r.links ?? []).filter((x) => x.link !== l.name), ...(next.loss || next.delayMs || next.flap ? [next] : [])];
      }
    });
    await this.applyLinks(links);
  }

  async flap(spec: string, downS: number, upS: number): Promise<void> {
    checkNumber('flap down time', downS, 0.1, FLAP_MAX_S, 's');
    checkNumber('flap up time', upS, 0.1, FLAP_MAX_S, 's');
    const links = this.links(spec);
    for (const l of links) {
      await this.stopFlapper(l);
      const since = new Date().toISOString();
      this.mutate((r) => {
        const old = r.links?.find((x) => x.link === l.name);
        r.links = [...(r.links ?? []).filter((x) => x.link !== l.name), { ...(old ?? {}), link: l.name, since, flap: { downS, upS } }];
      });
      await this.startFlapper(l, downS, upS);
    }
  }

  async partition(a: string, b: string): Promise<void> {
    const ha = this.host(a);
    const hb = this.host(b);
    if (a === b) fail(`cannot partition ${a} from itself`, 'Name two different hosts, e.g. `lab link partition esxi-1 scvm-2`.');
    const since = new Date().toISOString();
    this.mutate((r) => {
      const others = (r.partitions ?? []).filter((p) => !((p.a === a && p.b === b) || (p.a === b && p.b === a)));
      r.partitions = [...others, { a, b, since }];
    });
    await this.applyPartitionsOf([ha, hb]);
  }

  /**
   * Heals one link (its loss, delay and flap, and every partition of its
   * host), a whole host (`esxi-1`), or everything (no argument / `all`).
   */
  async heal(spec?: string): Promise<void> {
    const everything = spec === undefined || spec === 'all';
    const links = this.links(everything ? 'all' : spec);
    const hosts = new Set(links.map((l) => l.host.target));
    const names = new Set(links.map((l) => l.name));
    const before = this.reg();
    const touched = (before.partitions ?? []).filter((p) => hosts.has(p.a) || hosts.has(p.b)).flatMap((p) => [p.a, p.b]);
    for (const l of links) await this.stopFlapper(l);
    this.mutate((r) => {
      r.links = (r.links ?? []).filter((x) => !names.has(x.link));
      r.partitions = (r.partitions ?? []).filter((p) => !hosts.has(p.a) && !hosts.has(p.b));
    });
    await this.applyLinks(links);
    await this.applyPartitionsOf([...new Set(touched)].map((t) => this.host(t)));
    if (everything) {
      // Nothing is left to steal frames into: the sinks go too (a healed lab looks as it started).
      const spaces = [this.lab.switchNs, ...this.lab.nodes.flatMap((n) => [n.esxi.ns, n.scvm.ns])];
      await Promise.all(spaces.map((ns) => run('ip', ['-n', ns, 'link', 'del', SINK])));
      this.sinks.clear();
    }
  }

  /** Active link faults and partitions, as the registry has them (flappers checked for life). */
  view(reg: Registry = this.reg()): { links: LinkFaultView[]; partitions: { a: string; b: string; since: string }[]; engine?: LinkEngine } {
    const links = (reg.links ?? []).map((l) => (l.flap ? { ...l, flapping: alive(reg.pids[`link-flap:${l.link}`]) } : { ...l }));
    return { links, partitions: [...(reg.partitions ?? [])], ...(reg.linkEngine ? { engine: reg.linkEngine } : {}) };
  }

  // ---------------------------------------------------------- engine

  /** netem if the kernel has it (after a modprobe try), else the bpf stand-in; ZRL_LINK_ENGINE forces one. */
  private async engine(): Promise<LinkEngine> {
    const known = this.reg().linkEngine;
    if (known !== undefined) return known;
    const engine = await detectEngine(this.lab.switchNs, process.env.ZRL_LINK_ENGINE);
    this.mutate((r) => {
      r.linkEngine ??= engine;
    });
    return this.reg().linkEngine ?? engine;
  }

  // ---------------------------------------------------------- applying state

  private async applyLinks(links: Link[]): Promise<void> {
    const ends = new Map<string, End>();
    for (const l of links) for (const e of [l.hostEnd, l.switchEnd]) ends.set(`${e.ns}/${e.dev}`, e);
    await this.applyEnds([...ends.values()]);
  }

  private async applyPartitionsOf(hosts: HostRef[]): Promise<void> {
    const ends = new Map<string, End>();
    for (const h of hosts) {
      for (const net of LINK_NETS) {
        const e = this.link(`${h.target}:${net}`).switchEnd;
        ends.set(`${e.ns}/${e.dev}`, e);
      }
      const priv = this.privateEnd(h);
      ends.set(`${priv.ns}/${priv.dev}`, priv);
    }
    await this.applyEnds([...ends.values()]);
  }

  /** The host's end of the private ESXi-SCVM link (never crosses the switch). */
  private privateEnd(h: HostRef): End {
    const ns = h.kind === 'esxi' ? h.node.esxi.ns : h.node.scvm.ns;
    const dev = h.kind === 'esxi' ? 'vmk2' : 'eth2';
    return { ns, dev, relayKey: `link-delay:${h.target}:${dev}` };
  }

  /**
   * Rebuilds each device's tc state from the registry (loss/delay of its
   * link, partition drops): old state removed in one forced tc batch, new
   * state added in another. Devices are independent, so several at a time.
   */
  private async applyEnds(ends: End[]): Promise<void> {
    const reg = this.reg();
    const engine = reg.linkEngine;
    const all = this.links('all');
    await parallel(ends, 8, async (end) => {
      const link = all.find(
        (l) => (l.hostEnd.ns === end.ns && l.hostEnd.dev === end.dev) || (l.switchEnd.ns === end.ns && l.switchEnd.dev === end.dev),
      );
      const f = link === undefined ? undefined : reg.links?.find((x) => x.link === link.name);
      const loss = f?.loss ?? 0;
      const delayMs = f?.delayMs ?? 0;
      const part = await this.partitionFor(end, reg);
      if (reg.pids[end.relayKey] !== undefined) await this.stopRelay(end);
      await this.tcBatch(end.ns, [`qdisc del dev ${end.dev} root`, `qdisc del dev ${end.dev} clsact`], true);
      const add: string[] = [];
      if (engine === 'netem' && (loss > 0 || delayMs > 0)) {
        const delay = delayMs > 0 ? ` delay ${delayMs}ms${f?.jitterMs ? ` ${f.jitterMs}ms` : ''}` : '';
        add.push(`qdisc add dev ${end.dev} root netem limit 10000${loss > 0 ? ` loss ${loss}%` : ''}${delay}`);
      }
      const bpfLoss = engine === 'bpf' && loss > 0;
      const bpfDelay = engine === 'bpf' && delayMs > 0;
      if (part !== undefined || bpfLoss || bpfDelay) {
        await this.ensureSink(end.ns);
        add.push(`qdisc add dev ${end.dev} clsact`);
        const filter = (pref: number, prog: string, to: string) =>
          `filter add dev ${end.dev} egress pref ${pref} bpf bytecode "${prog}" action mirred egress redirect dev ${to}`;
        if (part !== undefined) add.push(filter(PREF.partition, part, SINK));
        if (bpfLoss) add.push(filter(PREF.loss, lossProgram(loss), SINK));
        // The relay listens before any frame is redirected to it.
        if (bpfDelay) add.push(filter(PREF.delay, delayProgram(), await this.startRelay(end, delayMs, f?.jitterMs ?? 0)));
      }
      if (add.length > 0) await this.tcBatch(end.ns, add, false);
    });
  }

  /** `tc -batch` in a lab namespace; `force`: keep going and ignore errors (removing what may not exist). */
  private async tcBatch(ns: string, lines: string[], force: boolean): Promise<void> {
    const r = await run('ip', ['netns', 'exec', ns, 'tc', ...(force ? ['-force'] : []), '-batch', '-'], {
      input: lines.join('\n') + '\n',
      timeoutMs: TC_TIMEOUT_MS,
    });
    if (r.timedOut) fail(`tc in ${ns} timed out`, 'Check the machine load; tc should answer in milliseconds.');
    if (r.code !== 0 && !force) {
      fail(
        `tc in ${ns} failed: ${r.stderr.trim()}\n${lines.join('\n')}`,
        'See lab/README.md, "Link faults" (the kernel needs sch_netem, or clsact, cls_bpf and act_mirred).',
      );
    }
  }

  /** The partition program for a switch port (frames from the host's peers) or a private link end. */
  private async partitionFor(end: End, reg: Registry): Promise<string | undefined> {
    const parts = reg.partitions ?? [];
    if (parts.length === 0) return undefined;
    for (const n of this.lab.nodes) {
      for (const h of [this.host(n.esxi.target), this.host(n.scvm.target)]) {
        const priv = this.privateEnd(h);
        if (priv.ns === end.ns && priv.dev === end.dev) {
          const peer = h.kind === 'esxi' ? n.scvm.target : n.esxi.target;
          return parts.some((p) => (p.a === h.target && p.b === peer) || (p.b === h.target && p.a === peer)) ? DROP_ALL : undefined;
        }
        if (end.ns !== this.lab.switchNs || !LINK_NETS.some((net) => this.link(`${h.target}:${net}`).switchEnd.dev === end.dev)) continue;
        const peers = parts.flatMap((p) => (p.a === h.target ? [p.b] : p.b === h.target ? [p.a] : [])).map((t) => this.host(t));
        if (peers.length === 0) return undefined;
        const macs = (await Promise.all(peers.map((p) => this.macs(p)))).flat();
        return partitionProgram(macs, peers.flatMap((p) => this.ips(p)).map(ipNumber));
      }
    }
    return undefined;
  }

  /** The host's switch-facing MACs, read from its interfaces (bytes 2-5: unique among lab MACs). */
  private async macs(h: HostRef): Promise<number[]> {
    const out: number[] = [];
    for (const net of LINK_NETS) {
      const end = this.link(`${h.target}:${net}`).hostEnd;
      const text = await runOk('ip', ['-n', end.ns, '-o', 'link', 'show', 'dev', end.dev]);
      const mac = /link\/ether ([0-9a-f:]{17})/.exec(text)?.[1];
      if (mac === undefined) fail(`no MAC on ${end.dev} of ${h.target}`, 'Is the lab still up? (lab status)');
      out.push(macTail(mac));
    }
    return out;
  }

  private ips(h: HostRef): string[] {
    if (h.kind === 'esxi') return [h.node.esxi.mgmtIp, h.node.esxi.storageIp];
    return [h.node.scvm.mgmtIp, h.node.scvm.storageIp, ...(h.node.scvm.accessIp !== undefined ? [h.node.scvm.accessIp] : [])];
  }

  /** An unaddressed veth pair that swallows stolen frames (no dummy driver in every kernel). */
  private async ensureSink(ns: string): Promise<void> {
    if (this.sinks.has(ns)) return;
    if ((await run('ip', ['-n', ns, 'link', 'show', SINK])).code !== 0) {
      // -force: a concurrent call for the same namespace may have added it meanwhile.
      await run('ip', ['-n', ns, '-force', '-batch', '-'], {
        input: `link add ${SINK} type veth peer name ${SINK}p\nlink set ${SINK}p arp off up\nlink set ${SINK} up\n`,
      });
      await runOk('ip', ['-n', ns, 'link', 'show', SINK]);
    }
    this.sinks.add(ns);
  }

  // ---------------------------------------------------------- delay relay (bpf engine)

  private async startRelay(end: End, delayMs: number, jitterMs: number): Promise<string> {
    const bin = await relayBinary();
    const dev = `lfd-${end.dev}`;
    const peer = `lfp-${end.dev}`;
    if ((await run('ip', ['-n', end.ns, 'link', 'show', dev])).code !== 0) {
      await runOk('ip', ['-n', end.ns, '-batch', '-'], {
        input: `link add ${dev} type veth peer name ${peer}\nlink set ${peer} arp off up\nlink set ${dev} up\n`,
      });
    }
    const logFile = path.join(this.lab.dir, 'link-delay.log');
    const log = fs.openSync(logFile, 'a');
    // `ip netns exec` execs the relay: the tracked pid is the relay, inside the lab namespace.
    const child = spawn('ip', ['netns', 'exec', end.ns, bin, peer, end.dev, String(RELAY_MARK), String(delayMs), String(jitterMs)], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    child.unref();
    if (child.pid === undefined) fail(`cannot start the delay relay in ${end.ns}`, `See ${logFile}.`);
    const pid = child.pid;
    this.mutate((r) => {
      r.pids[end.relayKey] = pid;
    });
    // Its receive socket is bound before it opens the second one (native/lab-link-delay.c).
    await waitFor(`the delay relay on ${end.dev} in ${end.ns}`, 10_000, () => {
      if (!alive(pid)) fail(`the delay relay on ${end.dev} in ${end.ns} exited`, `See ${logFile}.`);
      return socketCount(pid) >= 2 ? true : undefined;
    });
    return dev;
  }

  private async stopRelay(end: End): Promise<void> {
    await this.stopTracked(end.relayKey, end.ns);
    await run('ip', ['-n', end.ns, 'link', 'del', `lfd-${end.dev}`]);
  }

  /** Stops a tracked process (its whole group) if it still lives in that lab namespace. */
  private async stopTracked(key: string, ns: string): Promise<void> {
    const pid = this.reg().pids[key];
    if (pid !== undefined && alive(pid) && inNamespace(pid, ns)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        process.kill(pid, 'SIGKILL');
      }
      for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    }
    this.mutate((r) => {
      delete r.pids[key];
    });
  }

  // ---------------------------------------------------------- flapping

  /**
   * A shell loop in the switch namespace: the switch port goes down for
   * downS, up for upS, for at most FLAP_MAX_S, then stays up. It lives in the
   * switch namespace, so `lab down` kills it with everything else there.
   */
  private async startFlapper(l: Link, downS: number, upS: number): Promise<void> {
    const cycles = Math.max(1, Math.floor(FLAP_MAX_S / (downS + upS)));
    const dev = l.switchEnd.dev;
    const script = `i=0; while [ $i -lt ${cycles} ]; do ip link set ${dev} down; sleep ${downS}; ip link set ${dev} up; sleep ${upS}; i=$((i+1)); done`;
    const child = spawn('ip', ['netns', 'exec', this.lab.switchNs, 'sh', '-c', script], { detached: true, stdio: 'ignore' });
    child.unref();
    if (child.pid === undefined) fail(`cannot start the flapper of ${l.name}`, 'Check that `sh` and `ip` are installed.');
    const pid = child.pid;
    this.mutate((r) => {
      r.pids[`link-flap:${l.name}`] = pid;
    });
  }

  /** Stops the link's flapper and leaves the port as the other faults want it (up unless one holds it down). */
  private async stopFlapper(l: Link): Promise<void> {
    const key = `link-flap:${l.name}`;
    const reg = this.reg();
    if (reg.pids[key] === undefined) return;
    await this.stopTracked(key, this.lab.switchNs);
    const held = reg.faults.some(
      (f) => f.target === l.host.target && (f.name === 'scvm-down' || (f.name === 'storage-down' && l.net === 'storage')),
    );
    const off = l.host.kind === 'esxi' && !alive(reg.pids[`${l.host.target}:init`]);
    if (!held && !off) await runOk('ip', ['-n', this.lab.switchNs, 'link', 'set', l.switchEnd.dev, 'up']);
  }
}

function socketCount(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')).length;
  } catch {
    return 0;
  }
}

function inNamespace(pid: number, ns: string): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`) === `net:[${fs.statSync(`/run/netns/${ns}`).ino}]`;
  } catch {
    return false;
  }
}
