import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import { describeHostKey } from './host-key';

describe('describeHostKey', () => {
  it('reads the key type and gives the same fingerprint as ssh-keygen -lf', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zrr-hostkey-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
      const [type, b64] = readFileSync(join(dir, 'k.pub'), 'utf8').split(' ') as [string, string];
      const info = describeHostKey(Buffer.from(b64, 'base64'));
      const expected = execFileSync('ssh-keygen', ['-lf', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1];
      expect(info.keyType).toBe(type);
      expect(info.fingerprint).toBe(expected);
      expect(info.base64).toBe(b64);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['too short', Buffer.from([0, 0])],
    ['length past the end', Buffer.from([0, 0, 0, 50, 0x61])],
    ['non-name bytes', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('a b')])],
  ])('refuses a malformed blob (%s)', (_n, blob) => {
    expect(() => describeHostKey(blob)).toThrow(RerouteError);
  });
});
