import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostOpCommand } from './host-op-command';

const library = readFileSync(join(__dirname, '../../esxi/apply/host-ops.sh'), 'utf8');

describe('hostOpCommand', () => {
  it('passes hostile file names to the remote shell as one literal argument', () => {
    const evil = "/tmp/x'; touch /tmp/pwned; echo '$(id)`id`";
    const cmd = hostOpCommand('zr_echo() { printf "%s" "$1"; }', [['zr_delete_file', evil]] as never);
    expect(cmd.startsWith('/bin/sh -c ')).toBe(true);
    const out = execFileSync('/bin/sh', ['-c', cmd.replace('zr_delete_file', 'zr_echo')]).toString();
    expect(out).toBe(evil);
  });

  it('prefixes sudo -n for SCVM operations so a password prompt can never hang apply', () => {
    expect(hostOpCommand(library, [['zr_auto_backup']], { sudo: true }).startsWith('sudo -n /bin/sh -c ')).toBe(true);
  });

  it('refuses to remove a folder that is not one level below a datastore', () => {
    for (const bad of ['/vmfs/volumes/ds1', '/vmfs/volumes/ds1/a/b', '/etc', '/vmfs/volumes/ds1/../x', '/vmfs/volumes//x']) {
      let code = 0;
      try {
        execFileSync('/bin/sh', ['-c', hostOpCommand(library, [['zr_remove_dir', bad]])], { stdio: 'pipe' });
      } catch (err) {
        code = (err as { status: number }).status;
      }
      expect({ bad, code }).toEqual({ bad, code: 15 });
    }
  });
});
