import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import { acquireStateLock, forceUnlock, isStale, processStartTime, readLockInfo, type LockInfo } from './state-lock';
import { statePaths } from './state-dir';

/** A pid that is certainly dead: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync('/bin/sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

describe('state lock', () => {
  let root: string;
  let stateDir: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'zrr-lock-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  beforeEach(() => {
    stateDir = mkdtempSync(join(root, 's-'));
  });

  it('writes who holds it (pid, host, user, start, command) into a 0600 file', () => {
    const lock = acquireStateLock(stateDir, { command: 'reroute apply -f c.yaml', releaseOnExit: false });
    const info = readLockInfo(statePaths(stateDir).lock) as LockInfo;
    expect(info).toMatchObject({ pid: process.pid, host: hostname(), command: 'reroute apply -f c.yaml', lockId: lock.info.lockId });
    expect(typeof info.user).toBe('string');
    expect(new Date(info.startedAt).getTime()).not.toBeNaN();
    expect(statSync(statePaths(stateDir).lock).mode & 0o777).toBe(0o600);
    lock.release();
    expect(existsSync(statePaths(stateDir).lock)).toBe(false);
  });

  it('refuses a second taker at once, naming the holder', () => {
    const first = acquireStateLock(stateDir, { command: 'reroute apply -f one.yaml', releaseOnExit: false });
    let err: unknown;
    try {
      acquireStateLock(stateDir, { command: 'reroute apply -f two.yaml', releaseOnExit: false });
    } catch (e) {
      err = e;
    }
    expect((err as RerouteError).code).toBe('LOCK_HELD');
    expect((err as RerouteError).message).toContain('reroute apply -f one.yaml');
    expect((err as RerouteError).message).toContain(`pid ${process.pid}`);
    expect((err as RerouteError).fix).toContain(first.info.lockId);
    first.release();
  });

  it('takes over a lock whose process died on this machine, with a warning', () => {
    const stale: LockInfo = { lockId: 'deadbeef', pid: deadPid(), host: hostname(), user: 'op', startedAt: '2026-01-01T00:00:00.000Z', command: 'reroute apply -f old.yaml' };
    writeFileSync(statePaths(stateDir).lock, JSON.stringify(stale));
    const warnings: string[] = [];
    const lock = acquireStateLock(stateDir, { command: 'reroute apply', releaseOnExit: false, onWarning: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('reroute apply -f old.yaml');
    expect(lock.warnings).toEqual(warnings);
    expect(readLockInfo(statePaths(stateDir).lock)?.lockId).toBe(lock.info.lockId);
    expect(existsSync(`${statePaths(stateDir).lock}.takeover`)).toBe(false);
    lock.release();
  });

  it('treats a live pid whose start time differs as a reused pid, hence stale', () => {
    const start = processStartTime(process.pid);
    expect(start).toBeDefined();
    const base: LockInfo = { lockId: 'x', pid: process.pid, host: hostname(), user: 'u', startedAt: '', command: 'c' };
    expect(isStale({ ...base, pidStart: start as string })).toBe(false);
    expect(isStale({ ...base, pidStart: '1' })).toBe(true);
  });

  it('never presumes a lock from another machine dead', () => {
    const other: LockInfo = { lockId: 'x', pid: deadPid(), host: 'other-scvm', user: 'u', startedAt: '', command: 'reroute apply' };
    expect(isStale(other)).toBe(false);
    writeFileSync(statePaths(stateDir).lock, JSON.stringify(other));
    expect(() => acquireStateLock(stateDir, { command: 'c', releaseOnExit: false })).toThrow(/other-scvm/);
  });

  it('does not remove a lock that is no longer ours on release', () => {
    const lock = acquireStateLock(stateDir, { command: 'c', releaseOnExit: false });
    forceUnlock(stateDir, lock.info.lockId);
    const next = acquireStateLock(stateDir, { command: 'd', releaseOnExit: false });
    lock.release();
    expect(readLockInfo(statePaths(stateDir).lock)?.lockId).toBe(next.info.lockId);
    next.release();
  });

  it('force-unlock needs the matching lock id', () => {
    const lock = acquireStateLock(stateDir, { command: 'c', releaseOnExit: false });
    expect(() => forceUnlock(stateDir, 'wrong')).toThrow(RerouteError);
    expect(forceUnlock(stateDir, lock.info.lockId).lockId).toBe(lock.info.lockId);
    lock.release();
  });

  it('is released when the holding process exits normally', () => {
    const script = `require('${join(__dirname, 'state-lock.ts').replace(/'/g, "\\'")}').acquireStateLock(${JSON.stringify(stateDir)}, { command: 'child' });`;
    const r = spawnSync(join(__dirname, '../../node_modules/.bin/tsx'), ['-e', script], { encoding: 'utf8', timeout: 30000 });
    expect(r.status).toBe(0);
    expect(existsSync(statePaths(stateDir).lock)).toBe(false);
  });

  it('is left behind by a killed process and recovered as stale by the next run', () => {
    const script = `require('${join(__dirname, 'state-lock.ts')}').acquireStateLock(${JSON.stringify(stateDir)}, { command: 'victim' }); process.kill(process.pid, 'SIGKILL');`;
    spawnSync(join(__dirname, '../../node_modules/.bin/tsx'), ['-e', script], { encoding: 'utf8', timeout: 30000 });
    expect(JSON.parse(readFileSync(statePaths(stateDir).lock, 'utf8')).command).toBe('victim');
    const lock = acquireStateLock(stateDir, { command: 'next', releaseOnExit: false });
    expect(lock.warnings[0]).toContain('victim');
    lock.release();
  });
});
