import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import { KnownHostsStore, describePin, hostPattern } from './known-hosts-store';

function hostKey(dir: string, name: string, type = 'ed25519'): Buffer {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, name)]);
  return Buffer.from(readFileSync(join(dir, `${name}.pub`), 'utf8').split(' ')[1] as string, 'base64');
}

describe('KnownHostsStore', () => {
  let dir: string;
  let keyA: Buffer;
  let keyB: Buffer;
  let keyRsa: Buffer;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zrr-kh-'));
    keyA = hostKey(dir, 'a');
    keyB = hostKey(dir, 'b');
    keyRsa = hostKey(dir, 'r', 'rsa');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let path: string;
  beforeEach(() => {
    path = join(mkdtempSync(join(dir, 's-')), 'known_hosts');
  });

  it('pins a key on first contact and reports it as new with its SHA256 fingerprint', () => {
    const r = new KnownHostsStore(path).check('esxi-1', '10.0.0.11', 22, keyA);
    expect(r.status).toBe('new');
    expect(r.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(describePin(r)).toContain(r.fingerprint);
    expect(readFileSync(path, 'utf8')).toBe(`10.0.0.11 ssh-ed25519 ${keyA.toString('base64')} zbs-reroute:node=esxi-1\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('reports the same key again as a match without rewriting the file', () => {
    const s = new KnownHostsStore(path);
    s.check('esxi-1', '10.0.0.11', 22, keyA);
    const before = readFileSync(path, 'utf8');
    expect(s.check('esxi-1', '10.0.0.11', 22, keyA).status).toBe('match');
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('refuses a changed key with both fingerprints and the --accept-new-host-key fix', () => {
    const s = new KnownHostsStore(path);
    const first = s.check('esxi-2', '10.0.0.12', 22, keyA);
    let err: unknown;
    try {
      s.check('esxi-2', '10.0.0.12', 22, keyB);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RerouteError);
    const re = err as RerouteError;
    expect(re.code).toBe('HOST_KEY_CHANGED');
    expect(re.message).toContain(first.fingerprint);
    expect(re.message).toContain(new KnownHostsStore(join(dir, 'nope')).check('x', '1.1.1.1', 22, keyB).fingerprint);
    expect(re.fix).toContain('--accept-new-host-key esxi-2');
  });

  it('treats a key of a different type for a pinned host as changed', () => {
    const s = new KnownHostsStore(path);
    s.check('scvm-1', '10.0.0.21', 22, keyA);
    expect(() => s.check('scvm-1', '10.0.0.21', 22, keyRsa)).toThrow(/has changed/);
    expect(s.pinnedKeyTypes('10.0.0.21', 22)).toEqual(['ssh-ed25519']);
  });

  it('re-pins a changed key only for the node the operator accepted, keeping other lines byte for byte', () => {
    writeFileSync(path, '# operator note\n');
    new KnownHostsStore(path).check('esxi-1', '10.0.0.11', 22, keyA);
    new KnownHostsStore(path).check('esxi-2', '10.0.0.12', 22, keyA);
    const s = new KnownHostsStore(path, { acceptNewKeyFor: ['esxi-2'] });
    expect(() => s.check('esxi-1', '10.0.0.11', 22, keyB)).toThrow(RerouteError);
    const r = s.check('esxi-2', '10.0.0.12', 22, keyB);
    expect(r.status).toBe('replaced');
    expect(r.previousFingerprints).toHaveLength(1);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('# operator note');
    expect(lines[1]).toContain('10.0.0.11 ssh-ed25519');
    expect(lines.filter((l) => l.startsWith('10.0.0.12 '))).toEqual([`10.0.0.12 ssh-ed25519 ${keyB.toString('base64')} zbs-reroute:node=esxi-2`]);
    expect(s.check('esxi-2', '10.0.0.12', 22, keyB).status).toBe('match');
  });

  it('accepts a plain node name for a host label node/kind, so --accept-new-host-key node-1 re-pins node-1/esxi', () => {
    new KnownHostsStore(path).check('node-1/esxi', '10.0.0.11', 22, keyA);
    new KnownHostsStore(path).check('node-10/esxi', '10.0.0.20', 22, keyA);
    const s = new KnownHostsStore(path, { acceptNewKeyFor: ['node-1'] });
    expect(s.check('node-1/esxi', '10.0.0.11', 22, keyB).status).toBe('replaced');
    expect(() => s.check('node-10/esxi', '10.0.0.20', 22, keyB)).toThrow(/has changed/);
  });

  it('remembers each refused host once, so a session can stop the run after observation', () => {
    const s = new KnownHostsStore(path);
    s.check('node-2/esxi', '10.0.0.12', 22, keyA);
    expect(s.refusals()).toEqual([]);
    for (let i = 0; i < 2; i++) expect(() => s.check('node-2/esxi', '10.0.0.12', 22, keyB)).toThrow(RerouteError);
    expect(s.refusals().map((e) => [e.code, e.details.node])).toEqual([['HOST_KEY_CHANGED', 'node-2/esxi']]);
  });

  it('keys pins by address and port, writing non-22 ports as [host]:port like OpenSSH', () => {
    expect(hostPattern('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(hostPattern('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
    const s = new KnownHostsStore(path);
    s.check('a', '10.0.0.1', 2222, keyA);
    expect(s.check('a', '10.0.0.1', 22, keyB).status).toBe('new');
    expect(readFileSync(path, 'utf8')).toContain('[10.0.0.1]:2222 ssh-ed25519');
  });

  it('writes a file OpenSSH itself accepts as known_hosts', () => {
    new KnownHostsStore(path).check('esxi-1', '10.0.0.11', 22, keyA);
    const out = execFileSync('ssh-keygen', ['-F', '10.0.0.11', '-f', path], { encoding: 'utf8' });
    expect(out).toContain('ssh-ed25519');
  });

  it('gives connectSsh a policy that accepts pinned keys and throws on changed ones', async () => {
    const seen: string[] = [];
    const s = new KnownHostsStore(path);
    const policy = s.policyFor('esxi-1', '10.0.0.11', 22, (r) => seen.push(r.status));
    expect(await policy('ignored', 'ignored', keyA)).toBe('accept');
    expect(await policy('ignored', 'ignored', keyA)).toBe('accept');
    expect(() => policy('ignored', 'ignored', keyB)).toThrow(RerouteError);
    expect(seen).toEqual(['new', 'match']);
  });
});
