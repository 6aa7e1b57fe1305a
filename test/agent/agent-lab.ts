/**
 * Hand-rolled install of the agent on lab hosts (the reconciler of issue 5 is not used here, so
 * these tests prove the agent alone): files into the datastore, the reroute key into each SCVM's
 * operator user's (smartx) authorized_keys (the lab's SCVMs refuse root login, as SMTX OS >= 5.1.2), SCVM host keys into the agent's known_hosts, our crontab line and the
 * local.sh block that re-arms it at boot.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Lab, LabNode } from '../../lab/lab';
import { readProcStat } from '../../src/core/proc-stat';

/** ZRA_AGENT_SRC runs these tests against another build of the agent (e.g. the previous release, for comparison). */
export const AGENT_SRC = process.env.ZRA_AGENT_SRC ?? path.resolve(__dirname, '../../esxi/agent/reroute-loop.sh');
export const NFS = '192.168.33.2';
export const DIR_NAME = 'zbs-reroute';
export const RUN_DIR = '/var/run/zbs-reroute';
export const LOG_FILE = '/var/log/scvm_failure.log';
/** The SCVM operator user the ssh session source logs in as, and its uid in the lab's SCVM image. */
export const SCVM_USER = 'smartx';
const SCVM_USER_UID = 1000;

export interface AgentTiming {
  interval: number;
  failbackDelay: number;
  pingTimeout: number;
}

export function installDir(node: LabNode): string {
  return `/vmfs/volumes/${node.esxi.datastore}/${DIR_NAME}`;
}

/** Host-side path of a file inside an ESXi chroot. */
export function esxiPath(node: LabNode, p: string): string {
  if (p.startsWith(`/vmfs/volumes/${node.esxi.datastore}/`)) {
    return path.join(node.esxi.datastorePath, p.slice(`/vmfs/volumes/${node.esxi.datastore}/`.length));
  }
  return path.join(node.esxi.root, p);
}

export function cronLine(node: LabNode): string {
  return `* * * * * /bin/sh ${installDir(node)}/reroute-loop.sh &`;
}

/** Keys beyond the planner's base set (issue 12's MODE, ZONE_PEER_STORAGE_IPS, PING_ROUNDS, …); last wins. */
export type ConfExtra = Record<string, string>;

export function renderConf(lab: Lab, node: LabNode, t: AgentTiming, source: 'rest' | 'ssh', extra: ConfExtra = {}): string {
  const peers = lab.nodes.filter((n) => n !== node);
  const dir = installDir(node);
  const kv: [string, string][] = [
    ['NODE_NAME', node.name],
    ['NFS_ADDRESS', NFS],
    ['LOCAL_STORAGE_IP', node.scvm.storageIp],
    ['LOCAL_MGMT_IP', node.scvm.mgmtIp],
    ['PEER_STORAGE_IPS', peers.map((p) => p.scvm.storageIp).join(' ')],
    ['PEER_MGMT_IPS', peers.map((p) => p.scvm.mgmtIp).join(' ')],
    // RDMA labs: each SCVM's access IP, aligned with PEER_STORAGE_IPS (as src/agent/agent-conf.ts renders it).
    ...(lab.nodes.some((n) => n.scvm.accessIp !== undefined)
      ? ([
          ['LOCAL_ACCESS_IP', node.scvm.accessIp ?? '-'],
          ['PEER_ACCESS_IPS', peers.map((p) => p.scvm.accessIp ?? '-').join(' ')],
        ] as [string, string][])
      : []),
    ['INTERVAL', String(t.interval)],
    ['FAILBACK_DELAY', String(t.failbackDelay)],
    ['PING_TIMEOUT', String(t.pingTimeout)],
    ['FALLBACK_ORDER', 'local-storage remote-storage remote-management'],
    ['SESSION_SOURCE', source],
    ['REST_PORT', '80'],
    ['REST_PATH', '/api/v2/zbs_session/session'],
    ['SSH_USER', SCVM_USER],
    ['SSH_KEY', `${dir}/keys/reroute_id_rsa`],
    ['SSH_KNOWN_HOSTS', `${dir}/keys/known_hosts`],
    ['RUN_DIR', RUN_DIR],
    ['LOG_FILE', LOG_FILE],
    ['LOG_MAX_BYTES', '262144'],
    ['PIN_FILE', `${dir}/pin`],
    ...Object.entries(extra),
  ];
  return kv.map(([k, v]) => `${k}='${v}'`).join('\n') + '\n';
}

export class AgentKey {
  readonly dir: string;
  readonly privateKey: string;
  readonly publicKey: string;
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zra-key-'));
    const f = path.join(this.dir, 'reroute_id_rsa');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', 'zbs-reroute:lab', '-f', f]);
    this.privateKey = fs.readFileSync(f, 'utf8');
    this.publicKey = fs.readFileSync(`${f}.pub`, 'utf8').trim();
  }
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Our authorized_keys line on every SCVM (from= all ESXi addresses, as the reconciler writes it). */
export function authorizeOnScvms(lab: Lab, key: AgentKey): void {
  const from = lab.nodes.flatMap((n) => [n.esxi.mgmtIp, n.esxi.storageIp]).join(',');
  const line = `from="${from}",no-port-forwarding,no-pty,no-agent-forwarding,no-X11-forwarding ${key.publicKey}`;
  for (const n of lab.nodes) {
    const sshDir = path.join(n.scvm.root, 'home', SCVM_USER, '.ssh');
    fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(sshDir, 0o700);
    fs.chownSync(sshDir, SCVM_USER_UID, SCVM_USER_UID);
    const f = path.join(sshDir, 'authorized_keys');
    const old = fs.existsSync(f)
      ? fs
          .readFileSync(f, 'utf8')
          .split('\n')
          .filter((l) => l && !l.includes('zbs-reroute:'))
      : [];
    fs.writeFileSync(f, [...old, line].join('\n') + '\n', { mode: 0o600 });
    fs.chownSync(f, SCVM_USER_UID, SCVM_USER_UID);
  }
}

export function knownHosts(lab: Lab): string {
  const lines: string[] = [];
  for (const n of lab.nodes) {
    for (const k of lab.hostPublicKeys(n.scvm.target)) lines.push(`${n.scvm.mgmtIp},${n.scvm.storageIp} ${k}`);
  }
  return lines.join('\n') + '\n';
}

/** Write the agent's files, crontab line and local.sh block; start the loop now (not a minute later). */
export async function installAgent(
  lab: Lab,
  node: LabNode,
  key: AgentKey,
  t: AgentTiming,
  source: 'rest' | 'ssh',
  extra: ConfExtra = {},
): Promise<void> {
  const dir = esxiPath(node, installDir(node));
  fs.mkdirSync(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  fs.copyFileSync(AGENT_SRC, path.join(dir, 'reroute-loop.sh'));
  fs.chmodSync(path.join(dir, 'reroute-loop.sh'), 0o755);
  fs.writeFileSync(path.join(dir, 'reroute.conf'), renderConf(lab, node, t, source, extra), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'keys', 'reroute_id_rsa'), key.privateKey, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'keys', 'reroute_id_rsa.pub'), `${key.publicKey}\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'keys', 'known_hosts'), knownHosts(lab), { mode: 0o644 });

  const localSh = esxiPath(node, '/etc/rc.local.d/local.sh');
  const block = [
    '# BEGIN zbs-reroute (managed by reroute; do not edit)',
    `grep -qF '${cronLine(node)}' /var/spool/cron/crontabs/root || echo '${cronLine(node)}' >> /var/spool/cron/crontabs/root`,
    'kill $(cat /var/run/crond.pid) 2>/dev/null; /usr/lib/vmware/busybox/bin/busybox crond',
    '# END zbs-reroute',
  ].join('\n');
  const text = fs.readFileSync(localSh, 'utf8');
  if (!text.includes('# BEGIN zbs-reroute')) {
    const i = text.lastIndexOf('\nexit 0');
    fs.writeFileSync(localSh, i >= 0 ? `${text.slice(0, i)}\n${block}${text.slice(i)}` : `${text}\n${block}\n`);
  }
  await lab.execOk(
    node.esxi.target,
    [
      `echo '${cronLine(node)}' >> /var/spool/cron/crontabs/root`,
      'kill $(cat /var/run/crond.pid)',
      'sleep 1',
      '/usr/lib/vmware/busybox/bin/busybox crond',
      '/sbin/auto-backup.sh >/dev/null 2>&1',
      `/bin/sh ${installDir(node)}/reroute-loop.sh </dev/null >/dev/null 2>&1 &`,
    ].join('\n'),
  );
}

/** Replace a running agent's conf (temp + rename: the loop re-sources it every iteration). */
export function rewriteConf(lab: Lab, node: LabNode, t: AgentTiming, source: 'rest' | 'ssh', extra: ConfExtra = {}): void {
  const f = esxiPath(node, `${installDir(node)}/reroute.conf`);
  fs.writeFileSync(`${f}.new`, renderConf(lab, node, t, source, extra), { mode: 0o600 });
  fs.renameSync(`${f}.new`, f);
}

export function status(node: LabNode): Record<string, string> {
  const f = esxiPath(node, `${RUN_DIR}/status`);
  const out: Record<string, string> = {};
  if (!fs.existsSync(f)) return out;
  for (const l of fs.readFileSync(f, 'utf8').split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

export function agentLog(node: LabNode): string {
  const f = esxiPath(node, LOG_FILE);
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
}

/** Gateway of 192.168.33.2/32 in the host's namespace ('' when none). */
export function routeVia(node: LabNode): string {
  const out = execFileSync('ip', ['-n', node.esxi.ns, 'route', 'show', `${NFS}/32`], { encoding: 'utf8' });
  const m = /via (\S+)/.exec(out);
  return m ? (m[1] as string) : '';
}

function readProc(pid: string, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Agent loops running on the host: loop processes whose parent is not a loop (forks are not loops). */
export function loopPids(node: LabNode): number[] {
  const pids = execFileSync('ip', ['netns', 'pids', node.esxi.ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const loopCmd = `/bin/sh\0${installDir(node)}/reroute-loop.sh\0`;
  const isLoop = (pid: string): boolean => readProc(pid, 'cmdline') === loopCmd;
  const out: number[] = [];
  for (const pid of pids) {
    if (!isLoop(pid)) continue;
    const ppid = readProcStat(pid)?.ppid;
    if (ppid === undefined || !isLoop(String(ppid))) out.push(Number(pid));
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The loops on NODE once cron's minute starter has gone: every minute crond runs
 * `/bin/sh reroute-loop.sh &`, which finds the lock held and exits, so for a moment (seconds on a
 * loaded host) two loop processes exist although only one runs. A real second loop never leaves,
 * so a count that stays above one for TIMEOUT_MS is returned as it is.
 */
export async function settledLoopPids(node: LabNode, timeoutMs = 15_000): Promise<number[]> {
  const t0 = Date.now();
  let pids = loopPids(node);
  while (pids.length > 1 && Date.now() - t0 < timeoutMs) {
    await sleep(250);
    pids = loopPids(node);
  }
  return pids;
}

export async function until<T>(what: string, timeoutMs: number, fn: () => T | undefined | false, stepMs = 100): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}
