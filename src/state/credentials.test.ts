import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { RerouteError } from '../errors/reroute-error';
import { expandHome, resolveCredential } from './credentials';

const who = 'root on the ESXi hosts';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof RerouteError ? e.code : `other: ${String(e)}`;
  }
}

describe('resolveCredential', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zrr-cred-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'plain')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'pass-phrase-42', '-f', join(dir, 'locked')]);
    mkdirSync(join(dir, 'home', '.ssh'), { recursive: true });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'home', '.ssh', 'id_ed25519')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a key file, expanding ~ against the home folder', async () => {
    const c = await resolveCredential({ kind: 'key-file', path: '~/.ssh/id_ed25519' }, { who, homeDir: join(dir, 'home') });
    expect(c.privateKey?.reveal().equals(readFileSync(join(dir, 'home', '.ssh', 'id_ed25519')))).toBe(true);
    expect(c.description).toBe(`key file ${join(dir, 'home', '.ssh', 'id_ed25519')}`);
    expect(expandHome('~', '/h')).toBe('/h');
    expect(expandHome('/abs/~', '/h')).toBe('/abs/~');
  });

  it('resolves a relative key path against the manifest folder', async () => {
    const c = await resolveCredential({ kind: 'key-file', path: 'plain' }, { who, baseDir: dir });
    expect(c.privateKey).toBeDefined();
  });

  it('fails with CREDENTIAL_MISSING for a missing key, a public key, or a directory', async () => {
    expect(await code(resolveCredential({ kind: 'key-file', path: join(dir, 'nope') }, { who }))).toBe('CREDENTIAL_MISSING');
    expect(await code(resolveCredential({ kind: 'key-file', path: join(dir, 'plain.pub') }, { who }))).toBe('CREDENTIAL_MISSING');
    expect(await code(resolveCredential({ kind: 'key-file', path: dir }, { who }))).toBe('CREDENTIAL_MISSING');
  });

  it('needs the passphrase variable for an encrypted key and checks it decrypts', async () => {
    const src = { kind: 'key-file' as const, path: join(dir, 'locked') };
    await expect(resolveCredential(src, { who })).rejects.toThrow(/encrypted/);
    await expect(resolveCredential({ ...src, passphraseEnv: 'KP' }, { who, env: {} })).rejects.toThrow(/\$KP, which is not set/);
    await expect(resolveCredential({ ...src, passphraseEnv: 'KP' }, { who, env: { KP: 'wrong' } })).rejects.toThrow(/does not decrypt/);
    const ok = await resolveCredential({ ...src, passphraseEnv: 'KP' }, { who, env: { KP: 'pass-phrase-42' } });
    expect(ok.passphrase?.reveal()).toBe('pass-phrase-42');
  });

  it('takes a password from the named environment variable and never prints it', async () => {
    const c = await resolveCredential({ kind: 'password-env', env: 'ESXI_PW' }, { who, env: { ESXI_PW: 'S3cret!pw' } });
    expect(c.password?.reveal()).toBe('S3cret!pw');
    expect(JSON.stringify(c)).not.toContain('S3cret');
    expect(inspect(c, { depth: 5 })).not.toContain('S3cret');
    expect(`${c.password}`).toBe('(sensitive)');
    const err = (await resolveCredential({ kind: 'password-env', env: 'ESXI_PW' }, { who, env: {} }).catch((e: unknown) => e)) as RerouteError;
    expect(err.code).toBe('CREDENTIAL_MISSING');
    expect(err.message).toContain('$ESXI_PW');
    expect(err.fix).toContain('ESXI_PW');
  });

  it('asks through the injected prompt, and refuses when there is none', async () => {
    const asked: string[] = [];
    const c = await resolveCredential({ kind: 'prompt' }, { who, prompt: async (q, o) => (asked.push(`${q}|${o.secret}`), 'typed-pw') });
    expect(c.password?.reveal()).toBe('typed-pw');
    expect(asked).toEqual(['Password for root on the ESXi hosts: |true']);
    expect(await code(resolveCredential({ kind: 'prompt' }, { who }))).toBe('CREDENTIAL_MISSING');
    expect(await code(resolveCredential({ kind: 'prompt' }, { who, prompt: async () => '' }))).toBe('CREDENTIAL_MISSING');
  });

  describe('ssh-agent', () => {
    let server: Server;
    const sock = (): string => join(dir, 'agent.sock');
    beforeAll(async () => {
      server = createServer();
      await new Promise<void>((r) => server.listen(sock(), r));
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
    });

    it('uses the socket named by the variable when it is a live socket', async () => {
      const c = await resolveCredential({ kind: 'agent', socketEnv: 'SSH_AUTH_SOCK' }, { who, env: { SSH_AUTH_SOCK: sock() } });
      expect(c.agent).toBe(sock());
    });

    it('fails clearly when the variable is unset or points at no socket', async () => {
      await expect(resolveCredential({ kind: 'agent', socketEnv: 'SSH_AUTH_SOCK' }, { who, env: {} })).rejects.toThrow(/not set/);
      await expect(resolveCredential({ kind: 'agent', socketEnv: 'SSH_AUTH_SOCK' }, { who, env: { SSH_AUTH_SOCK: join(dir, 'plain') } })).rejects.toThrow(/not a live ssh-agent socket/);
    });
  });
});
