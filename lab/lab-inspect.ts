/**
 * Reading a lab's state without changing it: host and service liveness, each
 * ESXi's route to the NFS address, IO probe summaries, the route shims'
 * audit log, and where an operator would ssh to. Tests assert on these, so
 * they read the hosts' real state (namespaces, files), not what the lab
 * believes it did.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { summarizeHostLog, type HostIoSummary } from './services/io-summary';
import { procTimes } from './host-cpu';
import type { LinkFaults, LinkFaultView, LinkEngine } from './lab-netem';
import { alive, LabError, waitFor } from './proc';
import type { ActiveFault } from './registry';
import type { EsxiVersion } from './rootfs';
import { publicHostKeys } from './lab-host-roots';
import { NFS_ADDRESS, parseTarget, type LabNode } from './lab-topology';
import type { LabState } from './lab-state';

/** One route change made through the ESXi route shims (esxcfg-route / esxcli), with who ran it. */
export interface RouteAuditEntry {
  /** Epoch ms, 1 s resolution (ESXi's busybox date has no sub-second format). */
  t: number;
  op: 'add' | 'del';
  /** NET/LEN, e.g. 192.168.33.2/32 (0.0.0.0/0 for the default gateway). */
  prefix: string;
  gateway: string;
  tool: string;
  /**
   * Command line of the shim's parent: `/bin/sh /vmfs/volumes/…/reroute-loop.sh` for the agent,
   * `sshd: root@notty` for a command sent over SSH (ash execs a lone command in place), `sh -c …`
   * for a compound one.
   */
  parent: string;
  /** Its parent's command line (e.g. `sshd: root@notty` for an SSH session). */
  grandparent: string;
}

export interface TargetStatus {
  target: string;
  ns: string;
  up: boolean;
  sshd: boolean;
  services: Record<string, boolean>;
  /** ESXi only: where its 192.168.33.2 route points now and whose address that is. */
  nfsRoute?: NfsRouteView;
  /** ESXi only: its version profile and whether it boots with UEFI Secure Boot. */
  esxiVersion?: EsxiVersion;
  secureBoot?: boolean;
}

/** An ESXi's route to the NFS address, named by SCVM: `via: 'access'` is an RDMA access IP. */
export interface NfsRouteView {
  /** Gateway of the 192.168.33.2/32 route, or null (no /32: the private link to the local SCVM). */
  gateway: string | null;
  /** The SCVM that owns the gateway (or the local one over the private link); null if no SCVM does. */
  scvm: string | null;
  via: 'private-link' | 'storage' | 'management' | 'access' | 'foreign';
}

export interface LabStatus {
  name: string;
  nodes: number;
  stateDir: string;
  controller: { ns: string; ip: string };
  targets: TargetStatus[];
  faults: ActiveFault[];
  /** Link faults (loss, delay, flap) and partitions: lab/lab-netem.ts. */
  links: LinkFaultView[];
  partitions: { a: string; b: string; since: string }[];
  linkEngine?: LinkEngine;
}

/** The registry read afresh: another process (the CLI, a parallel test step) may have changed it. */
export function activeFaults(s: LabState): ActiveFault[] {
  s.reload();
  return [...s.reg.faults];
}

export function labStatus(s: LabState, linkFaults: LinkFaults): LabStatus {
  s.reload();
  const targets: TargetStatus[] = [];
  const svc = (k: string) => alive(s.pid(k));
  for (const node of s.nodes) {
    for (const h of [node.esxi, node.scvm]) {
      const services: Record<string, boolean> = {};
      if (s.config.services) {
        for (const name of h === node.esxi ? ['monitor'] : ['meta-sim', 'nfs-sim']) services[name] = svc(`${h.target}:${name}`);
      }
      const t: TargetStatus = { target: h.target, ns: h.ns, up: svc(`${h.target}:init`), sshd: svc(`${h.target}:sshd`), services };
      if (h === node.esxi)
        Object.assign(t, { nfsRoute: nfsRoute(s, node), esxiVersion: node.esxi.version, secureBoot: node.esxi.secureBoot });
      targets.push(t);
    }
  }
  const l = linkFaults.view(s.reg);
  return {
    name: s.name,
    nodes: s.nodes.length,
    stateDir: s.dir,
    controller: s.controller,
    targets,
    faults: activeFaults(s),
    links: l.links,
    partitions: l.partitions,
    ...(l.engine ? { linkEngine: l.engine } : {}),
  };
}

/**
 * CPU milliseconds each host's sshd listener and its reaped sessions have spent so far (lab/host-cpu.ts);
 * a benchmark takes the difference around one CLI run to tell the hosts' share of a step.
 */
export function sshCpuMs(s: LabState): Record<string, number> {
  s.reload();
  const out: Record<string, number> = {};
  for (const node of s.nodes) {
    for (const h of [node.esxi, node.scvm]) {
      const pid = s.pid(`${h.target}:sshd`);
      const t = pid === undefined ? undefined : procTimes(pid);
      if (t !== undefined) out[h.target] = Math.round((t.self + t.children) * 1000);
    }
  }
  return out;
}

/** Which SCVM (and which of its addresses) this ESXi's 192.168.33.2 route goes to now. */
export function nfsRoute(s: LabState, node: LabNode): NfsRouteView {
  let out = '';
  try {
    out = execFileSync('ip', ['-n', node.esxi.ns, '-4', 'route', 'show', `${NFS_ADDRESS}/32`], { encoding: 'utf8', timeout: 5000 });
  } catch {
    // namespace gone (lab going down): report the private link
  }
  const gw = /\bvia (\S+)/.exec(out)?.[1] ?? null;
  if (gw === null) return { gateway: null, scvm: node.scvm.target, via: 'private-link' };
  for (const n of s.nodes) {
    const kind = gw === n.scvm.storageIp ? 'storage' : gw === n.scvm.mgmtIp ? 'management' : gw === n.scvm.accessIp ? 'access' : undefined;
    if (kind !== undefined) return { gateway: gw, scvm: n.scvm.target, via: kind };
  }
  return { gateway: gw, scvm: null, via: 'foreign' };
}

/** Per ESXi host: the IO probe's summary (served-by timeline, gaps, route changes). */
export function ioSummaries(s: LabState, sinceMs?: number): Record<string, HostIoSummary> {
  const out: Record<string, HostIoSummary> = {};
  for (const node of s.nodes) {
    const file = path.join(s.dir, 'io', `${node.esxi.target}.io.jsonl`);
    if (fs.existsSync(file)) out[node.esxi.target] = summarizeHostLog(file, sinceMs);
  }
  return out;
}

/**
 * Polls the IO summaries (every 200 ms) until `check` accepts them; fails
 * with the last summaries' served-by map after timeoutMs.
 */
export async function waitForIo(
  s: LabState,
  what: string,
  check: (io: Record<string, HostIoSummary>) => boolean,
  opts: { timeoutMs?: number; sinceMs?: number } = {},
): Promise<Record<string, HostIoSummary>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let last: Record<string, HostIoSummary> = {};
  try {
    return await waitFor(
      what,
      timeoutMs,
      () => {
        last = ioSummaries(s, opts.sinceMs);
        return check(last) ? last : undefined;
      },
      200,
    );
  } catch {
    const served = Object.fromEntries(Object.entries(last).map(([h, v]) => [h, v.servedBy]));
    throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}; served by: ${JSON.stringify(served)}`);
  }
}

/**
 * Every route change made with the ESXi route shims on this host since it
 * was created (kept across reboots; ad-hoc `ip route` changes are not
 * shims and are not listed: the IO monitor sees those).
 */
export function routeAudit(s: LabState, target: string, sinceMs = 0): RouteAuditEntry[] {
  const node = s.node(target, 'esxi');
  const file = path.join(node.esxi.root, 'var', 'lib', 'vmware', 'lab', 'route-audit.log');
  if (!fs.existsSync(file)) return [];
  const out: RouteAuditEntry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const f = line.split('\t');
    if (f.length < 7 || !/^\d+$/.test(f[0] ?? '')) continue;
    const t = Number(f[0]) * 1000;
    if (t < sinceMs - 999) continue;
    out.push({
      t,
      op: f[1] === 'del' ? 'del' : 'add',
      prefix: f[2] ?? '',
      gateway: f[3] ?? '',
      tool: f[4] ?? '',
      parent: f[5] ?? '',
      grandparent: f[6] ?? '',
    });
  }
  return out;
}

/** Where an operator would ssh to reach a target: its management IP and default user. */
export function sshTarget(s: LabState, target: string, user?: string): { ip: string; user: string } {
  const t = parseTarget(target);
  if (t.kind === 'ctl') throw new LabError('ctl is where ssh starts from, not a target');
  const node = s.node(target, t.kind);
  return t.kind === 'esxi' ? { ip: node.esxi.mgmtIp, user: user ?? 'root' } : { ip: node.scvm.mgmtIp, user: user ?? 'smartx' };
}

/** The host's current public host keys, as `type base64` lines; ctl has none. */
export function hostPublicKeys(s: LabState, target: string): string[] {
  const t = parseTarget(target);
  if (t.kind === 'ctl') return [];
  const node = s.node(target, t.kind);
  return publicHostKeys(t.kind === 'esxi' ? node.esxi.root : node.scvm.root);
}
