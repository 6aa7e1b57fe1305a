import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Plan } from '../../src/plan/plan-types';
import type { PreflightReport } from '../../src/preflight/preflight-types';
import type { JournalEntry } from '../../src/state/apply-journal';
import { nfsRouteChanges } from '../support/lab-io';
import { useLabCluster } from '../support/lab-cluster';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';

/**
 * `reroute preflight` and the apply gate against hosts that fail where real
 * ones fail: esxi-2 boots with UEFI Secure Boot (local.sh is not run at boot),
 * esxi-1 runs the ESXi 6.7 applet profile (the smallest busybox). Through the
 * real CLI in the lab's controller namespace.
 */
jest.setTimeout(600_000);

const INSTALL = '/vmfs/volumes/datastore1/zbs-reroute';
const cluster = useLabCluster('pf-e2e', { lab: { nodes: 2, secureBoot: ['esxi-2'], esxiVersion: { 'esxi-1': '6.7' } } });
const { state } = cluster;

const out = (r: { code: number; stdout: string; stderr: string }) => ({
  code: r.code,
  tail: `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`,
});

/** What apply could change on an ESXi host: our install dir, crontab, local.sh, firewall rulesets. */
async function hostState(host: string): Promise<string> {
  return cluster.lab.execOk(
    host,
    `ls -la ${INSTALL} 2>&1; sha256sum /var/spool/cron/crontabs/root /etc/rc.local.d/local.sh; esxcli network firewall ruleset list`,
  );
}

describeLab('reroute preflight on a Secure Boot host and a 6.7 host', () => {
  it("fails esxi-2's secure-boot check with its fix, passes esxi-1 (6.7: every command found), exit 1; --json parses", async () => {
    const text = await reroute(cluster.lab, `preflight -f ${cluster.manifest} ${state()}`);
    expect(out(text)).toEqual({ code: 1, tail: expect.stringContaining('Preflight failed') });
    expect(text.stdout).toMatch(/node-2\/esxi\s*│?\s*secure-boot\s*│?\s*FAIL/);

    const json = await reroute(cluster.lab, `--json preflight -f ${cluster.manifest} ${state()}`);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as PreflightReport;
    const fails = report.checks.filter((c) => c.status === 'fail');
    expect(fails).toEqual([
      expect.objectContaining({
        host: 'node-2/esxi',
        name: 'secure-boot',
        detail: expect.stringContaining('local.sh'),
        fix: expect.stringContaining('--skip-check secure-boot'),
      }),
    ]);
    const byName = (host: string, name: string) => report.checks.find((c) => c.host === host && c.name === name);
    expect(byName('node-1/esxi', 'secure-boot')?.status).toBe('pass');
    expect(byName('node-1/esxi', 'esxi-version')).toMatchObject({ status: 'pass', detail: expect.stringContaining('6.7') });
    // The 6.7 profile's busybox has every command the agent, probe and host-ops run.
    expect(byName('node-1/esxi', 'commands')).toMatchObject({ status: 'pass' });
    expect(byName('node-2/esxi', 'commands')).toMatchObject({ status: 'pass' });
    // The session list, read on each host by the agent's own code, names both SCVMs.
    for (const h of ['node-1/esxi', 'node-2/esxi'])
      expect({ h, c: byName(h, 'session-list') }).toEqual({ h, c: expect.objectContaining({ status: 'pass' }) });
    for (const h of ['node-1/esxi', 'node-2/esxi'])
      for (const n of ['datastore', 'nfs-datastore']) expect({ h, n, s: byName(h, n)?.status }).toEqual({ h, n, s: 'pass' });
    expect(byName('node-1/scvm', 'scvm-login')?.status).toBe('pass');
    expect(byName('node-1/scvm', 'scvm-version')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/SMTX OS \d/) });
    expect(report.summary.fail).toBe(1);
  });

  it('plan shows the checks section above the actions, the failed check with its fix', async () => {
    const r = await reroute(cluster.lab, `plan -f ${cluster.manifest} ${state()}`);
    expect(out(r)).toEqual({ code: 0, tail: expect.anything() });
    const checksAt = r.stdout.indexOf('Checks:');
    const failAt = r.stdout.indexOf('✗ node-2/esxi secure-boot');
    const firstHost = r.stdout.search(/^ {2}[+~-] /m);
    expect(checksAt).toBeGreaterThan(0);
    expect(failAt).toBeGreaterThan(checksAt);
    expect(firstHost).toBeGreaterThan(failAt);
    const json = JSON.parse((await reroute(cluster.lab, `--json plan -f ${cluster.manifest} ${state()}`)).stdout) as Plan;
    expect(json.preflight?.summary?.fail).toBe(1);
  });

  it('apply refuses with PREFLIGHT_FAILED naming host and check, and changes nothing on any host', async () => {
    const before = { e1: await hostState('esxi-1'), e2: await hostState('esxi-2') };
    const r = await reroute(cluster.lab, `apply -f ${cluster.manifest} ${state()} --auto-approve`);
    expect(out(r)).toEqual({ code: 1, tail: expect.stringContaining('Error [PREFLIGHT_FAILED]') });
    expect(r.stderr).toContain('node-2/esxi secure-boot');
    expect(r.stderr).toContain('--skip-check secure-boot');
    expect({ e1: await hostState('esxi-1'), e2: await hostState('esxi-2') }).toEqual(before);
    expect(before.e1).toContain('No such file');
  });

  it('apply --skip-check secure-boot proceeds, and the journal records the skip and the failure it let through', async () => {
    const r = await reroute(cluster.lab, `apply -f ${cluster.manifest} ${state()} --auto-approve --skip-check secure-boot`);
    expect(out(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    const entries = fs
      .readFileSync(path.join(cluster.dir, 'state', 'apply-journal.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JournalEntry);
    const start = entries.filter((e): e is Extract<JournalEntry, { type: 'run-start' }> => e.type === 'run-start').pop();
    expect(start?.preflight).toEqual({ skipped: ['secure-boot'], overridden: [expect.stringContaining('node-2/esxi secure-boot')] });
  });

  it('the way out on a Secure Boot host: a reboot loses the crontab line (local.sh not run), correcting that drift restores the agent, the route untouched', async () => {
    const CRON = '/var/spool/cron/crontabs/root';
    const routeOf = async () =>
      /^192\.168\.33\.2\s+255\.255\.255\.255\s+(\S+)/m.exec(await cluster.lab.execOk('esxi-2', 'esxcfg-route -l'))?.[1];
    const before = await routeOf();
    expect(before).toBe(cluster.lab.nodes[1]!.scvm.storageIp);
    await cluster.lab.reboot('esxi-2');
    const since = Date.now();
    expect(await cluster.lab.execOk('esxi-2', `cat ${CRON}`)).not.toContain('zbs-reroute');
    // The drift watch --mode correct would find: our crontab line, on esxi-2 only.
    const plan = await reroute(cluster.lab, `plan -f ${cluster.manifest} ${state()} --detailed-exitcode`);
    expect(out(plan)).toEqual({ code: 2, tail: expect.stringContaining('node-2') });
    expect(plan.stdout).toMatch(/crontab/);
    expect(plan.stdout).not.toMatch(/^ {2}[+~-] .*node-1\/esxi/m);
    // Correcting it (what watch runs, with the same executor) brings the agent back.
    const r = await reroute(cluster.lab, `apply -f ${cluster.manifest} ${state()} --auto-approve --skip-check secure-boot`);
    expect(out(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(await cluster.lab.execOk('esxi-2', `cat ${CRON}`)).toContain(`${INSTALL}/reroute-loop.sh`);
    expect(await cluster.lab.execOk('esxi-2', 'cat /var/run/zbs-reroute/status')).toMatch(/version=/);
    expect(await routeOf()).toBe(before);
    expect(nfsRouteChanges(cluster.lab, since)['esxi-2'] ?? []).toEqual([]);
  });

  it("status shows each SCVM's SMTX OS version beside the agent version; --check passes when no version breaks the agent", async () => {
    const r = await reroute(cluster.lab, `status -f ${cluster.manifest} ${state()} --check`);
    expect(out(r)).toEqual({ code: 0, tail: expect.stringContaining('SMTX OS') });
    const json = JSON.parse((await reroute(cluster.lab, `--json status -f ${cluster.manifest} ${state()}`)).stdout) as {
      hosts: Array<{ node: string; scvmVersion?: string; installedVersion?: string }>;
    };
    for (const h of json.hosts)
      expect(h).toMatchObject({ scvmVersion: expect.stringMatching(/^\d+\.\d+/), installedVersion: expect.any(String) });
  });
});
