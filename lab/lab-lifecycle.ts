/**
 * Creating and removing whole labs. A lab exists from the moment its
 * registry is written, before any namespace or process: whatever a start
 * made, `down` can find and remove, even after the start failed half-way or
 * its process was killed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { newScvmState, writeClusterState, type ClusterState } from './services/cluster-state';
import { alive, LabError, parallel, run, runOk, waitFor } from './proc';
import { ensureTemplates, type Templates } from './rootfs';
import { checkName, labDir, LAB_STATE_ROOT, readRegistry, registryPath, writeRegistry } from './registry';
import { prepareEsxi, prepareScvm, writeKnownHosts } from './lab-host-roots';
import { createController, createSwitch, wireNode } from './lab-network';
import { bootEsxi, bootScvm } from './lab-power';
import { startMonitors } from './lab-sim-services';
import { LabState } from './lab-state';
import { newRegistry, planConfig, type LabOptions } from './lab-topology';

/** Namespaces, nodes and host keys are set up this many at a time: most of it waits on ssh-keygen and cp. */
const START_PARALLELISM = 8;

const TRACE = process.env.ZRL_TRACE === '1';
const T0 = Date.now();

/** ZRL_TRACE=1 prints phase timings to stderr (used for the README's start/stop figures). */
function trace(msg: string): void {
  if (TRACE) process.stderr.write(`[lab +${((Date.now() - T0) / 1000).toFixed(2)}s] ${msg}\n`);
}

function netnsInode(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

export async function startLab(opts: LabOptions): Promise<LabState> {
  if (process.getuid?.() !== 0) throw new LabError('the lab needs root (network namespaces, chroot, mknod)', 'Run as root.');
  const name = opts.name ?? 'lab';
  checkName(name);
  const config = planConfig(name, opts);
  if (fs.existsSync(registryPath(name)) && opts.replaceStale === true) {
    const owner = readRegistry(name).owner;
    if (!alive(owner.pid)) await downLab(name);
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
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir}/`))
      throw new LabError(`something is mounted under ${dir}`, `umount it (grep ${dir} /proc/self/mountinfo).`);
    await runOk('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 120_000 });
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(LAB_STATE_ROOT, 0o755);
  fs.chmodSync(dir, 0o755);
  const reg = newRegistry(config);
  // Written before anything exists, so a start that fails half-way can still be torn down.
  writeRegistry(reg);
  const s = new LabState(reg);
  try {
    await create(s, templates);
  } catch (e) {
    await downLab(name).catch(() => undefined);
    throw e;
  }
  return s;
}

async function create(s: LabState, t: Templates): Promise<void> {
  const reg = s.reg;
  for (const ns of reg.namespaces) await runOk('ip', ['netns', 'add', ns]);
  // IPv4-only lab (as the modelled vmknics): no IPv6 link-local noise in routes and probes.
  await parallel(reg.namespaces, START_PARALLELISM, (ns) =>
    runOk('ip', [
      'netns',
      'exec',
      ns,
      'sh',
      '-c',
      'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6',
    ]),
  );
  await createSwitch(s);
  await createController(s);
  fs.mkdirSync(path.join(s.dir, 'keys'), { mode: 0o700 });
  await runOk('ssh-keygen', [
    '-q',
    '-t',
    'rsa',
    '-b',
    '2048',
    '-m',
    'PEM',
    '-N',
    '',
    '-C',
    `zrl-operator@${s.name}`,
    '-f',
    s.operatorKeyPath,
  ]);
  fs.mkdirSync(path.join(s.dir, 'io'), { mode: 0o755 });
  fs.mkdirSync(path.dirname(s.clusterFile), { mode: 0o755 });
  const state: ClusterState = { version: 1, scvms: {} };
  for (const node of s.nodes)
    state.scvms[node.scvm.target] = newScvmState(node.scvm.target, node.index, node.scvm.storageIp, node.scvm.mgmtIp);
  writeClusterState(s.clusterFile, state);
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  trace('namespaces, switch and controller ready');
  await parallel(s.nodes, START_PARALLELISM, async (node) => {
    await wireNode(s, node);
    await Promise.all([prepareEsxi(s, node, t), prepareScvm(s, node, t)]);
    trace(`node-${node.index}: wired, roots prepared`);
    await bootScvm(s, node);
    trace(`node-${node.index}: scvm up`);
    await bootEsxi(s, node, false);
    trace(`node-${node.index}: esxi up`);
  });
  writeKnownHosts(s);
  if (s.config.services) {
    await startMonitors(s);
    trace('IO probes running');
  }
}

/**
 * Removes a lab: kills every process in its namespaces (they would outlive
 * the namespace otherwise), deletes the namespaces it lists, then its state
 * directory. Refuses namespaces that are not this lab's.
 */
export async function downLab(name: string): Promise<void> {
  const reg = readRegistry(name);
  for (const ns of reg.namespaces) {
    if (!ns.startsWith(reg.prefix))
      throw new LabError(`registry of ${name} lists foreign namespace ${ns}; refusing`, 'Inspect the registry by hand.');
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
  if (mounts.includes(` ${dir}/`))
    throw new LabError(
      `something is still mounted under ${dir}; not removing it`,
      `umount the listed mounts (grep ${dir} /proc/self/mountinfo).`,
    );
  await runOk('rm', ['-rf', '--one-file-system', dir], { timeoutMs: 120_000 });
  trace(`down ${name}: state removed`);
}
