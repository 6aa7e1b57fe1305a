/**
 * What issue 12's agent lab tests observe and inject beyond agent-lab.ts: route changes seen by the
 * host's route monitor, processes inside an ESXi host (for "nothing left behind"), meta made
 * unreachable from one host, and a meta that answers a huge body.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Lab, LabNode } from '../../lab/lab';
import { readClusterState, sessionListResponse } from '../../lab/services/cluster-state';
import type { RouteChange } from '../../lab/services/io-summary';
import { esxiPath, installDir, NFS } from './agent-lab';

/** Changes of the 192.168.33.2/32 route seen by the host's route monitor since `since`. */
export function nfsRouteChanges(lab: Lab, n: LabNode, since: number): RouteChange[] {
  const s = lab.io(since)[n.esxi.target];
  if (!s) throw new Error(`no IO probe log for ${n.esxi.target}`);
  return s.routeChanges.filter((r) => r.dst === NFS || r.dst === `${NFS}/32`);
}

/** Route switches (each one adds the new /32; a delete alone is not a move) since `since`. */
export function nfsRouteAdds(lab: Lab, n: LabNode, since: number): RouteChange[] {
  return nfsRouteChanges(lab, n, since).filter((r) => r.action === 'add');
}

/** Route changes made on the host by anything running the agent script (the lab's route audit). */
export function agentRouteAudit(lab: Lab, n: LabNode, since: number): ReturnType<Lab['routeAudit']> {
  return lab.routeAudit(n.esxi.target, since).filter((e) => `${e.parent} ${e.grandparent}`.includes('reroute-loop.sh'));
}

export function writePin(n: LabNode, ip: string | null): void {
  const f = esxiPath(n, `${installDir(n)}/pin`);
  if (ip === null) fs.rmSync(f, { force: true });
  else fs.writeFileSync(f, `${ip}\n`);
}

// ------------------------------------------------------------------ processes inside a host

export interface HostProc {
  pid: number;
  ppid: number;
  pgid: number;
  comm: string;
  cmdline: string;
  ageS: number;
}

const CLK_TCK = 100;

function readProc(pid: string, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

function readLink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}

/**
 * Processes of the ESXi host itself (chrooted into its root), not the lab's IO probe that shares
 * its network namespace. Ages from /proc (clock ticks since boot).
 */
export function hostProcs(n: LabNode): HostProc[] {
  const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const pids = execFileSync('ip', ['netns', 'pids', n.esxi.ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const root = fs.realpathSync(n.esxi.root);
  const out: HostProc[] = [];
  for (const pid of pids) {
    if (readLink(`/proc/${pid}/root`) !== root) continue;
    const stat = readProc(pid, 'stat');
    const close = stat.lastIndexOf(')');
    if (close < 0) continue;
    const f = stat.slice(close + 2).split(' ');
    out.push({
      pid: Number(pid),
      ppid: Number(f[1]),
      pgid: Number(f[2]),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      cmdline: readProc(pid, 'cmdline').split('\0').join(' ').trim(),
      ageS: uptime - Number(f[19]) / CLK_TCK,
    });
  }
  return out;
}

/** The host's own daemons (lab init, sshd, crond, syslogd): everything else is short-lived work. */
const DAEMON = /^(init|sshd|crond|syslogd|busybox)$/;

/** Processes of the host that are neither its daemons nor the loop `loopPid` itself. */
export function workerProcs(n: LabNode, loopPids: number[]): HostProc[] {
  return hostProcs(n).filter(
    (p) => !loopPids.includes(p.pid) && !(DAEMON.test(p.comm) && !p.cmdline.includes('reroute-loop')) && p.pid !== 1,
  );
}

// ------------------------------------------------------------------ meta unreachable from one host

/** Below the lab firewall's rule prefs (100-199), so a firewall refresh cannot reorder it. */
const META_BLOCK_PREF = '90';

/** Every REST request from this host to any SCVM (port 80) is refused: meta unreachable from here. */
export function blockMeta(n: LabNode): void {
  execFileSync('ip', ['-n', n.esxi.ns, 'rule', 'add', 'pref', META_BLOCK_PREF, 'ipproto', 'tcp', 'dport', '80', 'prohibit']);
}

export function unblockMeta(n: LabNode): void {
  try {
    execFileSync('ip', ['-n', n.esxi.ns, 'rule', 'del', 'pref', META_BLOCK_PREF], { stdio: 'ignore' });
  } catch {
    // already gone (the host was rebooted or never blocked)
  }
}

// ------------------------------------------------------------------ a meta with a huge body

/**
 * The cluster's real session list followed by `bytes` worth of well-formed sessions of addresses no
 * manifest has (as a huge cluster's meta, or a hostile one, would answer): valid JSON, EOK.
 */
export function hugeSessionBody(lab: Lab, bytes: number): Buffer {
  const real = sessionListResponse(readClusterState(lab.clusterFile)) as { ec: string; data: unknown[] };
  const head = JSON.stringify(real).replace(/\]\}\s*$/, '');
  const parts: string[] = [head];
  let size = head.length;
  for (let i = 0; size < bytes; i++) {
    const ip = `10.254.${(i >> 8) & 255}.${i & 255}`;
    const s = `,{"session_id":"pad-${i}","ip":"${ip}","port":10201,"cid":${1000 + i},"secondary_data_ip":"${ip}","zone":"default","machine_uuid":"pad-${i}","local_clients_ips":""}`;
    parts.push(s);
    size += s.length;
  }
  parts.push(']}\n');
  return Buffer.from(parts.join(''));
}

const HUGE_SERVER = `
const fs = require('fs'), http = require('http');
const body = fs.readFileSync(process.argv[1]);
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}).listen(Number(process.argv[2]), '0.0.0.0', () => process.stdout.write('READY\\n'));
setTimeout(() => process.exit(0), 3600 * 1000);
`;

/** One server per SCVM namespace on `port`, answering every GET with `body`. Killed by `stop()` (and by lab down). */
export async function startHugeMeta(lab: Lab, body: Buffer, port: number): Promise<{ stop: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zra-huge-'));
  const file = path.join(dir, 'body.json');
  fs.writeFileSync(file, body);
  const children: ChildProcess[] = [];
  const stop = (): void => {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      lab.nodes.map(
        (n) =>
          new Promise<void>((resolve, reject) => {
            const c = spawn('ip', ['netns', 'exec', n.scvm.ns, process.execPath, '-e', HUGE_SERVER, file, String(port)], {
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            children.push(c);
            const t = setTimeout(() => reject(new Error(`huge meta on ${n.scvm.target} not ready`)), 20_000);
            c.stdout?.on('data', (d: Buffer) => {
              if (d.toString().includes('READY')) {
                clearTimeout(t);
                resolve();
              }
            });
            c.once('exit', (code) => reject(new Error(`huge meta on ${n.scvm.target} exited ${code}`)));
          }),
      ),
    );
  } catch (e) {
    stop();
    throw e;
  }
  return { stop };
}

// ------------------------------------------------------------------ concurrent scenarios

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A scenario's promise that never rejects: scenarios run together and each test checks its own. */
export function settle<T>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

export async function result<T>(p: Promise<Outcome<T>> | undefined): Promise<T> {
  if (!p) throw new Error('scenario was not started (lab setup failed)');
  const r = await p;
  if (!r.ok) throw r.error;
  return r.value;
}

/** Longest time the host had no 33.2 route in [from, to], from the route monitor's del/add events. */
export function longestRoutelessMs(lab: Lab, n: LabNode, from: number, to: number): number {
  let since: number | null = null;
  let longest = 0;
  for (const c of nfsRouteChanges(lab, n, from)) {
    if (c.t > to) break;
    if (c.action === 'del' && since === null) since = c.t;
    if (c.action === 'add' && since !== null) {
      longest = Math.max(longest, c.t - since);
      since = null;
    }
  }
  return since === null ? longest : Math.max(longest, to - since);
}
