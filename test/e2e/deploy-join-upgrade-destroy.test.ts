import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Plan } from '../../src/plan/plan-types';
import { useLabCluster } from '../support/lab-cluster';
import { agentLoops, longestGaps, nfsRouteChanges, servedBy } from '../support/lab-io';
import { writeLabManifest } from '../support/lab-manifest';
import { waitFor } from '../support/wait-for';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { steps } from '../support/steps';
import { makeOldRelease } from '../support/old-release';

/**
 * The seed's three flows (deploy, join, version check + upgrade) and its
 * teardown, run with the real CLI inside the lab's controller namespace against
 * real sshd/busybox hosts. The rule under test throughout: apply never moves
 * an installed host's 192.168.33.2 route, and VM IO never stops.
 */
jest.setTimeout(600_000);

const OLD_VERSION = '0.9.0';
const cluster = useLabCluster('e2e', { lab: { nodes: 4 } });
let oldEsxiDir: string;
const OLD = () => ({ ZBS_REROUTE_ESXI_DIR: oldEsxiDir });

beforeAll(() => {
  oldEsxiDir = makeOldRelease(OLD_VERSION);
});

afterAll(() => {
  if (oldEsxiDir) fs.rmSync(oldEsxiDir, { recursive: true, force: true });
});

const esxiHosts = (n: number) => Array.from({ length: n }, (_, i) => `esxi-${i + 1}`);

describeLab('deploy, join, upgrade and teardown on a lab cluster', () => {
  const step = steps();
  let m3: string;
  let m4: string;
  /** The same 4 nodes, wanting the version this release ships (what the operator has after a ZBS upgrade). */
  let m4new: string;
  const { state } = cluster;

  step('validate accepts the manifest and plan shows a full install (exit 2 with --detailed-exitcode)', async () => {
    m3 = writeLabManifest(cluster.lab, cluster.dir, 'cluster-3.yaml', { nodes: 3, version: OLD_VERSION });
    expect((await reroute(cluster.lab, `validate -f ${m3}`, { env: OLD() })).code).toBe(0);
    const plan = await reroute(cluster.lab, `plan -f ${m3} ${state()} --detailed-exitcode`, { env: OLD() });
    // Host keys are pinned on first contact and shown to the operator.
    expect(plan.stdout).toContain('first contact, pinned host key SHA256:');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('Plan: ');
  });

  step('deploys the whole cluster in one command, verified on every host, each served by its own SCVM', async () => {
    const r = await reroute(cluster.lab, `apply -f ${m3} ${state()} --auto-approve`, { env: OLD() });
    expect({ code: r.code, out: r.stdout.slice(-2000) }).toEqual({ code: 0, out: expect.stringContaining('Apply complete') });
    const t = Date.now();
    await waitFor(
      'each host served by its own SCVM',
      () => {
        const s = servedBy(cluster.lab, t);
        return esxiHosts(3).every((h, i) => s[h] === `scvm-${i + 1}`) ? true : undefined;
      },
      { timeoutMs: 20_000 },
    );
    for (const h of esxiHosts(3)) {
      const routes = await cluster.lab.execOk(h, 'esxcfg-route -l');
      const node = cluster.lab.nodes.find((n) => n.esxi.target === h);
      expect(routes).toMatch(new RegExp(`192\\.168\\.33\\.2\\s+255\\.255\\.255\\.255\\s+${node?.scvm.storageIp.replace(/\./g, '\\.')}`));
    }
  });

  step('a second apply says No changes. and touches nothing', async () => {
    const t = Date.now();
    const r = await reroute(cluster.lab, `apply -f ${m3} ${state()} --auto-approve`, { env: OLD() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No changes.');
    expect(nfsRouteChanges(cluster.lab, t)).toEqual(Object.fromEntries(esxiHosts(4).map((h) => [h, []])));
  });

  step('join: plan changes only node 4 (plus every SCVM key entry), and installed hosts see zero route changes and no IO gap', async () => {
    m4 = writeLabManifest(cluster.lab, cluster.dir, 'cluster-4.yaml', { nodes: 4, version: OLD_VERSION });
    const planRun = await reroute(cluster.lab, `--json plan -f ${m4} ${state()}`, { env: OLD() });
    expect(planRun.code).toBe(0);
    const plan = JSON.parse(planRun.stdout) as Plan;
    const install = plan.hosts.find((h) => h.host === 'esxi' && h.node === 'node-4');
    expect(install?.change).toBe('create');
    // Installed hosts only learn about the new peer: its IPs in reroute.conf and its SCVM's host
    // key in the agent's known_hosts. No process, crontab or route action.
    for (const h of plan.hosts.filter((x) => x.host === 'esxi' && x.node !== 'node-4')) {
      const touched = h.actions.map((a) => `${a.op} ${'path' in a ? path.basename(a.path ?? '') : ''}`.trim());
      expect({ node: h.node, touched }).toEqual({
        node: h.node,
        touched: ['write-file known_hosts', 'write-file reroute.conf'].filter((t) => touched.includes(t)),
      });
    }
    expect(plan.hosts.flatMap((h) => h.actions).filter((a) => a.op === 'delete-route')).toEqual([]);

    const t = Date.now();
    const r = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`, { env: OLD() });
    expect({ code: r.code, tail: r.stdout.slice(-1500) }).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    const changes = nfsRouteChanges(cluster.lab, t);
    for (const h of esxiHosts(3)) expect({ h, changes: changes[h] }).toEqual({ h, changes: [] });
    const gaps = longestGaps(cluster.lab, t);
    for (const h of esxiHosts(3)) expect({ h, gap: (gaps[h] ?? 0) < 500 }).toEqual({ h, gap: true });
    await waitFor('node 4 served locally', () => (servedBy(cluster.lab, Date.now() - 1500)['esxi-4'] === 'scvm-4' ? true : undefined), {
      timeoutMs: 20_000,
    });
  });

  step('version check after a ZBS upgrade: status --check exits 2 naming every host on the old agent', async () => {
    m4new = writeLabManifest(cluster.lab, cluster.dir, 'cluster-4-new.yaml', { nodes: 4 });
    const r = await reroute(cluster.lab, `--json status -f ${m4new} ${state()} --check`);
    expect(r.code).toBe(2);
    const status = JSON.parse(r.stdout) as {
      hosts: Array<{ node: string; installedVersion: string; versionOk: boolean; routeLocal: boolean }>;
    };
    expect(status.hosts.map((h) => [h.node, h.installedVersion, h.versionOk, h.routeLocal])).toEqual([
      ['node-1', OLD_VERSION, false, true],
      ['node-2', OLD_VERSION, false, true],
      ['node-3', OLD_VERSION, false, true],
      ['node-4', OLD_VERSION, false, true],
    ]);
  });

  step('upgrade: apply swaps the agent on every host with zero route changes and no IO gap; status --check then exits 0', async () => {
    const t = Date.now();
    const r = await reroute(cluster.lab, `apply -f ${m4new} ${state()} --auto-approve`);
    expect({ code: r.code, tail: r.stdout.slice(-1500) }).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(nfsRouteChanges(cluster.lab, t)).toEqual(Object.fromEntries(esxiHosts(4).map((h) => [h, []])));
    const gaps = longestGaps(cluster.lab, t);
    for (const h of esxiHosts(4)) expect({ h, gap: (gaps[h] ?? 0) < 500 }).toEqual({ h, gap: true });
    const status = await reroute(cluster.lab, `status -f ${m4new} ${state()} --check`);
    expect(status.code).toBe(0);
    for (const h of esxiHosts(4)) expect({ h, loops: await agentLoops(cluster.lab, h) }).toEqual({ h, loops: 1 });
  });

  step('teardown: destroy removes everything we own; the seed post-clear checks print nothing; ESXi lines survive', async () => {
    // --remove-routes: the seed's post-clear checks want no 33.2 /32 (the default leaves it on the local SCVM).
    const r = await reroute(cluster.lab, `destroy -f ${m4new} ${state()} --auto-approve --remove-routes`);
    expect({ code: r.code, tail: r.stdout.slice(-1500) }).toEqual({ code: 0, tail: expect.stringContaining('Destroy complete') });
    for (const node of cluster.lab.nodes) {
      const h = node.esxi.target;
      const checks = await cluster.lab.exec(
        h,
        'grep -e reroute-loop -e zbs-reroute /var/spool/cron/crontabs/root; ps -c | grep reroute-loop | grep -v grep; esxcfg-route -l | grep 192.168.33.2; grep zbs-reroute /etc/rc.local.d/local.sh; ls /vmfs/volumes/datastore1/zbs-reroute 2>/dev/null',
      );
      expect({ h, out: checks.stdout }).toEqual({ h, out: '' });
      expect(await cluster.lab.execOk(h, 'cat /var/spool/cron/crontabs/root')).toContain('/sbin/auto-backup.sh');
      const keys = await cluster.lab.exec(node.scvm.target, 'grep -c zbs-reroute: /home/smartx/.ssh/authorized_keys || true');
      expect({ scvm: node.scvm.target, keys: keys.stdout.trim() }).toEqual({ scvm: node.scvm.target, keys: '0' });
    }
    // Without the /32, ESXi reaches its own SCVM over the host-only link: IO still flows.
    const t = Date.now();
    await waitFor(
      'IO served locally after teardown',
      () => {
        const s = servedBy(cluster.lab, t);
        return esxiHosts(4).every((h, i) => s[h] === `scvm-${i + 1}`) ? true : undefined;
      },
      { timeoutMs: 10_000 },
    );
  });
});
