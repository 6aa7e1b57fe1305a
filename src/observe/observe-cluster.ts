/**
 * The I/O edge of observation: one probe exec per ESXi host, one
 * authorized_keys read per SCVM, over connections the caller supplies (and
 * keeps, so apply reuses them). Hosts are worked on with bounded parallelism;
 * each has a whole-host deadline. A host that fails in any way becomes
 * Unreachable with the reason and never holds up the others. Progress is
 * reported as typed events; nothing here prints.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installDirFor } from '../agent/host-entries';
import { shippedEsxiDir } from '../agent/shipped-bundle';
import { RerouteError } from '../errors/reroute-error';
import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import type { ExecResult, RemoteHost } from '../remote/ssh-connection';
import { shellCommand } from '../core/shell-quote';
import type { EsxiObserved, ObservedCluster, ScvmObserved, Unreachable } from './observed-types';
import { parseProbeOutput, type ProbeContext } from './parse-probe-output';
import { sanitizeForDisplay } from './sanitize';
import { explainSudoFailure, parseAuthorizedKeys, parseAuthorizedKeysRead, readAuthorizedKeysCommand } from './scvm-authorized-keys';
import { SCVM_ROOT_AUTHORIZED_KEYS } from '../agent/bundle-layout';
import { findLocalSession, parseSessionClients, sessionListCommand, sessionShowCommand } from './zbs-session';

export type HostKind = 'esxi' | 'scvm';

export interface ObserveTarget {
  node: string;
  kind: HostKind;
  /** ESXi management address or SCVM management IP: where the connection goes. */
  address: string;
}

/** A connection as observation needs it; `hostKey` (`type base64`) is what was seen (and pinned) on connect. */
export type ObserveConnection = RemoteHost & { hostKey?: string };

export type ObserveEvent =
  | { type: 'host-start'; node: string; kind: HostKind; address: string }
  | { type: 'host-observed'; node: string; kind: HostKind; ms: number; warnings: number }
  | { type: 'host-unreachable'; node: string; kind: HostKind; ms: number; reason: string };

export interface ObserveOptions {
  connect(target: ObserveTarget): Promise<ObserveConnection>;
  /** probe.sh bytes; read from esxi/probe/probe.sh when omitted. */
  probeScript?: Buffer;
  onEvent?(event: ObserveEvent): void;
  /** Limit to these nodes (both their ESXi and SCVM); all nodes when omitted. */
  nodes?: string[];
  now?(): Date;
}

/** Probe output is at most ~13 sections of 256 KiB; more means something is wrong. */
const PROBE_MAX_OUTPUT = 8 * 1024 * 1024;
const KEYS_MAX_OUTPUT = 4 * 1024 * 1024;

/** probe.sh as shipped (esxi/probe/), found the same way as every other ESXi script. */
export function loadProbeScript(): Buffer {
  return fs.readFileSync(path.join(shippedEsxiDir(), 'probe', 'probe.sh'));
}

/** Every SCVM IP and declared storage gateway: /32 routes through these are ours to report. */
export function clusterIps(manifest: Manifest): string[] {
  const ips = manifest.nodes.flatMap((n) => [n.scvm.storageIp, n.scvm.managementIp, ...(n.storageGateway ? [n.storageGateway] : [])]);
  return [...new Set(ips)];
}

export function probeContext(manifest: Manifest, node: NodeSpec): ProbeContext {
  return { node: node.name, installDir: installDirFor(manifest, node), nfsAddress: manifest.nfsAddress, clusterIps: clusterIps(manifest) };
}

/** The command the probe is run with; the script itself travels on stdin. */
export function probeCommand(manifest: Manifest, node: NodeSpec): string {
  const ctx = probeContext(manifest, node);
  return shellCommand(['/bin/sh', '-s', '--', ctx.installDir, manifest.install.runDir, manifest.nfsAddress, ...ctx.clusterIps]);
}

function reasonOf(err: unknown): string {
  if (err instanceof RerouteError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

function tail(s: string, max = 300): string {
  const t = s.trim();
  return t.length > max ? `…${t.slice(-max)}` : t;
}

/** Raw bytes when the remote layer offers them (framing counts bytes), else its decoded text. */
function stdoutOf(r: ExecResult): Buffer | string {
  const bytes = (r as ExecResult & { stdoutBytes?: unknown }).stdoutBytes;
  return Buffer.isBuffer(bytes) ? bytes : r.stdout;
}

class HostDeadline extends Error {}

/** Runs `work` under a deadline; on expiry the connection (if any) is closed so its commands die too. */
async function withDeadline<T>(ms: number, work: (track: (c: ObserveConnection) => void) => Promise<T>): Promise<T> {
  let conn: ObserveConnection | undefined;
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new HostDeadline());
    }, ms);
  });
  const track = (c: ObserveConnection): void => {
    conn = c;
    if (expired) c.close();
  };
  try {
    return await Promise.race([work(track), deadline]);
  } catch (err) {
    if (expired) conn?.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function observeEsxi(
  manifest: Manifest,
  node: NodeSpec,
  conn: ObserveConnection,
  script: Buffer,
  commandTimeoutMs: number,
): Promise<EsxiObserved | Unreachable> {
  const ctx = probeContext(manifest, node);
  const r = await conn.exec(probeCommand(manifest, node), { stdin: script, timeoutMs: commandTimeoutMs, maxOutputBytes: PROBE_MAX_OUTPUT });
  if (r.code !== 0) {
    const how = r.code === null ? `was killed${r.signal ? ` by ${r.signal}` : ''}` : `exited with status ${r.code}`;
    return { kind: 'esxi', node: node.name, reachable: false, reason: `the probe ${how}${r.stderr.trim() ? `: ${tail(r.stderr)}` : ''}` };
  }
  return parseProbeOutput(stdoutOf(r), ctx);
}

async function observeScvm(
  manifest: Manifest,
  node: NodeSpec,
  conn: ObserveConnection,
  commandTimeoutMs: number,
): Promise<ScvmObserved | Unreachable> {
  const scvm = manifest.access.scvm;
  // The operator user's own file (the agent logs in as that user), read without sudo.
  const r = await conn.exec(readAuthorizedKeysCommand({ sudo: false }), { timeoutMs: commandTimeoutMs, maxOutputBytes: KEYS_MAX_OUTPUT });
  const fail = (reason: string): Unreachable => ({ kind: 'scvm', node: node.name, reachable: false, reason });
  if (r.code !== 0) {
    // A root-owned file (edited with sudo) is unreadable for its user, and so for sshd's key check.
    const denied = /permission denied/i.test(r.stderr)
      ? `not readable by ${scvm.user} (owned by another user?): chown ${scvm.user} ~${scvm.user}/.ssh ~${scvm.user}/.ssh/authorized_keys`
      : undefined;
    const hint = denied ?? explainSudoFailure(r.stderr, scvm.user);
    return fail(
      `reading ${scvm.user}'s ~/.ssh/authorized_keys failed (exit ${r.code ?? 'signal'})${hint ? `: ${hint}` : r.stderr.trim() ? `: ${tail(r.stderr)}` : ''}`,
    );
  }
  const read = parseAuthorizedKeysRead(r.stdout);
  if ('error' in read) return fail(read.error);
  if (read.status === 'not-a-file') return fail(`${scvm.user}'s ~/.ssh/authorized_keys exists but is not a regular file`);
  const keys = parseAuthorizedKeys(read.text, manifest.clusterName);
  const obs: ScvmObserved = {
    kind: 'scvm',
    node: node.name,
    reachable: true,
    managedKeys: keys.managedKeys,
    foreignKeyCount: keys.foreignKeyCount,
  };
  // Releases before issue 11 put the key in root's file: find it there so plan removes it.
  const root = await conn.exec(readAuthorizedKeysCommand({ sudo: scvm.sudo, path: SCVM_ROOT_AUTHORIZED_KEYS }), {
    timeoutMs: commandTimeoutMs,
    maxOutputBytes: KEYS_MAX_OUTPUT,
  });
  const rootRead = root.code === 0 ? parseAuthorizedKeysRead(root.stdout) : undefined;
  if (rootRead !== undefined && !('error' in rootRead)) {
    const old = parseAuthorizedKeys(rootRead.text, manifest.clusterName).managedKeys;
    if (old.length > 0) obs.rootManagedKeys = old;
  }
  if (conn.hostKey) obs.hostKey = conn.hostKey;
  obs.zbsSession = await observeZbsSession(node, conn, { sudo: scvm.sudo }, commandTimeoutMs);
  return obs;
}

/**
 * This SCVM's own ZBS session and its local_clients_ips (src/observe/zbs-session.ts). A failure
 * here is reported on the item, never makes the SCVM unreachable: the key entry is still managed.
 */
async function observeZbsSession(
  node: NodeSpec,
  conn: ObserveConnection,
  opts: { sudo: boolean },
  commandTimeoutMs: number,
): Promise<NonNullable<ScvmObserved['zbsSession']>> {
  const failed = (what: string, r: ExecResult) => ({
    problem: `${what} failed (exit ${r.code ?? 'signal'})${r.stderr.trim() ? `: ${sanitizeForDisplay(tail(r.stderr, 200), { multiline: false, maxLength: 200 })}` : ''}`,
  });
  const list = await conn.exec(sessionListCommand(opts), { timeoutMs: commandTimeoutMs, maxOutputBytes: KEYS_MAX_OUTPUT });
  if (list.code !== 0) return failed('zbs-meta session list', list);
  // RDMA: the row may carry the access IP rather than the storage IP (unverified); either is ours.
  let found = findLocalSession(list.stdout, node.scvm.storageIp);
  if ('problem' in found && node.scvm.accessIp !== undefined) {
    const viaAccess = findLocalSession(list.stdout, node.scvm.accessIp);
    if ('sessionId' in viaAccess) found = viaAccess;
  }
  if ('problem' in found) return found;
  const show = await conn.exec(sessionShowCommand(opts, found.sessionId), { timeoutMs: commandTimeoutMs, maxOutputBytes: KEYS_MAX_OUTPUT });
  if (show.code !== 0) return failed(`zbs-meta session show ${found.sessionId}`, show);
  const clients = parseSessionClients(show.stdout);
  if ('problem' in clients) return clients;
  return { sessionId: found.sessionId, localClientsIps: clients.localClientsIps };
}

/** Observe every ESXi host and SCVM of the manifest (or of `opts.nodes`). Never rejects for a host's failure. */
export async function observeCluster(manifest: Manifest, opts: ObserveOptions): Promise<ObservedCluster> {
  const now = opts.now ?? (() => new Date());
  const script = opts.probeScript ?? loadProbeScript();
  const ssh = manifest.access.ssh;
  const hostTimeoutMs = ssh.hostTimeoutSeconds * 1000;
  const commandTimeoutMs = ssh.commandTimeoutSeconds * 1000;
  const emit = (e: ObserveEvent): void => {
    try {
      opts.onEvent?.(e);
    } catch {
      // A broken progress display must not change what was observed.
    }
  };
  const wanted = opts.nodes ? new Set(opts.nodes) : undefined;
  const nodes = manifest.nodes.filter((n) => !wanted || wanted.has(n.name));
  const result: ObservedCluster = { format: 'zbs-reroute/observed-v1', takenAt: now().toISOString(), esxi: {}, scvm: {} };

  type Job = { target: ObserveTarget; node: NodeSpec };
  const jobs: Job[] = nodes.flatMap((node) => [
    { target: { node: node.name, kind: 'esxi' as const, address: node.esxi.address }, node },
    { target: { node: node.name, kind: 'scvm' as const, address: node.scvm.managementIp }, node },
  ]);

  const runJob = async ({ target, node }: Job): Promise<void> => {
    const started = Date.now();
    emit({ type: 'host-start', ...target });
    let obs: EsxiObserved | ScvmObserved | Unreachable;
    try {
      obs = await withDeadline(hostTimeoutMs, async (track) => {
        const conn = await opts.connect(target);
        track(conn);
        return target.kind === 'esxi'
          ? observeEsxi(manifest, node, conn, script, commandTimeoutMs)
          : observeScvm(manifest, node, conn, commandTimeoutMs);
      });
    } catch (err) {
      const reason = err instanceof HostDeadline ? `no answer within the host timeout (${ssh.hostTimeoutSeconds} s)` : reasonOf(err);
      obs = { kind: target.kind, node: node.name, reachable: false, reason };
    }
    if (!obs.reachable) obs.reason = sanitizeForDisplay(obs.reason, { multiline: false, maxLength: 500 });
    if (target.kind === 'esxi') result.esxi[node.name] = obs as EsxiObserved | Unreachable;
    else result.scvm[node.name] = obs as ScvmObserved | Unreachable;
    const ms = Date.now() - started;
    if (obs.reachable)
      emit({
        type: 'host-observed',
        node: node.name,
        kind: target.kind,
        ms,
        warnings: obs.kind === 'esxi' ? ((obs as EsxiObserved).warnings?.length ?? 0) : 0,
      });
    else emit({ type: 'host-unreachable', node: node.name, kind: target.kind, ms, reason: obs.reason });
  };

  const parallelism = Math.max(1, Math.min(manifest.access.parallelism, jobs.length || 1));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++] as Job;
      await runJob(job);
    }
  };
  await Promise.all(Array.from({ length: parallelism }, worker));

  // Manifest order, whatever order hosts finished in: snapshots and plans stay stable.
  const ordered: ObservedCluster = { ...result, esxi: {}, scvm: {} };
  for (const n of nodes) {
    const e = result.esxi[n.name];
    const s = result.scvm[n.name];
    if (e) ordered.esxi[n.name] = e;
    if (s) ordered.scvm[n.name] = s;
  }
  return ordered;
}
