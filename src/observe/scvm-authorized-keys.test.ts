import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { explainSudoFailure, parseAuthorizedKeys, parseAuthorizedKeysRead, readAuthorizedKeysCommand } from './scvm-authorized-keys';

const OURS =
  'from="10.10.0.11,10.20.0.11",no-port-forwarding,no-pty,no-agent-forwarding,no-X11-forwarding ssh-rsa AAAAB3Nza zbs-reroute:prod-a';

describe('parseAuthorizedKeys', () => {
  it("keeps only this cluster's marked entries and counts every other key line", () => {
    const text = [
      '# managed by ops',
      'ssh-ed25519 AAAAC3Nz admin@laptop',
      '',
      OURS,
      'ssh-rsa AAAAB3Nzb zbs-reroute:prod-b',
      'ssh-rsa AAAAB3Nzc zbs-reroute:prod-a-old',
      `${OURS}\r`,
    ].join('\n');
    expect(parseAuthorizedKeys(text, 'prod-a')).toEqual({ managedKeys: [OURS, OURS], foreignKeyCount: 3 });
  });

  it('does not take a marker that is not the last word', () => {
    expect(parseAuthorizedKeys('ssh-rsa AAAA zbs-reroute:prod-a trailing', 'prod-a')).toEqual({ managedKeys: [], foreignKeyCount: 1 });
  });

  it('is empty for an empty file', () => {
    expect(parseAuthorizedKeys('', 'prod-a')).toEqual({ managedKeys: [], foreignKeyCount: 0 });
  });
});

describe('readAuthorizedKeysCommand', () => {
  it('uses sudo -n so it can never wait for a password', () => {
    expect(readAuthorizedKeysCommand({ sudo: true })).toMatch(/^sudo -n sh -c '/);
    expect(readAuthorizedKeysCommand({ sudo: false })).toMatch(/^sh -c '/);
  });

  it('prints a status line then the exact file, through a real shell', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ak-'));
    try {
      const file = path.join(dir, "authorized keys 'x'");
      const run = (): string => spawnSync('sh', ['-c', readAuthorizedKeysCommand({ sudo: false, path: file })]).stdout.toString();
      expect(parseAuthorizedKeysRead(run())).toEqual({ status: 'absent', text: '' });
      fs.writeFileSync(file, `${OURS}\nssh-ed25519 AAAA x`);
      expect(parseAuthorizedKeysRead(run())).toEqual({ status: 'present', text: `${OURS}\nssh-ed25519 AAAA x` });
      fs.rmSync(file);
      fs.mkdirSync(file);
      expect(parseAuthorizedKeysRead(run())).toEqual({ status: 'not-a-file', text: '' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects output it did not produce', () => {
    expect(parseAuthorizedKeysRead('Last login: yesterday\npresent\n')).toHaveProperty('error');
  });
});

describe('explainSudoFailure', () => {
  it('names the usual sudo refusals', () => {
    expect(explainSudoFailure('sudo: a password is required\n', 'smartx')).toMatch(/NOPASSWD/);
    expect(explainSudoFailure('smartx is not in the sudoers file.  This incident will be reported.\n', 'smartx')).toMatch(
      /may not use sudo/,
    );
    expect(explainSudoFailure('something else', 'smartx')).toBeUndefined();
  });
});
