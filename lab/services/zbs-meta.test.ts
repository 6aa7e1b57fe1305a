/** The shell `zbs-meta` against sidecars written by cluster-state, under sh and (if present) busybox. */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { newScvmState, setSessionClientIps, updateScvm, writeClusterState } from './cluster-state';

const ZBS_META = path.join(__dirname, 'zbs-meta');
const shells: string[][] = [['sh']];
if (fs.existsSync('/bin/busybox') || fs.existsSync('/usr/bin/busybox')) shells.push(['busybox', 'sh']);

describe.each(shells)('zbs-meta under %s', (...sh: string[]) => {
  let dir: string;
  let file: string;
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(sh[0]!, [...sh.slice(1), ZBS_META, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ZBS_SIM_DIR: dir, ...env },
      encoding: 'utf8',
      timeout: 10000,
    });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrs-zbs-meta-'));
    file = path.join(dir, 'cluster.json');
    writeClusterState(file, {
      version: 1,
      scvms: {
        'scvm-1': newScvmState('scvm-1', 1, '10.20.0.101', '10.10.0.101'),
        'scvm-12': newScvmState('scvm-12', 12, '10.20.0.112', '10.10.0.112'),
      },
    });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints a header, a dash rule and one aligned row per healthy access point', () => {
    const r = run(['session', 'list']);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(
      'UUID                                  Ip             Port    Cid  Secondary_data_ip    Zone     Machine UUID                        ',
    );
    expect(lines[1]).toBe(
      '------------------------------------  -----------  ------  -----  -------------------  -------  ------------------------------------',
    );
    const s12 = newScvmState('scvm-12', 12, '10.20.0.112', '10.10.0.112');
    expect(lines[3]).toBe(`${s12.sessionId}  10.20.0.112   10201     12  10.10.0.112          default  ${s12.machineUuid}`);
    expect(lines).toHaveLength(5);
  });

  it('prints only the header when no access point is healthy', () => {
    updateScvm(file, 'scvm-1', { healthy: false });
    updateScvm(file, 'scvm-12', { healthy: false });
    expect(run(['session', 'list']).stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('fails like an unreachable meta when its own meta is down, but not for a peer being down', () => {
    updateScvm(file, 'scvm-12', { metaUp: false });
    const down = run(['session', 'list'], { ZBS_SIM_SELF: 'scvm-12' });
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/ECONNREFUSED/);
    expect(run(['session', 'list'], { ZBS_SIM_SELF: 'scvm-1' }).status).toBe(0);
  });

  it('stalls then times out when its own meta is hung', () => {
    updateScvm(file, 'scvm-1', { hung: true });
    const r = run(['session', 'list'], { ZBS_SIM_SELF: 'scvm-1', ZBS_SIM_HUNG_S: '0' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ETIMEDOUT/);
  });

  it('session show prints the one session with its Local_clients_ips column; an unknown id fails', () => {
    const s1 = newScvmState('scvm-1', 1, '10.20.0.101', '10.10.0.101');
    setSessionClientIps(file, s1.sessionId, '10.10.0.11,10.20.0.11');
    const r = run(['session', 'show', s1.sessionId]);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^UUID {2,}Ip .*Machine UUID {2,}Local_clients_ips {2,}$/);
    expect(lines[2]).toBe(
      `${s1.sessionId}  10.20.0.101   10201      1  10.10.0.101          default  ${s1.machineUuid}  10.10.0.11,10.20.0.11`,
    );
    expect(lines).toHaveLength(4);
    const empty = run(['session', 'show', newScvmState('scvm-12', 12, '10.20.0.112', '10.10.0.112').sessionId]);
    expect(empty.stdout.split('\n')[2]).toMatch(/default {2}\S+ {21}$/);
    const none = run(['session', 'show', '00000000-0000-4000-8000-000000000000']);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/not found/);
  });

  it('session refresh_address without a reachable meta fails like a refused connection', () => {
    const r = run(['session', 'refresh_address', newScvmState('scvm-1', 1, '10.20.0.101', '10.10.0.101').sessionId, '10.20.0.11'], {
      ZBS_SIM_META: '127.0.0.1:1',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(run(['session', 'refresh_address', 'x y', '10.20.0.11']).status).toBe(2);
    expect(run(['session', 'refresh_address', 'abc', '10.20.0.11;reboot']).status).toBe(2);
  });

  it('rejects other subcommands with usage (exit 2) and reports missing lab state', () => {
    expect(run(['session', 'show']).status).toBe(2);
    expect(run(['session', 'delete', 'x']).status).toBe(2);
    expect(run([]).stderr).toMatch(/usage: zbs-meta session list/);
    fs.rmSync(path.join(dir, 'sessions.txt'));
    const r = run(['session', 'list']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot read .*sessions\.txt/);
  });
});

it('zbs-meta is shellcheck -s sh clean', () => {
  let hasShellcheck = true;
  try {
    execFileSync('shellcheck', ['--version'], { stdio: 'ignore' });
  } catch {
    hasShellcheck = false;
  }
  if (hasShellcheck) expect(() => execFileSync('shellcheck', ['-s', 'sh', ZBS_META], { encoding: 'utf8' })).not.toThrow();
});
