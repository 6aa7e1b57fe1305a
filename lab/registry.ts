/**
 * The registry: the one file per lab that lists everything the lab created
 * (namespaces, tracked processes) plus the lab's configuration. `down` and
 * the jest teardown act only on what a registry lists, so a lab never
 * touches namespaces or processes it did not create.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError } from './proc';

/** Root-owned and outside /tmp: sshd refuses a chroot under a world-writable directory. */
export const LAB_STATE_ROOT = process.env.ZRL_STATE_ROOT ?? '/var/lib/zbs-reroute-lab';

/**
 * The repository root, found from this file whether it runs from lab/ (tsx)
 * or from a compiled dist/lab/: the shims, native sources and services are
 * read from the source tree either way.
 */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'lab', 'esxi-shims'))) return dir;
    dir = path.dirname(dir);
  }
  throw new LabError(`cannot find the repository root above ${__dirname}`, 'Run the lab from a checkout of zbs-reroute.');
}

export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,23}$/;

export interface LabConfig {
  name: string;
  nodes: number;
  /** First three octets of the /24 management and storage networks. */
  mgmtNet: string;
  storageNet: string;
  repo: string;
  services: boolean;
  datastoreUuids: string[];
  /** RDMA lab: SCVM access IPs and the routes via them (absent in older registries = false). */
  rdma?: boolean;
  /** SMTX OS version in each SCVM's /etc/smtxos-release (absent = 5.1.2). */
  scvmVersion?: string;
  /** ESXi version profile per ESXi target ('esxi-1' -> '6.7'); absent = 7.0. */
  esxiVersions?: Record<string, '6.7' | '7.0' | '8.0'>;
  /** ESXi firewall at install: 'open' (sshClient, httpClient on) or 'shipped' (both off). */
  firewall?: 'open' | 'shipped';
  /** ESXi targets booted with UEFI Secure Boot (local.sh not run at boot). */
  secureBoot?: string[];
}

export interface ActiveFault {
  name: string;
  target: string;
  since: string;
}

/** A link fault (lab/lab-netem.ts): loss/delay each direction, and/or a flapping switch port. */
export interface LinkFaultState {
  /** <host>:<net>, e.g. scvm-1:storage. */
  link: string;
  since: string;
  loss?: number;
  delayMs?: number;
  jitterMs?: number;
  flap?: { downS: number; upS: number };
}

export interface Registry {
  version: 1;
  name: string;
  /** Every namespace of this lab starts with this; `down` refuses any other name. */
  prefix: string;
  createdAt: string;
  owner: { pid: number; ppid: number; jest: boolean };
  namespaces: string[];
  /**
   * Bridges, as "namespace/bridge". Like every veth they live inside a lab
   * namespace and go with it; listed so the registry names all the lab made.
   */
  bridges?: string[];
  /** key "esxi-1:init" etc. -> host pid */
  pids: Record<string, number>;
  faults: ActiveFault[];
  /** Link faults and partitions (absent in registries of labs without any). */
  links?: LinkFaultState[];
  partitions?: { a: string; b: string; since: string }[];
  /** How link faults are made on this machine, found at the first one: tc netem or the bpf stand-in. */
  linkEngine?: 'netem' | 'bpf';
  config: LabConfig;
}

export function labDir(name: string): string {
  return path.join(LAB_STATE_ROOT, name);
}

export function registryPath(name: string): string {
  return path.join(labDir(name), 'registry.json');
}

export function checkName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new LabError(`invalid lab name ${JSON.stringify(name)}`, 'Use 1-24 characters: lower-case letters, digits, dashes.');
  }
}

export function readRegistry(name: string): Registry {
  checkName(name);
  const file = registryPath(name);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new LabError(`no lab named ${name} (no ${file})`, 'Start one with `npm run lab -- up --nodes 3`.');
  }
  const reg = JSON.parse(text) as Registry;
  if (reg.version !== 1 || reg.name !== name || reg.prefix !== `zrl-${name}-`) {
    throw new LabError(`registry ${file} does not belong to lab ${name}`, 'Remove it by hand after checking what it lists.');
  }
  return reg;
}

export function writeRegistry(reg: Registry): void {
  const file = registryPath(reg.name);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(reg, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

const LOCK_WAIT_MS = 5_000;
const LOCK_STALE_MS = 10_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Read-modify-write of a lab's registry under a lock file, so separate
 * processes (the CLI next to a test, or commands run in parallel by a
 * script) never lose each other's pids or faults. Synchronous on purpose:
 * nothing else in this process can interleave either.
 */
export function updateRegistry(name: string, fn: (reg: Registry) => void): Registry {
  const lock = `${registryPath(name)}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, 'wx'));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        // A holder that died mid-update leaves its lock behind; updates take milliseconds.
        if (Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) fs.unlinkSync(lock);
      } catch {
        // the holder released it meanwhile
      }
      if (Date.now() > deadline)
        throw new LabError(
          `registry of lab ${name} stayed locked for ${LOCK_WAIT_MS} ms (${lock})`,
          'Remove the lock file if no lab command is running.',
        );
      sleepSync(5);
    }
  }
  try {
    const reg = readRegistry(name);
    fn(reg);
    writeRegistry(reg);
    return reg;
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

export function listLabNames(): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(LAB_STATE_ROOT);
  } catch {
    return [];
  }
  return entries.filter((e) => NAME_RE.test(e) && fs.existsSync(registryPath(e))).sort();
}
