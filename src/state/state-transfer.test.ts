import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import { discardCreatedKeypair, ensureClusterKeypair, loadClusterKeypair } from './cluster-keypair';
import { statePaths } from './state-dir';
import { exportState, importState } from './state-transfer';

const pem = (): string => generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;

describe('reroute state export | import', () => {
  let root: string;
  const keyA = pem();
  const keyB = pem();
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'zrr-st-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function folder(name: string, key?: string, knownHosts?: string): string {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (key !== undefined) writeFileSync(statePaths(dir).privateKey, key, { mode: 0o600 });
    if (knownHosts !== undefined) writeFileSync(statePaths(dir).knownHosts, knownHosts, { mode: 0o600 });
    return dir;
  }

  it('a second operator gets the same keypair and pins; the export file is 0600 and never overwritten silently', () => {
    const a = folder('a', keyA, '10.0.0.1 ssh-ed25519 AAAAone\n');
    const out = join(root, 'id.json');
    expect(exportState(a, out)).toEqual({ hasKey: true, pinned: 1 });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(() => exportState(a, out)).toThrow(/exists already/);
    const b = join(root, 'b');
    expect(importState(b, out)).toEqual({ key: 'imported', pinsWritten: 1, hostsRepinned: 0 });
    expect(statSync(statePaths(b).privateKey).mode & 0o777).toBe(0o600);
    expect(loadClusterKeypair(b, 'c')!.privateKeySha256).toBe(loadClusterKeypair(a, 'c')!.privateKeySha256);
    expect(readFileSync(statePaths(b).knownHosts, 'utf8')).toBe('10.0.0.1 ssh-ed25519 AAAAone\n');
    // Again: nothing to do.
    expect(importState(b, out)).toEqual({ key: 'same', pinsWritten: 0, hostsRepinned: 0 });
  });

  it('a different keypair in the importing folder is refused without --force, replaced with it', () => {
    const out = join(root, 'id.json');
    exportState(folder('a', keyA), out);
    const b = folder('b', keyB);
    expect(() => importState(b, out)).toThrow(RerouteError);
    expect(() => importState(b, out)).toThrow(/different cluster keypair/);
    expect(readFileSync(statePaths(b).privateKey, 'utf8')).toBe(keyB);
    expect(importState(b, out, { force: true }).key).toBe('imported');
    expect(readFileSync(statePaths(b).privateKey, 'utf8').trim()).toBe(keyA.trim());
  });

  it('a host pinned with another key is refused without --force; other local pins are kept', () => {
    const out = join(root, 'id.json');
    exportState(folder('a', undefined, '10.0.0.1 ssh-ed25519 AAAAone\n'), out);
    const b = folder('b', undefined, '10.0.0.1 ssh-ed25519 AAAAtwo\n10.0.0.9 ssh-ed25519 AAAAnine\n');
    expect(() => importState(b, out)).toThrow(/pins other host keys than this state folder for 10\.0\.0\.1/);
    expect(importState(b, out, { force: true })).toEqual({ key: 'none', pinsWritten: 1, hostsRepinned: 1 });
    expect(readFileSync(statePaths(b).knownHosts, 'utf8')).toBe('10.0.0.9 ssh-ed25519 AAAAnine\n10.0.0.1 ssh-ed25519 AAAAone\n');
  });

  it('a file that is not an export is refused', () => {
    const bad = join(root, 'bad.json');
    writeFileSync(bad, '{"format":"x"}');
    expect(() => importState(join(root, 'b'), bad)).toThrow(/not a zbs-reroute state export/);
  });

  it('a keypair created by a run that lost the key lease is dropped again, never one that changed since', () => {
    const dir = folder('c', keyA);
    const kp = loadClusterKeypair(dir, 'c')!;
    expect(discardCreatedKeypair(kp)).toBe(true);
    expect(existsSync(statePaths(dir).privateKey)).toBe(false);
    writeFileSync(statePaths(dir).privateKey, keyB, { mode: 0o600 });
    expect(discardCreatedKeypair(kp)).toBe(false);
    expect(existsSync(statePaths(dir).privateKey)).toBe(true);
    expect(ensureClusterKeypair(dir, 'c').origin).toBe('existing');
  });
});
