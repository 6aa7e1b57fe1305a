/**
 * The lab's address plan and host descriptors: what a lab of N nodes is made
 * of, derived from its options (at start) or its registry (at attach), with
 * no side effects, so every other part of the lab can name hosts, namespaces
 * and addresses the same way.
 */
import * as path from 'node:path';
import { LabError } from './proc';
import { ESXI_VERSIONS, type EsxiVersion } from './rootfs';
import { labDir, repoRoot, type LabConfig, type Registry } from './registry';

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

/** Everything about a lab that follows from its registry alone. */
export interface LabTopology {
  name: string;
  dir: string;
  nodes: LabNode[];
  controller: { ns: string; ip: string };
  operatorKeyPath: string;
  clusterFile: string;
  switchNs: string;
}

export const NFS_ADDRESS = '192.168.33.2';
export const ESXI_LINK_IP = '192.168.33.1';
/** ESXi .11-.74, SCVMs .101-.164, controller .250 in each /24; services cost ~50 MB per node (lab/README.md). */
const MAX_NODES = 64;
const MAX_RDMA_NODES = 49;
/** SMTX OS 5.1.2 is the first release with `PermitRootLogin no` on SCVMs (issue 11). */
export const DEFAULT_SCVM_VERSION = '5.1.2';

export function randomHex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

/** ESXi VMFS volume UUIDs look like 5f3c1b2a-8e1d4f20-1c2b-000c29aabbcc. */
export function vmfsUuid(): string {
  return `${randomHex(8)}-${randomHex(8)}-${randomHex(4)}-${randomHex(12)}`;
}

/** 00:50:56 is VMware's OUI: the interfaces look like a real host's vmknics and vNICs. */
export function mac(kind: number, index: number, port: number): string {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return `00:50:56:${h(0x60 + kind)}:${h(index)}:${h(port)}`;
}

export function parseTarget(target: string): { kind: 'ctl' | 'esxi' | 'scvm'; index: number } {
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
    if (!(t in out))
      throw new LabError(`esxiVersion: ${JSON.stringify(t)} is not an ESXi host of a ${n}-node lab`, 'Name targets esxi-1..esxi-N.');
    if (!ok(ver)) throw new LabError(`esxiVersion of ${t}: ${JSON.stringify(ver)} is not one of ${ESXI_VERSIONS.join(', ')}`);
    out[t] = ver;
  }
  return out;
}

function octetsOk(net: string): boolean {
  const parts = net.split('.');
  return parts.length === 3 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/**
 * Checks the options and returns the lab's configuration, before anything
 * exists on the machine: a bad option must fail a start that created nothing.
 */
export function planConfig(name: string, opts: LabOptions): LabConfig {
  const n = opts.nodes;
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODES) throw new LabError(`nodes must be 1..${MAX_NODES}, got ${n}`);
  // RDMA access IPs are <storage-net>.(150+N): beyond 49 nodes they would collide with SCVM storage IPs (100+N).
  if (opts.rdma === true && n > MAX_RDMA_NODES)
    throw new LabError(
      `an --rdma lab has at most ${MAX_RDMA_NODES} nodes, got ${n}`,
      'Access IPs are <storage-net>.(150+N) and SCVM storage IPs .(100+N).',
    );
  const mgmtNet = opts.mgmtNet ?? '10.10.0';
  const storageNet = opts.storageNet ?? '10.20.0';
  if (!octetsOk(mgmtNet) || !octetsOk(storageNet) || mgmtNet === storageNet) {
    throw new LabError(`bad address plan ${mgmtNet} / ${storageNet}`, 'Give two different /24 prefixes as three octets, e.g. 10.10.0.');
  }
  const esxiVersions = resolveEsxiVersions(opts.esxiVersion, n);
  const firewall = opts.firewall ?? 'open';
  if (firewall !== 'open' && firewall !== 'shipped')
    throw new LabError(`firewall must be open or shipped, got ${JSON.stringify(firewall)}`);
  for (const t of opts.secureBoot ?? []) {
    const m = /^esxi-(\d+)$/.exec(t);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > n)
      throw new LabError(`secureBoot: ${JSON.stringify(t)} is not an ESXi host of a ${n}-node lab`, 'Name targets esxi-1..esxi-N.');
  }
  return {
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
}

/** A fresh registry for a planned lab; its namespace names are the ones `down` will accept. */
export function newRegistry(config: LabConfig): Registry {
  const prefix = `zrl-${config.name}-`;
  const namespaces = [`${prefix}sw`, `${prefix}ctl`];
  for (let i = 1; i <= config.nodes; i++) namespaces.push(`${prefix}esxi-${i}`, `${prefix}scvm-${i}`);
  return {
    version: 1,
    name: config.name,
    prefix,
    createdAt: new Date().toISOString(),
    owner: { pid: process.pid, ppid: process.ppid, jest: process.env.JEST_WORKER_ID !== undefined },
    namespaces,
    bridges: [`${prefix}sw/br-mgmt`, `${prefix}sw/br-stor`],
    pids: {},
    faults: [],
    config,
  };
}

export function topologyOf(reg: Registry): LabTopology {
  const c = reg.config;
  const dir = labDir(c.name);
  const nodes: LabNode[] = [];
  for (let i = 1; i <= c.nodes; i++) {
    const uuid = c.datastoreUuids[i - 1] ?? '';
    const esxiRoot = path.join(dir, `esxi-${i}`, 'root');
    nodes.push({
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
        root: path.join(dir, `scvm-${i}`, 'root'),
        ...(c.rdma === true ? { accessIp: `${c.storageNet}.${150 + i}` } : {}),
      },
    });
  }
  return {
    name: c.name,
    dir,
    nodes,
    controller: { ns: `${reg.prefix}ctl`, ip: `${c.mgmtNet}.250` },
    operatorKeyPath: path.join(dir, 'keys', 'operator_id_rsa'),
    clusterFile: path.join(dir, 'cluster', 'cluster.json'),
    switchNs: `${reg.prefix}sw`,
  };
}
