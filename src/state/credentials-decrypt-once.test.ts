import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { utils as ssh2Utils } from 'ssh2';
import { resolveCredential } from './credentials';

/**
 * An encrypted OpenSSH-format key costs a bcrypt KDF to open (1-2 s of
 * blocking CPU on a busy machine). Found by the reliability lab run: when every
 * connection's handshake decrypted it again, 4 parallel connections blocked the
 * event loop past a 5 s connect timeout and every host was reported
 * unreachable. The key is now decrypted once, when the credential is resolved.
 */
describe('an encrypted key file is decrypted once', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zrb-cred-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', 'zrb-pass-77', '-f', join(dir, 'locked')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('carries the decrypted key, which ssh2 takes as is (no second KDF) and can sign with', async () => {
    const c = await resolveCredential({ kind: 'key-file', path: join(dir, 'locked'), passphraseEnv: 'KP' }, { who: 'root on the ESXi hosts', env: { KP: 'zrb-pass-77' } });
    const k = c.decryptedKey?.reveal();
    expect(k?.isPrivateKey()).toBe(true);
    const started = Date.now();
    const again = ssh2Utils.parseKey(k!);
    expect(again).toBe(k);
    expect(Date.now() - started).toBeLessThan(50);
    expect(Buffer.isBuffer(k!.sign(Buffer.from('challenge')))).toBe(true);
  });

  it('never prints the decrypted key or the passphrase', async () => {
    const c = await resolveCredential({ kind: 'key-file', path: join(dir, 'locked'), passphraseEnv: 'KP' }, { who: 'root on the ESXi hosts', env: { KP: 'zrb-pass-77' } });
    const pem = c.decryptedKey!.reveal().getPrivatePEM();
    const body = pem.split('\n')[3]!;
    for (const shown of [JSON.stringify(c), inspect(c, { depth: 5 }), `${String(c.decryptedKey)}`]) {
      expect(shown).not.toContain('zrb-pass-77');
      expect(shown).not.toContain(body);
      expect(shown).not.toContain('PRIVATE KEY');
    }
  });
});
