import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { utils as ssh2Utils } from 'ssh2';
import { RerouteError } from '../errors/reroute-error';
import { ensureClusterKeypair, loadClusterKeypair, normaliseRsaPrivateKey } from './cluster-keypair';
import { statePaths } from './state-dir';

describe('cluster keypair', () => {
  let root: string;
  let stateDir: string;
  /** A state folder with a keypair already created; RSA 3072 generation is slow, so most tests copy it. */
  let seeded: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'zrr-kp-'));
    seeded = join(root, 'seeded');
    ensureClusterKeypair(seeded, 'lab');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  beforeEach(() => {
    stateDir = join(mkdtempSync(join(root, 's-')), 'state');
  });
  const fromSeed = (): void => cpSync(seeded, stateDir, { recursive: true });

  it('creates an RSA 3072 keypair once, PKCS#1 PEM 0600, OpenSSH public 0644, state dir 0700', () => {
    const { keypair, origin } = ensureClusterKeypair(stateDir, 'lab');
    expect(origin).toBe('created');
    const p = statePaths(stateDir);
    const pem = readFileSync(p.privateKey, 'utf8');
    expect(pem.startsWith('-----BEGIN RSA PRIVATE KEY-----\n')).toBe(true);
    expect(statSync(p.privateKey).mode & 0o777).toBe(0o600);
    expect(statSync(p.publicKey).mode & 0o777).toBe(0o644);
    expect(statSync(p.root).mode & 0o777).toBe(0o700);
    expect(keypair.publicKeyOpenSsh).toMatch(/^ssh-rsa AAAA[A-Za-z0-9+/=]+ zbs-reroute:lab$/);
    expect(readFileSync(p.publicKey, 'utf8')).toBe(`${keypair.publicKeyOpenSsh}\n`);
    // ssh-keygen derives the same public key from the private PEM and reports 3072 bits.
    const derived = execFileSync('ssh-keygen', ['-y', '-f', p.privateKey], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
    expect(keypair.publicKeyOpenSsh.startsWith(`${derived} `)).toBe(true);
    const lf = execFileSync('ssh-keygen', ['-lf', p.publicKey], { encoding: 'utf8' });
    expect(lf).toMatch(/^3072 /);
    expect(lf).toContain(keypair.publicKeyFingerprint);
    expect(keypair.privateKeySha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('returns the same keypair on later runs instead of generating another', () => {
    fromSeed();
    const a = ensureClusterKeypair(stateDir, 'lab').keypair;
    const b = ensureClusterKeypair(stateDir, 'lab');
    expect(b.origin).toBe('existing');
    expect(b.keypair.privateKeySha256).toBe(a.privateKeySha256);
    expect(loadClusterKeypair(stateDir, 'lab')?.publicKeyOpenSsh).toBe(a.publicKeyOpenSsh);
  });

  it('adopts a key found on a host (OpenSSH format) and stores it as PKCS#1', () => {
    const dir = mkdtempSync(join(root, 'k-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', join(dir, 'smartx_reroute_id_rsa')]);
    const hostKey = readFileSync(join(dir, 'smartx_reroute_id_rsa'));
    const { keypair, origin } = ensureClusterKeypair(stateDir, 'lab', { adopt: { key: hostKey, from: 'esxi-1' } });
    expect(origin).toBe('adopted');
    expect(readFileSync(statePaths(stateDir).privateKey, 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    const expectedPub = readFileSync(join(dir, 'smartx_reroute_id_rsa.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    expect(keypair.publicKeyOpenSsh).toBe(`${expectedPub} zbs-reroute:lab`);
  });

  it('adopts a PKCS#8 PEM RSA key as PKCS#1', () => {
    const pkcs8 = Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey);
    expect(normaliseRsaPrivateKey(pkcs8, 'esxi-1').toString()).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
  });

  it('keeps the existing keypair when a host offers a different one', () => {
    fromSeed();
    const a = ensureClusterKeypair(stateDir, 'lab').keypair;
    const other = Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey);
    const b = ensureClusterKeypair(stateDir, 'lab', { adopt: { key: other, from: 'esxi-2' } });
    expect(b.origin).toBe('existing');
    expect(b.keypair.privateKeySha256).toBe(a.privateKeySha256);
  });

  it('refuses to adopt a non-RSA or damaged key, without echoing key material', () => {
    const ed = Buffer.from(generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey);
    expect(() => normaliseRsaPrivateKey(ed, 'esxi-1')).toThrow(RerouteError);
    const junk = Buffer.from('-----BEGIN RSA PRIVATE KEY-----\nSECRETJUNK\n-----END RSA PRIVATE KEY-----\n');
    let msg = '';
    try {
      normaliseRsaPrivateKey(junk, 'esxi-1');
    } catch (e) {
      msg = `${(e as Error).message} ${(e as RerouteError).fix}`;
    }
    expect(msg).toContain('esxi-1');
    expect(msg).not.toContain('SECRETJUNK');
  });

  it('never shows the private key when the keypair object is printed', () => {
    fromSeed();
    const { keypair } = ensureClusterKeypair(stateDir, 'lab');
    const pem = readFileSync(keypair.privateKeyPath, 'utf8');
    const body = pem.split('\n')[1] as string;
    expect(JSON.stringify(keypair)).not.toContain(body);
    expect(inspect(keypair, { depth: 5 })).not.toContain(body);
    expect(keypair.privateKeyPem.reveal().toString()).toBe(pem);
  });

  it('writes a key ssh2 can use for authentication', () => {
    fromSeed();
    const { keypair } = ensureClusterKeypair(stateDir, 'lab');
    const k = ssh2Utils.parseKey(keypair.privateKeyPem.reveal());
    expect(k instanceof Error).toBe(false);
  });

  it('re-creates a lost public file from the private key', () => {
    fromSeed();
    const { keypair } = ensureClusterKeypair(stateDir, 'lab');
    writeFileSync(keypair.publicKeyPath, 'garbage\n');
    expect(loadClusterKeypair(stateDir, 'lab')?.publicKeyOpenSsh).toBe(keypair.publicKeyOpenSsh);
    expect(readFileSync(keypair.publicKeyPath, 'utf8')).toBe(`${keypair.publicKeyOpenSsh}\n`);
  });
});
