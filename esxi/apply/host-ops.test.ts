/**
 * host-ops.sh functions of issue 11, run by busybox sh against a temp tree:
 * local.sh rewritten in place (inode, mode and sticky bit kept, which ESXi's
 * auto-backup saves by) and firewall ruleset steps through a fake esxcli that
 * refuses what ESXi refuses. The lab tests prove the same on the lab's ESXi.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hostOpCommand, type HostOp } from '../../src/apply/host-op-command';

const LIBRARY = fs.readFileSync(path.join(__dirname, 'host-ops.sh'), 'utf8');
const BUSYBOX = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p));
const maybe = BUSYBOX ? describe : describe.skip;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function run(dir: string, ops: HostOp[], stdin?: string): { code: number | null; stderr: string } {
  const cmd = hostOpCommand(LIBRARY, ops).replace(/^\/bin\/sh -c /, '');
  // hostOpCommand quotes the body for `/bin/sh -c`; unquote it by letting sh echo it back.
  const body = spawnSync('/bin/sh', ['-c', `printf '%s' ${cmd}`]).stdout.toString();
  const r = spawnSync(BUSYBOX as string, ['sh', '-c', body], { input: stdin ?? '', env: { PATH: `${dir}/bin:/usr/bin:/bin` } });
  return { code: r.status, stderr: r.stderr.toString() };
}

maybe('host-ops.sh (issue 11)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'host-ops-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('zr_cas_rewrite edits local.sh in place: same inode, mode and sticky bit, content checked by hash', () => {
    const file = `${dir}/local.sh`;
    fs.writeFileSync(file, '#!/bin/sh\nexit 0\n');
    fs.chmodSync(file, 0o1755);
    const before = fs.statSync(file);
    const next = '#!/bin/sh\n# BEGIN zbs-reroute\n# END zbs-reroute\nexit 0\n';
    expect(run(dir, [['zr_cas_rewrite', file, sha('#!/bin/sh\nexit 0\n'), '1755', sha(next)]], next)).toEqual({ code: 0, stderr: '' });
    const after = fs.statSync(file);
    expect(fs.readFileSync(file, 'utf8')).toBe(next);
    expect(after.ino).toBe(before.ino);
    expect(after.mode & 0o7777).toBe(0o1755);
  });

  it('zr_cas_rewrite refuses when the file changed since it was observed, and leaves it alone', () => {
    const file = `${dir}/local.sh`;
    fs.writeFileSync(file, 'operator edit\n');
    const r = run(dir, [['zr_cas_rewrite', file, sha('what we saw\n'), '1755', sha('new\n')]], 'new\n');
    expect(r.code).toBe(12);
    expect(fs.readFileSync(file, 'utf8')).toBe('operator edit\n');
  });

  it('zr_cas_rewrite refuses content that arrived with the wrong hash', () => {
    const file = `${dir}/local.sh`;
    fs.writeFileSync(file, 'old\n');
    expect(run(dir, [['zr_cas_rewrite', file, sha('old\n'), '1755', sha('other\n')]], 'new\n').code).toBe(11);
    expect(fs.readFileSync(file, 'utf8')).toBe('old\n');
  });

  it('zr_fw_ruleset runs the steps in order, treats "already there" / "not there" as done, then refreshes', () => {
    fs.mkdirSync(`${dir}/bin`);
    const log = `${dir}/esxcli.log`;
    // A fake esxcli: logs each call; `allowedip add` of 10.0.0.2 fails as "already exist" and the list shows it.
    fs.writeFileSync(
      `${dir}/bin/esxcli`,
      `#!/bin/sh\necho "$*" >> ${log}\ncase "$*" in\n  *'allowedip add -r httpClient -i 10.0.0.2') echo 'Ip address already exist.' >&2; exit 1 ;;\n  *'allowedip remove -r httpClient -i 10.0.0.9') exit 1 ;;\n  *'allowedip list -r httpClient') printf 'Ruleset     Allowed IP Addresses\\n----------  --------------------\\nhttpClient  10.0.0.1, 10.0.0.2\\n' ;;\nesac\nexit 0\n`,
      { mode: 0o755 },
    );
    const r = run(dir, [
      ['zr_fw_ruleset', 'httpClient', 'allowed-all=false', 'add=10.0.0.1', 'add=10.0.0.2', 'remove=10.0.0.9', 'enabled=true'],
    ]);
    expect(r).toEqual({ code: 0, stderr: expect.any(String) });
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      'network firewall ruleset set -r httpClient --allowed-all false',
      'network firewall ruleset allowedip add -r httpClient -i 10.0.0.1',
      'network firewall ruleset allowedip add -r httpClient -i 10.0.0.2',
      'network firewall ruleset allowedip list -r httpClient',
      'network firewall ruleset allowedip remove -r httpClient -i 10.0.0.9',
      'network firewall ruleset allowedip list -r httpClient',
      'network firewall ruleset set -r httpClient -e true',
      'network firewall refresh',
    ]);
  });

  it('zr_fw_ruleset fails with 17 when esxcli refuses a change, and with 10 on a malformed step', () => {
    fs.mkdirSync(`${dir}/bin`);
    fs.writeFileSync(`${dir}/bin/esxcli`, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    expect(run(dir, [['zr_fw_ruleset', 'httpClient', 'enabled=true']]).code).toBe(17);
    expect(run(dir, [['zr_fw_ruleset', 'httpClient', 'add=1.2.3.4;reboot']]).code).toBe(10);
    expect(run(dir, [['zr_fw_ruleset', 'http Client', 'enabled=true']]).code).toBe(10);
  });

  it('zr_bounded kills a command that hangs', () => {
    fs.mkdirSync(`${dir}/bin`);
    const t = Date.now();
    const body = `${LIBRARY}\nzr_bounded 1 sleep 30\necho "rc=$?"\n`;
    const r = spawnSync(BUSYBOX as string, ['sh', '-c', body], { env: { PATH: '/usr/bin:/bin' } });
    expect(r.stdout.toString()).toMatch(/rc=137/);
    expect(Date.now() - t).toBeLessThan(10_000);
  });
});
