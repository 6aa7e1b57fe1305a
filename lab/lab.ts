/**
 * The lab: a simulated ZBS-on-ESXi cluster of real SSH hosts in network
 * namespaces (issue 3). See lab/README.md for what it models and what not.
 *
 * Nothing here ever adds an address, route or link to the root namespace:
 * veths are created directly inside lab namespaces, and every namespace and
 * process is recorded in the lab's registry before `down` may remove it.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { newScvmState, newSessionId, updateScvm, writeClusterState, type ClusterState } from './services/cluster-state';
import { summarizeHostLog, type HostIoSummary } from './services/io-summary';
import { ensureServiceBin } from './services/service-bin';
import { procTimes } from './host-cpu';
import { LinkFaults, type LinkFaultSpec, type LinkFaultView, type LinkEngine } from './lab-netem';
import { alive, LabError, parallel, run, runOk, sleep, waitFor, type RunResult } from './proc';
import { ensureTemplates, ESXI_CRONTAB, ESXI_VERSIONS, installEsxiProfile, markSticky, type EsxiVersion, type Templates } from './rootfs';
import {
  checkName,
  labDir,
  LAB_STATE_ROOT,
  listLabNames,
  readRegistry,
  registryPath,
  repoRoot,
  updateRegistry,
  writeRegistry,
  type ActiveFault,
  type LabConfig,
  type Registry,
} from './registry';

export { LabError } from './proc';

export const FAULTS = ['storage-down', 'access-unhealthy', 'scvm-down', 'sshd-hang', 'ssh-client-blocked', 'access-restart', 'route-tool-hang'] as const;
export type FaultName = (typeof FAULTS)[number];

export interface LabOptions {
  nodes: number;
  name?: string;
  /** First three octets of the management /24 (default 10.10.0). */
  mgmtNet?: string;
  /** First three octets of the storage /24 (default 10.20.0). */
  storageNet?: string;
  /** Start meta-sim, nfs-sim and the IO probes (default true). */
  services?: boolean;
  /**
   * A lab of the same name whose creating process is gone (a killed test
   * run) is torn down first instead of failing the start. A lab whose
   * creator still runs is never replaced.
   */
  replaceStale?: boolean;
  /**
   * RDMA cluster (SCVM side, L2): every SCVM gets an access IP <storageNet>.(150+N) on its
   * storage NIC, and every ESXi starts with 192.168.33.2/32 and its SCVM's storage IP /32
   * via that access IP, persisted in esx.conf, as SmartX deploy leaves an RDMA host.
   */
  rdma?: boolean;
  /** SMTX OS version every SCVM reports in /etc/smtxos-release (default '5.1.2'). */
  scvmVersion?: string;
  /**
   * ESXi version profile (applets of that release's busybox, `vmware -v`): one for
   * every host, or per host ({ 'esxi-2': '6.7' }, the rest 7.0). Default '7.0'.
   */
  esxiVersion?: EsxiVersion | Record<string, EsxiVersion>;
  /** 'open' (default: sshClient and httpClient enabled) or 'shipped' (a fresh ESXi: both disabled). */
  firewall?: 'open' | 'shipped';
  /** ESXi targets booted with UEFI Secure Boot: /etc/rc.local.d/local.sh is not run at boot. */
  secureBoot?: string[];
}

export interface EsxiHost {
  ns: string;
  target: string;
  mgmtIp: string;
  storageIp: string;
  /** Host path of the chroot that stands for the ESXi file system. */
  root: string;
  datastore: string;
  datastoreUuid: string;
  /** Host path of /vmfs/volumes/<uuid> (persistent across reboots). */
  datastorePath: string;
  /** ESXi version profile of this host (lab option esxiVersion). */
  version: EsxiVersion;
  /** Booted with UEFI Secure Boot (lab option secureBoot). */
  secureBoot: boolean;
}

export interface ScvmHost {
  ns: string;
  target: string;
  mgmtIp: string;
  storageIp: string;
  root: string;
  /** RDMA labs only: the access IP (a second address on the storage NIC, <storageNet>.(150+N)). */
  accessIp?: string;
}

export interface LabNode {
  index: number;
  name: string;
  esxi: EsxiHost;
  scvm: ScvmHost;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** SCVM only: run as this user of the SCVM (e.g. smartx) instead of root. */
  user?: string;
  input?: string;
  /** Controller only: working directory (default: the repository). */
  cwd?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

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

const NFS_ADDRESS = '192.168.33.2';
const ESXI_LINK_IP = '192.168.33.1';
const HOST_PATH = '/bin:/sbin:/usr/bin:/usr/sbin';
const START_PARALLELISM = 8;
const HOST_KEY_TYPES = ['ecdsa', 'ed25519'] as const;
const SERVICE_READY_MS = 30_000;
/** ESXi .11-.74, SCVMs .101-.164, controller .250 in each /24; services cost ~50 MB per node (lab/README.md). */
const MAX_NODES = 64;
const MAX_RDMA_NODES = 49;
const LOCAL_SH_TIMEOUT_MS = 60_000;
/** SMTX OS 5.1.2 is the first release with `PermitRootLogin no` on SCVMs (issue 11). */
export const DEFAULT_SCVM_VERSION = '5.1.2';

const TRACE = process.env.ZRL_TRACE === '1';
const T0 = Date.now();

/** ZRL_TRACE=1 prints phase timings to stderr (used for the README's start/stop figures). */
function trace(msg: string): void {
  if (TRACE) process.stderr.write(`[lab +${((Date.now() - T0) / 1000).toFixed(2)}s] ${msg}\n`);
}

function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function netnsInode(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function randomHex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

/** ESXi VMFS volume UUIDs look like 5f3c1b2a-8e1d4f20-1c2b-000c29aabbcc. */
function vmfsUuid(): string {
  return `${randomHex(8)}-${randomHex(8)}-${randomHex(4)}-${randomHex(12)}`;
}

function mac(kind: number, index: number, port: number): string {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return `00:50:56:${h(0x60 + kind)}:${h(index)}:${h(port)}`;
}

function parseTarget(target: string): { kind: 'ctl' | 'esxi' | 'scvm'; index: number } {
  if (target === 'ctl') return { kind: 'ctl', index: 0 };
  const m = /^(esxi|scvm)-(\d+)$/.exec(target);
  if (!m) throw new LabError(`unknown target ${JSON.stringify(target)}`, 'Use ctl, esxi-N or scvm-N.');
  return { kind: m[1] as 'esxi' | 'scvm', index: Number(m[2]) };
}

/** esxiVersion option -> one profile per ESXi target (default 7.0). */
function resolveEsxiVersions(v: LabOptions['esxiVersion'], n: number): Record<string, EsxiVersion> {
  const ok = (x: unknown): x is EsxiVersion => (ESXI_VERSIONS as readonly unknown[]).includes(x);
  const out: Record<string, EsxiVersion> = {};
  for (let i = 1; i <= n; i++) out[`esxi-${i}`] = '7.0';
  if (v === undefined) return out;
  if (typeof v === 'string') {
    if (!ok(v)) throw new LabError(`esxiVersion ${JSON.stringify(v)} is not one of ${ESXI_VERSIONS.join(', ')}`);
    for (const k of Object.keys(out)) out[k] = v;
    return out;
  }
  for (const [t, ver] of Object.entries(v)) {
    if (!(t in out)) throw new LabError(`esxiVersion: ${JSON.stringify(t)} is not an ESXi host of a ${n}-node lab`, 'Name targets esxi-1..esxi-N.');
    if (!ok(ver)) throw new LabError(`esxiVersion of ${t}: ${JSON.stringify(ver)} is not one of ${ESXI_VERSIONS.join(', ')}`);
    out[t] = ver;
  }
  return out;
}

function octetsOk(net: string): boolean {
  const parts = net.split('.');
  return parts.length === 3 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

export class Lab {
  readonly name: string;
  readonly dir: string;
  readonly nodes: LabNode[];
  readonly controller: { ns: string; ip: string };
  readonly operatorKeyPath: string;
  readonly clusterFile: string;
  readonly switchNs: string;
  private reg: Registry;
  private readonly linkFaults: LinkFaults;

  private constructor(reg: Registry) {
    this.reg = reg;
    const c = reg.config;
    this.name = c.name;
    this.dir = labDir(c.name);
    this.switchNs = `${reg.prefix}sw`;
    this.controller = { ns: `${reg.prefix}ctl`, ip: `${c.mgmtNet}.250` };
    this.operatorKeyPath = path.join(this.dir, 'keys', 'operator_id_rsa');
    this.clusterFile = path.join(this.dir, 'cluster', 'cluster.json');
    this.nodes = [];
    for (let i = 1; i <= c.nodes; i++) {
      const uuid = c.datastoreUuids[i - 1] ?? '';
      const esxiRoot = path.join(this.dir, `esxi-${i}`, 'root');
      this.nodes.push({
        index: i,
        name: `node-${i}`,
        esxi: {
          ns: `${reg.prefix}esxi-${i}`,
          target: `esxi-${i}`,
          mgmtIp: `${c.mgmtNet}.${10 + i}`,
          storageIp: `${c.storageNet}.${10 + i}`,
          root: esxiRoot,
          datastore: 'datastore1',
          datastoreUuid: uuid,
          datastorePath: path.join(esxiRoot, 'vmfs', 'volumes', uuid),
          version: c.esxiVersions?.[`esxi-${i}`] ?? '7.0',
          secureBoot: (c.secureBoot ?? []).includes(`esxi-${i}`),
        },
        scvm: {
          ns: `${reg.prefix}scvm-${i}`,
          target: `scvm-${i}`,
          mgmtIp: `${c.mgmtNet}.${100 + i}`,
          storageIp: `${c.storageNet}.${100 + i}`,
          root: path.join(this.dir, `scvm-${i}`, 'root'),
          ...(c.rdma === true ? { accessIp: `${c.storageNet}.${150 + i}` } : {}),
        },
      });
    }
    this.linkFaults = new LinkFaults({ name: this.name, dir: this.dir, switchNs: this.switchNs, nodes: this.nodes });
  }

  // ---------------------------------------------------------------- lifecycle

  static async start(opts: LabOptions): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new LabError('the lab needs root (network namespaces, chroot, mknod)', 'Run as root.');
    const name = opts.name ?? 'lab';
    checkName(name);
    const n = opts.nodes;
    if (!Number.isInteger(n) || n < 1 || n > MAX_NODES) throw new LabError(`nodes must be 1..${MAX_NODES}, got ${n}`);
    // RDMA access IPs are <storage-net>.(150+N): beyond 49 nodes they would collide with SCVM storage IPs (100+N).
    if (opts.rdma === true && n > MAX_RDMA_NODES) throw new LabError(`an --rdma lab has at most ${MAX_RDMA_NODES} nodes, got ${n}`, 'Access IPs are <storage-net>.(150+N) and SCVM storage IPs .(100+N).');
    const mgmtNet = opts.mgmtNet ?? '10.10.0';
    const storageNet = opts.storageNet ?? '10.20.0';
    if (!octetsOk(mgmtNet) || !octetsOk(storageNet) || mgmtNet === storageNet) {
      throw new LabError(`bad address plan ${mgmtNet} / ${storageNet}`, 'Give two different /24 prefixes as three octets, e.g. 10.10.0.');
    }
    const esxiVersions = resolveEsxiVersions(opts.esxiVersion, n);
    const firewall = opts.firewall ?? 'open';
    if (firewall !== 'open' && firewall !== 'shipped') throw new LabError(`firewall must be open or shipped, got ${JSON.stringify(firewall)}`);
    for (const t of opts.secureBoot ?? []) {
      const m = /^esxi-(\d+)$/.exec(t);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > n) throw new LabError(`secureBoot: ${JSON.stringify(t)} is not an ESXi host of a ${n}-node lab`, 'Name targets esxi-1..esxi-N.');
    }
    if (fs.existsSync(registryPath(name)) && opts.replaceStale === true) {
      const owner = readRegistry(name).owner;
      if (!alive(owner.pid)) await Lab.down(name);
    }
    if (fs.existsSync(registryPath(name))) {
      throw new LabError(`lab ${name} already exists`, `Use Lab.attach('${name}') or \`npm run lab -- down --name ${name}\`.`);
    }
    // Host roots must be traversable by the SCVM's non-root user whatever umask the caller has.
    process.umask(0o022);
    const templates = await ensureTemplates();
    const dir = labDir(name);
    if (fs.existsSync(dir)) {
      // Leftover of a start that died before writing its registry: nothing in it can be running.
      if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir}/`)) throw new LabError(`something is mounted under ${dir}`, `umount it (grep ${dir} /proc/self/mountinfo).`);
      await runOk('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 120_000 });
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(LAB_STATE_ROOT, 0o755);
    fs.chmodSync(dir, 0o755);
    const prefix = `zrl-${name}-`;
    const config: LabConfig = {
      name,
      nodes: n,
      mgmtNet,
      storageNet,
      repo: repoRoot(),
      services: opts.services ?? true,
      rdma: opts.rdma === true,
      scvmVersion: opts.scvmVersion ?? DEFAULT_SCVM_VERSION,
      esxiVersions,
      firewall,
      secureBoot: [...(opts.secureBoot ?? [])],
      datastoreUuids: Array.from({ length: n }, () => vmfsUuid()),
    };
    const namespaces = [`${prefix}sw`, `${prefix}ctl`];
    for (let i = 1; i <= n; i++) namespaces.push(`${prefix}esxi-${i}`, `${prefix}scvm-${i}`);
    const reg: Registry = {
      version: 1,
      name,
      prefix,
      createdAt: new Date().toISOString(),
      owner: { pid: process.pid, ppid: process.ppid, jest: process.env.JEST_WORKER_ID !== undefined },
      namespaces,
      bridges: [`${prefix}sw/br-mgmt`, `${prefix}sw/br-stor`],
      pids: {},
      faults: [],
      config,
    };
    // Written before anything exists, so a start that fails half-way can still be torn down.
    writeRegistry(reg);
    const lab = new Lab(reg);
    try {
      await lab.create(templates);
    } catch (e) {
      await Lab.down(name).catch(() => undefined);
      throw e;
    }
    return lab;
  }

  /** Re-opens a running lab (the CLI between commands, or another process). */
  static attach(name = 'lab'): Lab {
    return new Lab(readRegistry(name));
  }

  static list(): string[] {
    return listLabNames();
  }

  async stop(): Promise<void> {
    await Lab.down(this.name);
  }

  /**
   * Removes a lab: kills every process in its namespaces (they would outlive
   * the namespace otherwise), deletes the namespaces it lists, then its state
   * directory. Refuses namespaces that are not this lab's.
   */
  static async down(name: string): Promise<void> {
    const reg = readRegistry(name);
    for (const ns of reg.namespaces) {
      if (!ns.startsWith(reg.prefix)) throw new LabError(`registry of ${name} lists foreign namespace ${ns}; refusing`, 'Inspect the registry by hand.');
    }
    const existing = new Set((await runOk('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? ''));
    const labNs = reg.namespaces.filter((ns) => existing.has(ns));
    const inodes = new Set<string>();
    for (const ns of labNs) {
      try {
        inodes.add(`net:[${fs.statSync(`/run/netns/${ns}`).ino}]`);
      } catch {
        // listed by `ip netns list` a moment ago; gone now is fine.
      }
    }
    const victims = new Set<number>();
    for (const ns of labNs) {
      const out = await run('ip', ['netns', 'pids', ns]);
      for (const p of out.stdout.split(/\s+/).filter(Boolean)) victims.add(Number(p));
    }
    // Tracked pids are killed only if they still live in one of this lab's namespaces (no pid reuse accidents).
    for (const pid of Object.values(reg.pids)) {
      const ino = netnsInode(pid);
      if (ino !== undefined && inodes.has(ino)) victims.add(pid);
    }
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    trace(`down ${name}: killed ${victims.size} processes`);
    await waitFor('lab processes to exit', 10_000, () => ([...victims].some(alive) ? undefined : true));
    trace(`down ${name}: processes gone`);
    for (const ns of labNs) await runOk('ip', ['netns', 'delete', ns]);
    trace(`down ${name}: namespaces deleted`);
    const dir = labDir(name);
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    if (mounts.includes(` ${dir}/`)) throw new LabError(`something is still mounted under ${dir}; not removing it`, `umount the listed mounts (grep ${dir} /proc/self/mountinfo).`);
    await runOk('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 120_000 });
    trace(`down ${name}: state removed`);
  }

  /**
   * Every registry change is a synchronous read-modify-write of the file, so
   * concurrent operations (two reboots in parallel, or the CLI next to a
   * test) never overwrite each other's pids or faults.
   */
  private mutate(fn: (reg: Registry) => void): void {
    this.reg = updateRegistry(this.name, fn);
  }

  private setPid(key: string, pid: number): void {
    this.mutate((r) => {
      r.pids[key] = pid;
    });
  }

  private dropPids(keys: string[]): void {
    this.mutate((r) => {
      for (const k of keys) delete r.pids[k];
    });
  }

  /**
   * Picks up changes other processes made (the CLI rebooting a host while a
   * test holds this object): every public operation that changes the lab
   * starts from the registry on disk.
   */
  private reload(): void {
    this.reg = readRegistry(this.name);
  }

  private async create(t: Templates): Promise<void> {
    const reg = this.reg;
    const c = reg.config;
    for (const ns of reg.namespaces) await runOk('ip', ['netns', 'add', ns]);
    // IPv4-only lab (as the modelled vmknics): no IPv6 link-local noise in routes and probes.
    await parallel(reg.namespaces, START_PARALLELISM, (ns) =>
      runOk('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6']),
    );
    await this.ipBatch(this.switchNs, [
      'link set lo up',
      'link add br-mgmt type bridge',
      'link add br-stor type bridge',
      'link set br-mgmt up',
      'link set br-stor up',
      `addr add ${c.mgmtNet}.1/24 dev br-mgmt`,
      `addr add ${c.storageNet}.1/24 dev br-stor`,
    ]);
    await this.createController();
    fs.mkdirSync(path.join(this.dir, 'keys'), { mode: 0o700 });
    await runOk('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', `zrl-operator@${this.name}`, '-f', this.operatorKeyPath]);
    fs.mkdirSync(path.join(this.dir, 'io'), { mode: 0o755 });
    fs.mkdirSync(path.dirname(this.clusterFile), { mode: 0o755 });
    const state: ClusterState = { version: 1, scvms: {} };
    for (const node of this.nodes) state.scvms[node.scvm.target] = newScvmState(node.scvm.target, node.index, node.scvm.storageIp, node.scvm.mgmtIp);
    writeClusterState(this.clusterFile, state);
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    trace('namespaces, switch and controller ready');
    await parallel(this.nodes, START_PARALLELISM, async (node) => {
      await this.wireNode(node);
      await Promise.all([this.prepareEsxi(node, t), this.prepareScvm(node, t)]);
      trace(`node-${node.index}: wired, roots prepared`);
      await this.bootScvm(node);
      trace(`node-${node.index}: scvm up`);
      await this.bootEsxi(node, false);
      trace(`node-${node.index}: esxi up`);
    });
    this.writeKnownHosts();
    if (c.services) {
      await this.startMonitors();
      trace('IO probes running');
    }
  }

  private async ipBatch(ns: string, lines: string[], force = false): Promise<RunResult> {
    const args = ['-n', ns, ...(force ? ['-force'] : []), '-batch', '-'];
    const r = await run('ip', args, { input: lines.join('\n') + '\n' });
    if (r.code !== 0 && !force) throw new LabError(`ip -n ${ns} -batch failed: ${r.stderr.trim()}\n${lines.join('\n')}`);
    return r;
  }

  private async createController(): Promise<void> {
    const c = this.reg.config;
    await this.ipBatch(this.switchNs, [
      `link add m-c type veth peer name eth0 address ${mac(9, 0, 0)} netns ${this.controller.ns}`,
      'link set m-c master br-mgmt up',
    ]);
    await this.ipBatch(this.controller.ns, ['link set lo up', `addr add ${this.controller.ip}/24 dev eth0`, 'link set eth0 up', `route add default via ${c.mgmtNet}.1`]);
    const bin = path.join(this.dir, 'ctl', 'bin');
    fs.mkdirSync(bin, { recursive: true, mode: 0o755 });
    fs.mkdirSync(path.join(this.dir, 'ctl', 'home'), { recursive: true, mode: 0o700 });
    const reroute = path.join(c.repo, 'bin', 'reroute.js');
    fs.writeFileSync(path.join(bin, 'reroute'), `#!/bin/sh\n# The project's CLI, as an operator would have it on PATH.\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(reroute)} "$@"\n`, { mode: 0o755 });
    const sshConfig = path.join(this.dir, 'ctl', 'ssh_config');
    fs.writeFileSync(
      sshConfig,
      [
        'Host *',
        `  IdentityFile ${this.operatorKeyPath}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${path.join(this.dir, 'ctl', 'known_hosts')}`,
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '  ConnectTimeout 10',
        '',
      ].join('\n'),
    );
    // `ssh` in the controller namespace uses the lab's operator key and pinned host keys.
    fs.writeFileSync(path.join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${sshConfig} "$@"\n`, { mode: 0o755 });
  }

  private async wireNode(node: LabNode): Promise<void> {
    const c = this.reg.config;
    const i = node.index;
    const e = node.esxi.ns;
    const s = node.scvm.ns;
    await this.ipBatch(this.switchNs, [
      `link add m-e${i} type veth peer name vmk0 address ${mac(0, i, 0)} netns ${e}`,
      `link add s-e${i} type veth peer name vmk1 address ${mac(0, i, 1)} netns ${e}`,
      `link add m-s${i} type veth peer name eth0 address ${mac(1, i, 0)} netns ${s}`,
      `link add s-s${i} type veth peer name eth1 address ${mac(1, i, 1)} netns ${s}`,
      `link set m-e${i} master br-mgmt up`,
      `link set s-e${i} master br-stor up`,
      `link set m-s${i} master br-mgmt up`,
      `link set s-s${i} master br-stor up`,
    ]);
    await this.ipBatch(e, [
      'link set lo up',
      `link add vmk2 address ${mac(0, i, 2)} type veth peer name eth2 address ${mac(1, i, 2)} netns ${s}`,
      `addr add ${node.esxi.mgmtIp}/24 dev vmk0`,
      `addr add ${node.esxi.storageIp}/24 dev vmk1`,
      `addr add ${ESXI_LINK_IP}/24 dev vmk2`,
      'link set vmk0 up',
      'link set vmk1 up',
      'link set vmk2 up',
    ]);
    await this.ipBatch(s, [
      'link set lo up',
      `addr add ${node.scvm.mgmtIp}/24 dev eth0`,
      `addr add ${node.scvm.storageIp}/24 dev eth1`,
      ...(node.scvm.accessIp !== undefined ? [`addr add ${node.scvm.accessIp}/24 dev eth1`] : []),
      `addr add ${NFS_ADDRESS}/24 dev eth2`,
      'link set eth0 up',
      'link set eth1 up',
      'link set eth2 up',
      `route add default via ${c.mgmtNet}.1`,
    ]);
  }

  // ---------------------------------------------------------------- host roots

  private hostDir(target: string): string {
    return path.join(this.dir, target);
  }

  private async hostKeys(root: string, target: string): Promise<void> {
    const sshDir = path.join(root, 'etc', 'ssh');
    fs.mkdirSync(sshDir, { recursive: true, mode: 0o755 });
    for (const f of fs.readdirSync(sshDir)) if (f.startsWith('ssh_host_')) fs.unlinkSync(path.join(sshDir, f));
    // ECDSA and Ed25519 only: an RSA host key costs up to half a second of CPU per host at start.
    await Promise.all(
      HOST_KEY_TYPES.map((type) => runOk('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `root@${target}`, '-f', path.join(sshDir, `ssh_host_${type}_key`)])),
    );
    // On ESXi the host keys are backed-up configuration files: VisorFS marks them sticky.
    if (target.startsWith('esxi-')) for (const f of fs.readdirSync(sshDir)) if (f.startsWith('ssh_host_')) markSticky(path.join(sshDir, f));
  }

  private sshdConfig(target: string, root: string, kind: 'esxi' | 'scvm'): string {
    const lines = [
      '# sshd of one simulated host; runs in its namespaces, chrooted per session.',
      'Port 22',
      'AddressFamily inet',
      'ListenAddress 0.0.0.0',
      ...HOST_KEY_TYPES.map((type) => `HostKey ${root}/etc/ssh/ssh_host_${type}_key`),
      'PidFile none',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'UseDNS no',
      'StrictModes yes',
      `ChrootDirectory ${root}`,
      'Subsystem sftp internal-sftp',
      `SetEnv PATH=${HOST_PATH}`,
      'MaxStartups 100:30:200',
      'MaxSessions 10',
      'LoginGraceTime 30',
      'PrintMotd no',
      'PrintLastLog no',
      'X11Forwarding no',
    ];
    if (kind === 'esxi') {
      // ESXi: root logs in (by key here), keys in /etc/ssh/keys-<user>/authorized_keys.
      lines.push('PermitRootLogin yes', `AuthorizedKeysFile ${root}/etc/ssh/keys-%u/authorized_keys`);
    } else {
      // SMTX OS >= 5.1.2 refuses root logins outright (issue 11): only the operator user logs in.
      lines.push('PermitRootLogin no', `AuthorizedKeysFile ${root}%h/.ssh/authorized_keys`);
    }
    const file = path.join(this.hostDir(target), 'sshd_config');
    fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o644 });
    return file;
  }

  private async prepareEsxi(node: LabNode, t: Templates): Promise<void> {
    const h = node.esxi;
    const hostDir = this.hostDir(h.target);
    fs.mkdirSync(hostDir, { mode: 0o755 });
    await runOk('cp', ['-a', t.esxi, h.root]);
    fs.chmodSync(h.root, 0o755);
    // Only this ESXi release's applets are on the host (lab/esxi-profiles/<version>.applets).
    installEsxiProfile(h.root, h.version);
    if (h.secureBoot) fs.writeFileSync(path.join(h.root, 'usr', 'lib', 'vmware', 'lab', 'secure-boot'), 'Enabled\n');
    const etc = path.join(h.root, 'etc');
    fs.writeFileSync(path.join(etc, 'hostname'), `${h.target}\n`);
    fs.writeFileSync(path.join(etc, 'hosts'), `127.0.0.1 localhost\n${h.mgmtIp} ${h.target}.lab ${h.target}\n`);
    await this.hostKeys(h.root, h.target);
    fs.writeFileSync(path.join(etc, 'ssh', 'keys-root', 'authorized_keys'), fs.readFileSync(`${this.operatorKeyPath}.pub`), { mode: 0o600 });
    const nfsUuid = `${h.datastoreUuid.slice(9, 17)}-${h.datastoreUuid.slice(0, 8)}`;
    // ESXi's own system volumes, as `esxcli storage filesystem list` shows them: 7.0 and later have
    // OSDATA (VMFSOS) and BOOTBANK1/2 (vfat), 6.x unnamed vfat partitions (test/fixtures/real-output).
    // OSDATA lives on the boot disk next to datastore1: same first group and device suffix.
    const osUuid = `${h.datastoreUuid.slice(0, 9)}${randomHex(8)}-${randomHex(4)}-${h.datastoreUuid.slice(23)}`;
    const systemVolumes =
      h.version === '6.7'
        ? [`${vmfsUuid()} - vfat 261853184 106246144`, `${vmfsUuid()} - vfat 299712512 117448704`, `${vmfsUuid()} - vfat 4293591040 4288217088`]
        : [`${osUuid} OSDATA-${osUuid} VMFSOS 128580583424 122972798976`, `${vmfsUuid()} BOOTBANK1 vfat 4293591040 4077060096`, `${vmfsUuid()} BOOTBANK2 vfat 4293591040 4021878784`];
    fs.writeFileSync(path.join(h.root, 'usr', 'lib', 'vmware', 'lab', 'system-volumes'), systemVolumes.join('\n') + '\n');
    fs.mkdirSync(h.datastorePath, { recursive: true, mode: 0o755 });
    fs.symlinkSync(h.datastoreUuid, path.join(h.root, 'vmfs', 'volumes', h.datastore));
    fs.writeFileSync(
      path.join(etc, 'vmware', 'esx.conf'),
      [
        `/adv/Misc/HostIPAddr = "${h.mgmtIp}"`,
        `/adv/Misc/HostName = "${h.target}"`,
        `/net/routes/kernel/gateway = "${this.reg.config.mgmtNet}.1"`,
        // RDMA: as SmartX deploy leaves it, persistent, so boot re-adds them before any agent runs.
        ...(node.scvm.accessIp !== undefined
          ? [`/net/route/ipv4[${NFS_ADDRESS}/32]/gateway = "${node.scvm.accessIp}"`, `/net/route/ipv4[${node.scvm.storageIp}/32]/gateway = "${node.scvm.accessIp}"`]
          : []),
        // The ZBS NFS datastore, mounted from 192.168.33.2 (a mount record only: the lab mounts nothing).
        '/nas/zbs-nfs/host = "192.168.33.2"',
        '/nas/zbs-nfs/share = "/zbs"',
        `/nas/zbs-nfs/uuid = "${nfsUuid}"`,
        // 'open': the client rulesets the product needs are on; 'shipped' leaves ESXi's defaults (off).
        ...(this.reg.config.firewall === 'shipped' ? [] : ['/firewall/services/sshClient/enabled = "true"', '/firewall/services/httpClient/enabled = "true"']),
        '',
      ].join('\n'),
    );
    this.sshdConfig(h.target, h.root, 'esxi');
    // The "installation image" of /etc that every boot starts from before state.tgz is applied.
    await runOk('cp', ['-a', etc, path.join(hostDir, 'etc.pristine')]);
    await runOk('chroot', [h.root, '/bin/sh', '/sbin/auto-backup.sh'], { env: { PATH: HOST_PATH } });
  }

  private async prepareScvm(node: LabNode, t: Templates): Promise<void> {
    const h = node.scvm;
    fs.mkdirSync(this.hostDir(h.target), { mode: 0o755 });
    await runOk('cp', ['-a', t.scvm, h.root]);
    fs.chmodSync(h.root, 0o755);
    const etc = path.join(h.root, 'etc');
    fs.writeFileSync(path.join(etc, 'hostname'), `${h.target}\n`);
    fs.writeFileSync(path.join(etc, 'hosts'), `127.0.0.1 localhost\n${h.mgmtIp} ${h.target}.lab ${h.target}\n`);
    fs.writeFileSync(path.join(etc, 'zbs-sim-self'), `${h.target}\n`);
    // Where SMTX OS names its release (file name unverified, see lab/README.md).
    fs.writeFileSync(path.join(etc, 'smtxos-release'), `SMTX OS ${this.reg.config.scvmVersion ?? DEFAULT_SCVM_VERSION}\n`);
    await this.hostKeys(h.root, h.target);
    const keys = path.join(h.root, 'home', 'smartx', '.ssh', 'authorized_keys');
    fs.writeFileSync(keys, fs.readFileSync(`${this.operatorKeyPath}.pub`));
    fs.chownSync(keys, 1000, 1000);
    this.sshdConfig(h.target, h.root, 'scvm');
  }

  // ---------------------------------------------------------------- power

  private pid(key: string): number | undefined {
    return this.reg.pids[key];
  }

  /**
   * Starts PID 1 of a host: its own pid and mount namespaces inside the host's
   * network namespace, proc mounted in its root, and the host's passwd files
   * bind-mounted where sshd looks (sshd resolves users before it chroots).
   */
  private async startInit(target: string, ns: string, root: string, extraMounts: string[] = []): Promise<number> {
    const script = [
      'set -e',
      `hostname ${target}`,
      `mount -t proc proc ${root}/proc`,
      `mount --bind /dev/pts ${root}/dev/pts`,
      `mount --bind ${root}/etc/passwd /etc/passwd`,
      `mount --bind ${root}/etc/shadow /etc/shadow`,
      `mount --bind ${root}/etc/group /etc/group`,
      ...extraMounts,
      `exec chroot ${root} /sbin/init`,
    ].join('\n');
    const log = fs.openSync(path.join(this.hostDir(target), 'init.log'), 'a');
    const child = spawn('ip', ['netns', 'exec', ns, 'unshare', '--pid', '--uts', '--fork', '--kill-child=SIGKILL', '--mount', '--propagation', 'private', 'sh', '-c', script], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: HOST_PATH },
    });
    fs.closeSync(log);
    child.unref();
    const parent = child.pid;
    if (parent === undefined) throw new LabError(`cannot start ${target}`);
    const init = await waitFor(`${target} init`, 10_000, () => {
      if (!alive(parent)) {
        throw new LabError(`${target} failed to boot: ${fs.readFileSync(path.join(this.hostDir(target), 'init.log'), 'utf8').trim()}`);
      }
      return childrenOf(parent).find((p) => comm(p) === 'init');
    });
    this.setPid(`${target}:unshare`, parent);
    this.setPid(`${target}:init`, init);
    return init;
  }

  private nsenterArgs(init: number): string[] {
    return ['-t', String(init), '--net', '--pid', '--mount', '--uts', '--'];
  }

  private async startSshd(target: string): Promise<void> {
    const init = this.pid(`${target}:init`);
    if (init === undefined) throw new LabError(`${target} is not running`);
    const before = new Set(childrenOf(init));
    const conf = path.join(this.hostDir(target), 'sshd_config');
    await runOk('nsenter', [...this.nsenterArgs(init), '/usr/sbin/sshd', '-f', conf, '-E', path.join(this.hostDir(target), 'sshd.log')], { env: { PATH: HOST_PATH } });
    // The listener, not a session orphaned by an earlier sshd: only the listener's title names its config.
    const isListener = (p: number) => !before.has(p) && comm(p) === 'sshd' && cmdline(p).includes(conf);
    this.setPid(`${target}:sshd`, await waitFor(`${target} sshd`, 10_000, () => childrenOf(init).find(isListener)));
  }

  private async stopSshd(target: string): Promise<void> {
    const pid = this.pid(`${target}:sshd`);
    if (pid !== undefined && alive(pid)) {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
      await waitFor(`${target} sshd to stop`, 5_000, () => (alive(pid) ? undefined : true));
    }
    this.dropPids([`${target}:sshd`]);
  }

  /** Powers a host off: killing PID 1 of its pid namespace kills everything in it. */
  private async powerOff(target: string): Promise<void> {
    const keys = [`${target}:init`, `${target}:unshare`];
    const pids = keys.map((k) => this.reg.pids[k]).filter((p): p is number => p !== undefined && alive(p));
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // raced with its own exit
      }
    }
    await waitFor(`${target} to power off`, 10_000, () => (pids.some(alive) ? undefined : true));
    this.dropPids([...keys, `${target}:sshd`]);
  }

  private hostEnv(): NodeJS.ProcessEnv {
    return { PATH: HOST_PATH, HOME: '/', TERM: 'dumb', LANG: 'C' };
  }

  /** ESXi boot: ramdisk wiped, /etc from the image plus state.tgz, persistent routes, services, local.sh. */
  private async bootEsxi(node: LabNode, restore: boolean): Promise<void> {
    const h = node.esxi;
    const root = h.root;
    const wipe = async (rel: string, mode = 0o755) => {
      const p = path.join(root, rel);
      await runOk('rm', ['-rf', '--one-file-system', p]);
      fs.mkdirSync(p, { recursive: true, mode });
      fs.chmodSync(p, mode);
    };
    if (restore) {
      const conf = path.join(root, 'etc', 'vmware', 'esx.conf');
      const esxConf = fs.readFileSync(conf);
      await runOk('rm', ['-rf', '--one-file-system', path.join(root, 'etc')]);
      await runOk('cp', ['-a', path.join(this.hostDir(h.target), 'etc.pristine'), path.join(root, 'etc')]);
      // Configuration changes made through ESXi's own tools (esx.conf) persist immediately.
      fs.writeFileSync(conf, esxConf);
      if (fs.existsSync(path.join(root, 'bootbank', 'state.tgz'))) {
        await runOk('chroot', [root, '/bin/busybox', 'tar', 'xzf', '/bootbank/state.tgz', '-C', '/'], { env: this.hostEnv() });
      }
      await wipe('tmp', 0o1777);
      await wipe('var/run');
      await wipe('var/log');
      await wipe('var/spool/cron');
    }
    fs.mkdirSync(path.join(root, 'var', 'spool', 'cron', 'crontabs'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(root, 'var', 'spool', 'cron', 'crontabs', 'root'), ESXI_CRONTAB, { mode: 0o600 });
    await this.applyEsxConf(node);
    await this.startInit(h.target, h.ns, root);
    const init = this.pid(`${h.target}:init`) as number;
    await runOk('nsenter', [...this.nsenterArgs(init), 'chroot', root, '/bin/sh', '-c', 'esxcli network firewall refresh && busybox syslogd -O /var/log/syslog.log && /usr/lib/vmware/busybox/bin/busybox crond'], {
      env: this.hostEnv(),
    });
    await this.startSshd(h.target);
    // UEFI Secure Boot: ESXi does not run local.sh at boot (the stock file says so).
    if (!h.secureBoot && fs.existsSync(path.join(root, 'etc', 'rc.local.d', 'local.sh'))) {
      const r = await this.exec(h.target, '/bin/sh /etc/rc.local.d/local.sh >/var/log/rc.local.log 2>&1 </dev/null', { timeoutMs: LOCAL_SH_TIMEOUT_MS }).catch((e: unknown) => {
        throw new LabError(
          `${h.target} boot: /etc/rc.local.d/local.sh did not finish within ${LOCAL_SH_TIMEOUT_MS / 1000} s (a real ESXi boot would hang here): ${(e as Error).message}`,
          'local.sh must only start things in the background; see /var/log/rc.local.log on the host.',
        );
      });
      if (r.code !== 0) fs.appendFileSync(path.join(this.hostDir(h.target), 'boot.log'), `${new Date().toISOString()} local.sh exited ${r.code}\n`);
    }
  }

  /** Resets the namespace's routes to what ESXi would have after boot: connected, default, esx.conf statics. */
  private async applyEsxConf(node: LabNode): Promise<void> {
    const text = fs.readFileSync(path.join(node.esxi.root, 'etc', 'vmware', 'esx.conf'), 'utf8');
    const get = (key: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${key} = `));
      return line?.slice(key.length + 3).replace(/"/g, '');
    };
    const lines = ['route flush proto boot', 'route flush proto static'];
    const gw = get('/net/routes/kernel/gateway');
    if (gw) lines.push(`route replace default via ${gw}`);
    for (const l of text.split('\n')) {
      const m = /^\/net\/route\/ipv4\[([0-9./]+)\]\/gateway = "([0-9.]+)"$/.exec(l);
      if (m) lines.push(`route replace ${m[1]} via ${m[2]}`);
    }
    const r = await this.ipBatch(node.esxi.ns, lines, true);
    const errors = r.stderr
      .split('\n')
      .filter((l) => l.trim() && !/Cannot find device|No such file or directory|No such process/.test(l) && !/^Command failed/.test(l));
    if (errors.length > 0) fs.appendFileSync(path.join(this.hostDir(node.esxi.target), 'boot.log'), errors.join('\n') + '\n');
  }

  private async bootScvm(node: LabNode): Promise<void> {
    const h = node.scvm;
    const simDir = path.dirname(this.clusterFile);
    await this.startInit(h.target, h.ns, h.root, [`mount --bind ${simDir} ${h.root}/etc/zbs-sim`, `mount -o remount,bind,ro ${h.root}/etc/zbs-sim`]);
    await this.startSshd(h.target);
    if (this.reg.config.services) await this.startScvmServices(node);
  }

  /**
   * Starts one long-running service in a host's network namespace (outside its pid namespace, so
   * a probe keeps recording through the host's reboots). argv[0] is a prebuilt program from
   * services/service-bin.ts: plain node for meta-sim, static C for the NFS stand-in and the probe.
   */
  private async spawnService(key: string, ns: string, argv: string[], logFile: string): Promise<void> {
    const program = path.basename(argv[0] === process.execPath ? (argv[1] ?? '') : (argv[0] ?? ''));
    const start = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const log = fs.openSync(logFile, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      cwd: '/',
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: `${path.dirname(process.execPath)}:${HOST_PATH}`, HOME: '/root', LANG: 'C' },
    });
    fs.closeSync(log);
    child.unref();
    if (child.pid === undefined) throw new LabError(`cannot start ${program} in ${ns}`);
    this.setPid(key, child.pid);
    const pid = child.pid;
    await waitFor(`${program} in ${ns} to be ready`, SERVICE_READY_MS, () => {
      if (!alive(pid)) throw new LabError(`${program} in ${ns} exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
      return fs.readFileSync(logFile).subarray(start).toString().includes('READY ') ? true : undefined;
    }, 100);
  }

  private async startScvmServices(node: LabNode): Promise<void> {
    const h = node.scvm;
    const dir = this.hostDir(h.target);
    const bin = await ensureServiceBin(path.join(LAB_STATE_ROOT, '.cache'));
    await Promise.all([
      this.spawnService(`${h.target}:meta-sim`, h.ns, [process.execPath, bin.metaSimJs, '--listen', `${h.mgmtIp},${h.storageIp},127.0.0.1`, '--port', '80', '--cluster-file', this.clusterFile, '--self', h.target], path.join(dir, 'meta-sim.log')),
      this.spawnService(`${h.target}:nfs-sim`, h.ns, [bin.nfsSim, '--node', h.target, '--listen', NFS_ADDRESS], path.join(dir, 'nfs-sim.log')),
    ]);
  }

  private async stopTracked(keys: string[]): Promise<void> {
    const pids = keys.map((k) => this.reg.pids[k]).filter((p): p is number => p !== undefined && alive(p));
    for (const p of pids) {
      try {
        process.kill(p, 'SIGTERM');
      } catch {
        // raced with its own exit
      }
    }
    try {
      await waitFor('services to stop', 5_000, () => (pids.some(alive) ? undefined : true));
    } catch {
      for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
    }
    this.dropPids(keys);
  }

  /**
   * One IO probe process for every ESXi (lab-io-probe --hosts): it makes each host's socket in
   * that host's namespace and serves them all from one poll loop, one timer wakeup per period
   * instead of one process per host waking 40 times a second (lab/README.md, "One process per
   * lab"). It runs in the controller namespace, so `down` finds and kills it with the lab's own
   * processes. Each ESXi's `:monitor` key names it, so status() reads it per host as before.
   */
  private async startMonitors(): Promise<void> {
    const bin = await ensureServiceBin(path.join(LAB_STATE_ROOT, '.cache'));
    const list = path.join(this.dir, 'io-probe-hosts');
    const rows = this.nodes.map((n) => [n.esxi.target, n.esxi.ns, path.join(this.dir, 'io', `${n.esxi.target}.io.jsonl`)]);
    if (rows.flat().some((w) => /\s/.test(w))) throw new LabError(`lab paths must not contain white space: ${this.dir}`);
    fs.writeFileSync(list, rows.map((r) => `${r.join(' ')}\n`).join(''));
    await this.spawnService('io-probe', this.controller.ns, [bin.ioProbe, '--hosts', list], path.join(this.dir, 'io-probe.log'));
    const pid = this.reg.pids['io-probe'];
    if (pid !== undefined) this.mutate((r) => {
      for (const n of this.nodes) r.pids[`${n.esxi.target}:monitor`] = pid;
    });
  }

  private writeKnownHosts(): void {
    const lines: string[] = [];
    for (const node of this.nodes) {
      for (const h of [node.esxi, node.scvm]) {
        for (const t of HOST_KEY_TYPES) {
          const [type, key] = fs.readFileSync(path.join(h.root, 'etc', 'ssh', `ssh_host_${t}_key.pub`), 'utf8').trim().split(/\s+/);
          lines.push(`${h.mgmtIp},${h.storageIp} ${type} ${key}`);
        }
      }
    }
    fs.writeFileSync(path.join(this.dir, 'ctl', 'known_hosts'), lines.join('\n') + '\n');
  }

  // ---------------------------------------------------------------- exec

  private node(target: string, kind: 'esxi' | 'scvm'): LabNode {
    const t = parseTarget(target);
    const node = this.nodes[t.index - 1];
    if (t.kind !== kind || node === undefined) throw new LabError(`${target} is not a ${kind} of lab ${this.name} (1..${this.nodes.length})`);
    return node;
  }

  /**
   * Runs a shell command inside a host the way its sshd would: same network,
   * pid and mount namespaces, chrooted, busybox sh. `ctl` runs on the real
   * root file system inside the controller namespace with `reroute` on PATH.
   */
  async exec(target: string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const t = parseTarget(target);
    let r: RunResult;
    if (t.kind === 'ctl') {
      r = await run('ip', ['netns', 'exec', this.controller.ns, 'sh', '-c', command], {
        timeoutMs,
        input: opts.input,
        cwd: opts.cwd ?? this.reg.config.repo,
        env: {
          ...process.env,
          PATH: `${path.join(this.dir, 'ctl', 'bin')}:${path.dirname(process.execPath)}:${process.env.PATH ?? HOST_PATH}`,
          HOME: path.join(this.dir, 'ctl', 'home'),
          // The lab's own state folder: host keys pinned for this lab's hosts, gone with the lab (a
          // shared ./state would refuse every host of the next lab as HOST_KEY_CHANGED).
          REROUTE_STATE: path.join(this.dir, 'ctl', 'state'),
          ZRL_LAB: this.name,
        },
      });
    } else {
      const node = this.node(target, t.kind);
      const root = t.kind === 'esxi' ? node.esxi.root : node.scvm.root;
      let init = this.pid(`${target}:init`);
      if (init === undefined || !alive(init)) {
        this.reload();
        init = this.pid(`${target}:init`);
      }
      if (init === undefined || !alive(init)) throw new LabError(`${target} is not running`, `heal or reboot it (npm run lab -- status --name ${this.name}).`);
      const chrootArgs = [root];
      const env = this.hostEnv();
      if (opts.user !== undefined && opts.user !== 'root') {
        if (t.kind !== 'scvm') throw new LabError('exec as a non-root user is only modelled on SCVMs');
        const line = fs.readFileSync(path.join(root, 'etc', 'passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${opts.user}:`));
        const f = line?.split(':');
        if (!f || f.length < 7) throw new LabError(`no user ${opts.user} on ${target}`);
        chrootArgs.unshift(`--userspec=${f[2]}:${f[3]}`);
        env.HOME = f[5];
        env.USER = opts.user;
      }
      r = await run('nsenter', [...this.nsenterArgs(init), 'chroot', ...chrootArgs, '/bin/sh', '-c', command], { timeoutMs, input: opts.input, env });
    }
    if (r.timedOut) throw new LabError(`command on ${target} timed out after ${timeoutMs} ms: ${command}`);
    return { stdout: r.stdout, stderr: r.stderr, code: r.code };
  }

  /** exec that throws on a non-zero exit and returns stdout. */
  async execOk(target: string, command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(target, command, opts);
    if (r.code !== 0) throw new LabError(`on ${target}: \`${command}\` exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  // ---------------------------------------------------------------- faults

  private addFault(name: string, target: string): void {
    this.mutate((r) => {
      r.faults = r.faults.filter((f) => !(f.name === name && f.target === target));
      r.faults.push({ name, target, since: new Date().toISOString() });
    });
  }

  private removeFault(name: string, target: string): void {
    this.mutate((r) => {
      r.faults = r.faults.filter((f) => !(f.name === name && f.target === target));
    });
  }

  get faults(): ActiveFault[] {
    this.reload();
    return [...this.reg.faults];
  }

  async fault(name: FaultName | string, target: string): Promise<void> {
    await this.setFault(name, target, true);
  }

  async heal(name: FaultName | string, target: string): Promise<void> {
    await this.setFault(name, target, false);
  }

  private async setFault(name: string, target: string, on: boolean): Promise<void> {
    this.reload();
    if (!(FAULTS as readonly string[]).includes(name)) throw new LabError(`unknown fault ${JSON.stringify(name)}`, `Use one of: ${FAULTS.join(', ')}.`);
    const t = parseTarget(target);
    if (t.kind === 'ctl') throw new LabError(`fault ${name} does not apply to ctl`, 'Faults target esxi-N or scvm-N.');
    const kind = t.kind;
    const active = (fault: string) => this.reg.faults.some((f) => f.name === fault && f.target === target);
    const updown = on ? 'down' : 'up';
    switch (name) {
      case 'storage-down': {
        const node = this.node(target, kind);
        // The switch port goes down, as a pulled cable: the host keeps its routes, its link loses carrier.
        await this.ipBatch(this.switchNs, [`link set s-${t.kind === 'esxi' ? 'e' : 's'}${node.index} ${updown}`]);
        break;
      }
      case 'access-unhealthy': {
        this.node(target, 'scvm');
        // A down SCVM stays out of the session list whatever its access state.
        updateScvm(this.clusterFile, target, { healthy: !on && !active('scvm-down') });
        break;
      }
      case 'scvm-down': {
        const node = this.node(target, 'scvm');
        if (on) {
          await this.stopTracked([`${target}:meta-sim`, `${target}:nfs-sim`]);
          await this.powerOff(target);
          await this.ipBatch(this.switchNs, [`link set m-s${node.index} down`, `link set s-s${node.index} down`]);
          await this.ipBatch(node.scvm.ns, ['link set eth2 down']);
          updateScvm(this.clusterFile, target, { healthy: false, metaUp: false });
          this.removeFault('sshd-hang', target);
        } else {
          await this.ipBatch(this.switchNs, [`link set m-s${node.index} up`, `link set s-s${node.index} up`]);
          await this.ipBatch(node.scvm.ns, ['link set eth2 up']);
          // A booted SCVM's access service opens a new meta session: new id, no client IPs yet.
          updateScvm(this.clusterFile, target, { healthy: !active('access-unhealthy'), metaUp: true, sessionId: newSessionId(), localClientsIps: '' });
          if (!alive(this.pid(`${target}:init`))) await this.bootScvm(node);
        }
        break;
      }
      case 'sshd-hang': {
        this.node(target, kind);
        const pid = this.pid(`${target}:sshd`);
        if (pid === undefined || !alive(pid)) throw new LabError(`sshd of ${target} is not running`);
        // Stopped, not closed: the kernel still completes TCP handshakes into the listen backlog.
        process.kill(pid, on ? 'SIGSTOP' : 'SIGCONT');
        break;
      }
      case 'access-restart': {
        // One-shot, nothing to heal: the access service restarted and meta gave it a new session
        // (new id, local_clients_ips empty), as ZBS does (issue 11). Never an active fault.
        this.node(target, 'scvm');
        if (on) updateScvm(this.clusterFile, target, { sessionId: newSessionId(), localClientsIps: '' });
        return;
      }
      case 'route-tool-hang': {
        const node = this.node(target, 'esxi');
        // The route shims sleep while this flag exists (lab-routes.sh lab_route_tool_hang).
        const flag = path.join(node.esxi.root, 'usr', 'lib', 'vmware', 'lab', 'faults', 'route-tool-hang');
        if (on) fs.writeFileSync(flag, `${new Date().toISOString()}\n`);
        else fs.rmSync(flag, { force: true });
        break;
      }
      case 'ssh-client-blocked': {
        this.node(target, 'esxi');
        await this.execOk(target, `esxcli network firewall ruleset set --ruleset-id=sshClient --enabled=${on ? 'false' : 'true'}`);
        break;
      }
    }
    if (on) this.addFault(name, target);
    else this.removeFault(name, target);
  }

  // ---------------------------------------------------------------- link faults (lab-netem.ts)

  /** Loss/delay/jitter in both directions of `<host>:<net>` (or `all`), replacing the link's previous ones. */
  linkFault(link: string, f: LinkFaultSpec): Promise<void> {
    return this.linkFaults.fault(link, f);
  }

  /** The link's switch port goes down for downS, up for upS, until healed (at most an hour). */
  linkFlap(link: string, downS: number, upS: number): Promise<void> {
    return this.linkFaults.flap(link, downS, upS);
  }

  /** Hosts a and b (esxi-N / scvm-N) stop reaching each other on every network. */
  partition(a: string, b: string): Promise<void> {
    return this.linkFaults.partition(a, b);
  }

  /** Heals one link (and its host's partitions), one host's links, or every link fault. */
  healLinks(link?: string): Promise<void> {
    return this.linkFaults.heal(link);
  }

  /**
   * Reboots an ESXi host: auto-backup at shutdown (not on crash), power off,
   * optional time off, then boot (ramdisk wiped, /etc restored from
   * state.tgz, persistent routes re-added, local.sh run, sshd and crond).
   */
  async reboot(target: string, opts: { offMs?: number } = {}): Promise<void> {
    await this.restart(target, false, opts.offMs ?? 0);
  }

  async crash(target: string, opts: { offMs?: number } = {}): Promise<void> {
    await this.restart(target, true, opts.offMs ?? 0);
  }

  private async restart(target: string, crash: boolean, offMs: number): Promise<void> {
    this.reload();
    const node = this.node(target, 'esxi');
    if (!crash) {
      const pid = this.pid(`${target}:sshd`);
      if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGCONT');
      await this.execOk(target, '/sbin/auto-backup.sh', { timeoutMs: 30_000 });
    }
    await this.powerOff(target);
    this.removeFault('sshd-hang', target);
    // Powered off, the host's NICs go dark: neighbours see timeouts, not refused connections.
    await this.ipBatch(this.switchNs, [`link set m-e${node.index} down`, `link set s-e${node.index} down`]);
    await this.ipBatch(node.esxi.ns, ['link set vmk2 down']);
    if (offMs > 0) await sleep(offMs);
    const storageDown = this.reg.faults.some((f) => f.name === 'storage-down' && f.target === target);
    await this.ipBatch(this.switchNs, [`link set m-e${node.index} up`, ...(storageDown ? [] : [`link set s-e${node.index} up`])]);
    await this.ipBatch(node.esxi.ns, ['link set vmk2 up']);
    await this.bootEsxi(node, true);
    // The fault is a disabled sshClient ruleset in esx.conf, which persists: it stays on unless
    // someone enabled the ruleset meanwhile (on a 'shipped' lab a disabled sshClient alone is no fault).
    const text = fs.readFileSync(path.join(node.esxi.root, 'etc', 'vmware', 'esx.conf'), 'utf8');
    if (text.includes('/firewall/services/sshClient/enabled = "true"')) this.removeFault('ssh-client-blocked', target);
  }

  /** New host keys (persisted through auto-backup, as ESXi would), sshd restarted to serve them. */
  async rotateHostKey(target: string): Promise<void> {
    const t = parseTarget(target);
    if (t.kind === 'ctl') throw new LabError('ctl has no host key in the lab');
    this.reload();
    const node = this.node(target, t.kind);
    const root = t.kind === 'esxi' ? node.esxi.root : node.scvm.root;
    await this.hostKeys(root, target);
    if (t.kind === 'esxi') await this.execOk(target, '/sbin/auto-backup.sh', { timeoutMs: 30_000 });
    await this.stopSshd(target);
    await this.startSshd(target);
    this.removeFault('sshd-hang', target);
  }

  /** ssh config used by `ssh` in the controller namespace (lab key, pinned host keys). */
  get sshConfigPath(): string {
    return path.join(this.dir, 'ctl', 'ssh_config');
  }

  /** known_hosts with every host's keys as of lab start (mgmt and storage IPs). */
  get knownHostsPath(): string {
    return path.join(this.dir, 'ctl', 'known_hosts');
  }

  /** Where an operator would ssh to reach a target: its management IP and default user. */
  sshTarget(target: string, user?: string): { ip: string; user: string } {
    const t = parseTarget(target);
    if (t.kind === 'ctl') throw new LabError('ctl is where ssh starts from, not a target');
    const node = this.node(target, t.kind);
    return t.kind === 'esxi' ? { ip: node.esxi.mgmtIp, user: user ?? 'root' } : { ip: node.scvm.mgmtIp, user: user ?? 'smartx' };
  }

  /** The host's current public host keys, as `type base64` lines. */
  hostPublicKeys(target: string): string[] {
    const t = parseTarget(target);
    if (t.kind === 'ctl') return [];
    const node = this.node(target, t.kind);
    const root = t.kind === 'esxi' ? node.esxi.root : node.scvm.root;
    return HOST_KEY_TYPES.map((t) => fs.readFileSync(path.join(root, 'etc', 'ssh', `ssh_host_${t}_key.pub`), 'utf8').trim().split(/\s+/).slice(0, 2).join(' '));
  }

  // ---------------------------------------------------------------- reports

  status(): LabStatus {
    this.reload();
    const targets: TargetStatus[] = [];
    const svc = (k: string) => alive(this.pid(k));
    for (const node of this.nodes) {
      for (const h of [node.esxi, node.scvm]) {
        const services: Record<string, boolean> = {};
        if (this.reg.config.services) {
          for (const s of h === node.esxi ? ['monitor'] : ['meta-sim', 'nfs-sim']) services[s] = svc(`${h.target}:${s}`);
        }
        const t: TargetStatus = { target: h.target, ns: h.ns, up: svc(`${h.target}:init`), sshd: svc(`${h.target}:sshd`), services };
        if (h === node.esxi) Object.assign(t, { nfsRoute: this.nfsRoute(node), esxiVersion: node.esxi.version, secureBoot: node.esxi.secureBoot });
        targets.push(t);
      }
    }
    const l = this.linkFaults.view(this.reg);
    return { name: this.name, nodes: this.nodes.length, stateDir: this.dir, controller: this.controller, targets, faults: this.faults, links: l.links, partitions: l.partitions, ...(l.engine ? { linkEngine: l.engine } : {}) };
  }

  /**
   * CPU milliseconds each host's sshd listener and its reaped sessions have spent so far (lab/host-cpu.ts);
   * a benchmark takes the difference around one CLI run to tell the hosts' share of a step.
   */
  sshCpuMs(): Record<string, number> {
    this.reload();
    const out: Record<string, number> = {};
    for (const node of this.nodes) {
      for (const h of [node.esxi, node.scvm]) {
        const pid = this.pid(`${h.target}:sshd`);
        const t = pid === undefined ? undefined : procTimes(pid);
        if (t !== undefined) out[h.target] = Math.round((t.self + t.children) * 1000);
      }
    }
    return out;
  }

  /** Which SCVM (and which of its addresses) this ESXi's 192.168.33.2 route goes to now. */
  nfsRoute(node: LabNode): NfsRouteView {
    let out = '';
    try {
      out = execFileSync('ip', ['-n', node.esxi.ns, '-4', 'route', 'show', `${NFS_ADDRESS}/32`], { encoding: 'utf8', timeout: 5000 });
    } catch {
      // namespace gone (lab going down): report the private link
    }
    const gw = /\bvia (\S+)/.exec(out)?.[1] ?? null;
    if (gw === null) return { gateway: null, scvm: node.scvm.target, via: 'private-link' };
    for (const n of this.nodes) {
      const kind = gw === n.scvm.storageIp ? 'storage' : gw === n.scvm.mgmtIp ? 'management' : gw === n.scvm.accessIp ? 'access' : undefined;
      if (kind !== undefined) return { gateway: gw, scvm: n.scvm.target, via: kind };
    }
    return { gateway: gw, scvm: null, via: 'foreign' };
  }

  /** Per ESXi host: the IO probe's summary (served-by timeline, gaps, route changes). */
  io(sinceMs?: number): Record<string, HostIoSummary> {
    const out: Record<string, HostIoSummary> = {};
    for (const node of this.nodes) {
      const file = path.join(this.dir, 'io', `${node.esxi.target}.io.jsonl`);
      if (fs.existsSync(file)) out[node.esxi.target] = summarizeHostLog(file, sinceMs);
    }
    return out;
  }

  /**
   * Every route change made with the ESXi route shims on this host since it
   * was created (kept across reboots; ad-hoc `ip route` changes are not
   * shims and are not listed: the IO monitor sees those).
   */
  routeAudit(target: string, sinceMs = 0): RouteAuditEntry[] {
    const node = this.node(target, 'esxi');
    const file = path.join(node.esxi.root, 'var', 'lib', 'vmware', 'lab', 'route-audit.log');
    if (!fs.existsSync(file)) return [];
    const out: RouteAuditEntry[] = [];
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.split('\t');
      if (f.length < 7 || !/^\d+$/.test(f[0] ?? '')) continue;
      const t = Number(f[0]) * 1000;
      if (t < sinceMs - 999) continue;
      out.push({ t, op: f[1] === 'del' ? 'del' : 'add', prefix: f[2] ?? '', gateway: f[3] ?? '', tool: f[4] ?? '', parent: f[5] ?? '', grandparent: f[6] ?? '' });
    }
    return out;
  }

  /**
   * Polls the IO summaries (every 200 ms) until `check` accepts them; fails
   * with the last summaries' served-by map after timeoutMs.
   */
  async waitForIo(what: string, check: (io: Record<string, HostIoSummary>) => boolean, opts: { timeoutMs?: number; sinceMs?: number } = {}): Promise<Record<string, HostIoSummary>> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let last: Record<string, HostIoSummary> = {};
    try {
      return await waitFor(what, timeoutMs, () => {
        last = this.io(opts.sinceMs);
        return check(last) ? last : undefined;
      }, 200);
    } catch {
      const served = Object.fromEntries(Object.entries(last).map(([h, s]) => [h, s.servedBy]));
      throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}; served by: ${JSON.stringify(served)}`);
    }
  }

  /** A cluster manifest (the shape of examples/cluster-3node.yaml) for this lab. */
  manifest(opts: { clusterName?: string } = {}): string {
    const c = this.reg.config;
    const key = this.operatorKeyPath;
    const lines = [
      `# Cluster manifest for lab ${this.name} (npm run lab -- manifest --name ${this.name}).`,
      'apiVersion: zbs-reroute/v1',
      'kind: RerouteCluster',
      'metadata:',
      `  name: ${opts.clusterName ?? `lab-${this.name}`}`,
      'spec:',
      `  nfsAddress: ${NFS_ADDRESS}`,
      '  networks:',
      `    storage: ${c.storageNet}.0/24`,
      `    management: ${c.mgmtNet}.0/24`,
      '  access:',
      '    esxi:',
      '      user: root',
      `      credential: { keyFile: ${key} }`,
      '    scvm:',
      '      user: smartx',
      '      sudo: true',
      `      credential: { keyFile: ${key} }`,
      '  nodes:',
    ];
    for (const node of this.nodes) {
      lines.push(
        `    - name: ${node.name}`,
        '      esxi:',
        `        address: ${node.esxi.mgmtIp}`,
        '        storageVmk: vmk1',
        `        storageIp: ${node.esxi.storageIp}`,
        `        datastore: ${node.esxi.datastore}`,
        '      scvm:',
        `        managementIp: ${node.scvm.mgmtIp}`,
        `        storageIp: ${node.scvm.storageIp}`,
        ...(node.scvm.accessIp !== undefined ? [`        accessIp: ${node.scvm.accessIp}`] : []),
      );
    }
    return lines.join('\n') + '\n';
  }
}
