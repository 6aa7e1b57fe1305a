/**
 * The lab's long-running stand-ins (meta-sim, nfs-sim on each SCVM) and the
 * IO probe watching every ESXi, as tracked processes of the lab.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureServiceBin } from './services/service-bin';
import { alive, LabError, waitFor } from './proc';
import { LAB_STATE_ROOT } from './registry';
import { HOST_PATH } from './lab-exec';
import { NFS_ADDRESS, type LabNode } from './lab-topology';
import type { LabState } from './lab-state';

const SERVICE_READY_MS = 30_000;

/**
 * Starts one long-running service in a host's network namespace (outside its pid namespace, so
 * a probe keeps recording through the host's reboots). argv[0] is a prebuilt program from
 * services/service-bin.ts: plain node for meta-sim, static C for the NFS stand-in and the probe.
 */
async function spawnService(s: LabState, key: string, ns: string, argv: string[], logFile: string): Promise<void> {
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
  s.setPid(key, child.pid);
  const pid = child.pid;
  await waitFor(
    `${program} in ${ns} to be ready`,
    SERVICE_READY_MS,
    () => {
      if (!alive(pid)) throw new LabError(`${program} in ${ns} exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
      return fs.readFileSync(logFile).subarray(start).toString().includes('READY ') ? true : undefined;
    },
    100,
  );
}

export async function startScvmServices(s: LabState, node: LabNode): Promise<void> {
  const h = node.scvm;
  const dir = s.hostDir(h.target);
  const bin = await ensureServiceBin(path.join(LAB_STATE_ROOT, '.cache'));
  await Promise.all([
    spawnService(
      s,
      `${h.target}:meta-sim`,
      h.ns,
      [
        process.execPath,
        bin.metaSimJs,
        '--listen',
        `${h.mgmtIp},${h.storageIp},127.0.0.1`,
        '--port',
        '80',
        '--cluster-file',
        s.clusterFile,
        '--self',
        h.target,
      ],
      path.join(dir, 'meta-sim.log'),
    ),
    spawnService(s, `${h.target}:nfs-sim`, h.ns, [bin.nfsSim, '--node', h.target, '--listen', NFS_ADDRESS], path.join(dir, 'nfs-sim.log')),
  ]);
}

/** SIGTERM first so a service can flush its log; SIGKILL whatever is left after 5 s. */
export async function stopTracked(s: LabState, keys: string[]): Promise<void> {
  const pids = keys.map((k) => s.reg.pids[k]).filter((p): p is number => p !== undefined && alive(p));
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
  s.dropPids(keys);
}

/**
 * One IO probe process for every ESXi (lab-io-probe --hosts): it makes each host's socket in
 * that host's namespace and serves them all from one poll loop, one timer wakeup per period
 * instead of one process per host waking 40 times a second (lab/README.md, "One process per
 * lab"). It runs in the controller namespace, so `down` finds and kills it with the lab's own
 * processes. Each ESXi's `:monitor` key names it, so status() reads it per host as before.
 */
export async function startMonitors(s: LabState): Promise<void> {
  const bin = await ensureServiceBin(path.join(LAB_STATE_ROOT, '.cache'));
  const list = path.join(s.dir, 'io-probe-hosts');
  const rows = s.nodes.map((n) => [n.esxi.target, n.esxi.ns, path.join(s.dir, 'io', `${n.esxi.target}.io.jsonl`)]);
  if (rows.flat().some((w) => /\s/.test(w))) throw new LabError(`lab paths must not contain white space: ${s.dir}`);
  fs.writeFileSync(list, rows.map((r) => `${r.join(' ')}\n`).join(''));
  await spawnService(s, 'io-probe', s.controller.ns, [bin.ioProbe, '--hosts', list], path.join(s.dir, 'io-probe.log'));
  const pid = s.reg.pids['io-probe'];
  if (pid !== undefined)
    s.mutate((r) => {
      for (const n of s.nodes) r.pids[`${n.esxi.target}:monitor`] = pid;
    });
}
