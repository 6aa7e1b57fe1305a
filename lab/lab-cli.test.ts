/**
 * The lab CLI as people and scripts use it (`npm run lab -- …`): one lab
 * driven only through commands, across separate processes.
 */
import * as path from 'node:path';
import { parse } from 'yaml';
import { Lab } from './lab';
import { run, type RunResult } from './proc';
import { repoRoot } from './registry';
import { testLabName } from './test-support';
import { describeLab } from '../test/support/describe-lab';

jest.setTimeout(180_000);

const NAME = testLabName('cli');

/** `lab CMD --name NAME ARGS…` (options before `--`: after it everything is the remote command). */
function lab(cmd: string, ...args: string[]): Promise<RunResult> {
  const root = repoRoot();
  return run(process.execPath, ['-r', 'tsx/cjs', path.join(root, 'lab', 'cli.ts'), cmd, '--name', NAME, ...args], {
    cwd: root,
    timeoutMs: 120_000,
  });
}

describeLab('lab CLI', () => {
  afterAll(async () => {
    if (Lab.list().includes(NAME)) await Lab.down(NAME);
  });

  test('up, status, exec, fault/heal, reboot, manifest, io, down', async () => {
    const up = await lab('up', '--nodes', '2');
    expect(up.stderr).toBe('');
    expect(up).toMatchObject({ code: 0 });
    expect(up.stdout).toMatch(/^lab .* up: 2 nodes in /);

    const status = JSON.parse((await lab('status', '--json')).stdout) as { targets: { target: string; up: boolean; sshd: boolean }[] };
    expect(status.targets.map((t) => `${t.target}:${t.up}:${t.sshd}`)).toEqual([
      'esxi-1:true:true',
      'scvm-1:true:true',
      'esxi-2:true:true',
      'scvm-2:true:true',
    ]);

    const ex = await lab('exec', 'ctl', '--', 'ssh', 'root@10.10.0.12', 'esxcfg-route');
    expect(ex).toMatchObject({ code: 0, stdout: 'VMkernel default gateway is 10.10.0.1\n' });
    expect((await lab('exec', 'esxi-1', '--', 'exit', '3')).code).toBe(3);

    // Two processes change the registry at once: neither change is lost.
    const both = await Promise.all([lab('fault', 'storage-down', 'scvm-2'), lab('fault', 'access-unhealthy', 'scvm-1')]);
    expect(both.map((r) => r.code)).toEqual([0, 0]);
    expect((await lab('exec', 'esxi-1', '--', 'ping', '-c', '1', '-W', '1', '10.20.0.102')).code).not.toBe(0);
    const faults = (await lab('status')).stdout.split('\n').find((l) => l.startsWith('faults: '));
    expect(faults?.slice(8).split(', ').sort()).toEqual(['access-unhealthy scvm-1', 'storage-down scvm-2']);
    expect((await lab('heal', 'storage-down', 'scvm-2')).code).toBe(0);
    expect((await lab('heal', 'access-unhealthy', 'scvm-1')).code).toBe(0);
    const bad = await lab('fault', 'nope', 'esxi-1');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown fault "nope"\n {2}fix: /);

    expect((await lab('reboot', 'esxi-2')).stdout).toBe('esxi-2: rebooted\n');
    expect((await lab('exec', 'esxi-2', '--', 'hostname')).stdout).toBe('esxi-2\n');

    const manifest = parse((await lab('manifest')).stdout) as { kind: string; spec: { nodes: unknown[] } };
    expect(manifest.kind).toBe('RerouteCluster');
    expect(manifest.spec.nodes).toHaveLength(2);

    const io = JSON.parse((await lab('io')).stdout) as Record<string, { servedBy: string | null }>;
    expect(io['esxi-1']?.servedBy).toBe('scvm-1');

    expect((await lab('down')).stdout).toBe(`lab ${NAME} removed\n`);
    expect(Lab.list()).not.toContain(NAME);
  });
});
