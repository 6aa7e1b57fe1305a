import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { RerouteError } from '../errors/reroute-error';
import { ensureStateDir } from './state-dir';
import { readProcStat } from '../core/proc-stat';

/** Who holds the lock; written into the lock file as JSON. */
export interface LockInfo {
  lockId: string;
  pid: number;
  /** Start time of the holder process (Linux /proc ticks), to tell a reused pid from the holder. */
  pidStart?: string;
  host: string;
  user: string;
  startedAt: string;
  command: string;
}

export interface StateLock {
  readonly info: LockInfo;
  /** Warnings raised while taking the lock (e.g. a stale lock taken over). */
  readonly warnings: string[];
  release(): void;
}

export interface AcquireLockOptions {
  /** What is running, e.g. `reroute apply -f cluster.yaml` (shown to a second taker). */
  command: string;
  /** Release the lock when the process exits normally (default true). Signals must be turned into process.exit by the CLI. */
  releaseOnExit?: boolean;
  onWarning?: (message: string) => void;
}

/** Linux: field 22 of /proc/<pid>/stat, the process start time. Undefined elsewhere or if gone. */
export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime || undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock is stale only when we can prove it: it was taken on this machine and
 * its process is gone (or the pid now belongs to a different process). A lock
 * from another machine is never presumed dead.
 */
export function isStale(info: LockInfo, thisHost: string = hostname()): boolean {
  if (info.host !== thisHost) return false;
  if (!pidAlive(info.pid)) return true;
  if (info.pidStart !== undefined) {
    const now = processStartTime(info.pid);
    if (now !== undefined && now !== info.pidStart) return true;
  }
  return false;
}

export function readLockInfo(lockPath: string): LockInfo | undefined {
  let text: string;
  try {
    text = readFileSync(lockPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as LockInfo;
    if (typeof v.pid === 'number' && typeof v.lockId === 'string') return v;
  } catch {
    /* fall through */
  }
  throw new RerouteError('LOCK_HELD', `The lock file ${lockPath} exists but cannot be read`, `If no reroute apply or destroy is running for this cluster, delete ${lockPath} and re-run.`);
}

function heldError(lockPath: string, h: LockInfo): RerouteError {
  return new RerouteError(
    'LOCK_HELD',
    `Another run holds the state lock: \`${h.command}\` by ${h.user}@${h.host} (pid ${h.pid}) since ${h.startedAt}`,
    `Wait for it to finish. If you are sure it is dead (e.g. its machine crashed), run \`reroute force-unlock ${h.lockId}\`.`,
    { details: { lockPath, holder: h } },
  );
}

function writeNew(lockPath: string, info: LockInfo): boolean {
  // Full content first, then link into place: link() fails with EEXIST if the
  // lock exists, so a reader never sees a half-written lock.
  const tmp = `${lockPath}.${info.lockId}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  try {
    linkSync(tmp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

const TAKEOVER_GUARD_MAX_AGE_MS = 30_000;

/**
 * Take the exclusive lock of a state folder. A second taker fails at once with
 * LOCK_HELD naming the holder; a stale lock (holder dead on this machine) is
 * taken over with a warning.
 */
export function acquireStateLock(stateDir: string, opts: AcquireLockOptions): StateLock {
  const { lock: lockPath } = ensureStateDir(stateDir);
  const pidStart = processStartTime(process.pid);
  const info: LockInfo = {
    lockId: randomBytes(8).toString('hex'),
    pid: process.pid,
    ...(pidStart !== undefined ? { pidStart } : {}),
    host: hostname(),
    user: safeUser(),
    startedAt: new Date().toISOString(),
    command: opts.command,
  };
  const warnings: string[] = [];

  if (!writeNew(lockPath, info)) {
    const holder = readLockInfo(lockPath);
    if (holder === undefined) {
      // Released between our attempt and the read: one more try, then give up.
      if (!writeNew(lockPath, info)) throw heldError(lockPath, readLockInfo(lockPath) ?? info);
    } else if (!isStale(holder)) {
      throw heldError(lockPath, holder);
    } else {
      takeOver(lockPath, holder, info);
      const w = `Took over a stale lock left by \`${holder.command}\` (pid ${holder.pid}, ${holder.user}@${holder.host}, since ${holder.startedAt}); that run died without finishing — check the apply journal.`;
      warnings.push(w);
      opts.onWarning?.(w);
    }
  }

  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.removeListener('exit', release);
    try {
      const cur = readLockInfo(lockPath);
      if (cur?.lockId === info.lockId) unlinkSync(lockPath);
    } catch {
      /* lock already gone or replaced by force-unlock */
    }
  };
  if (opts.releaseOnExit !== false) process.on('exit', release);
  return { info, warnings, release };
}

/**
 * Replace a stale lock without racing another process doing the same: a guard
 * file taken with link() serialises takeovers, and the lock is re-read under
 * it to make sure it is still the stale one.
 */
function takeOver(lockPath: string, stale: LockInfo, info: LockInfo): void {
  const guard = `${lockPath}.takeover`;
  if (existsSync(guard) && Date.now() - statSync(guard).mtimeMs > TAKEOVER_GUARD_MAX_AGE_MS) {
    try {
      unlinkSync(guard);
    } catch {
      /* someone else cleaned it */
    }
  }
  if (!writeNew(guard, info)) throw heldError(lockPath, stale);
  try {
    const cur = readLockInfo(lockPath);
    if (cur && cur.lockId !== stale.lockId) throw heldError(lockPath, cur);
    if (cur) unlinkSync(lockPath);
    if (!writeNew(lockPath, info)) throw heldError(lockPath, readLockInfo(lockPath) ?? stale);
  } finally {
    unlinkSync(guard);
  }
}

/** Remove a lock by id (Terraform's force-unlock): refuses if the id does not match. */
export function forceUnlock(stateDir: string, lockId: string): LockInfo {
  const { lock: lockPath } = ensureStateDir(stateDir);
  const cur = readLockInfo(lockPath);
  if (!cur) throw new RerouteError('USAGE', 'There is no lock to remove', 'Nothing to do.');
  if (cur.lockId !== lockId) {
    throw new RerouteError('USAGE', `The lock id ${lockId} does not match the current lock ${cur.lockId} (\`${cur.command}\` by ${cur.user}@${cur.host})`, 'Copy the lock id from the LOCK_HELD message.');
  }
  unlinkSync(lockPath);
  return cur;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid${process.getuid?.() ?? '?'}`;
  }
}
