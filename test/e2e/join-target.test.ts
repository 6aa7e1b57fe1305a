import type { Plan } from '../../src/plan/plan-types';
import { nfsRouteChanges } from '../support/lab-io';
import { writeLabManifest } from '../support/lab-manifest';
import { waitFor } from '../support/wait-for';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { useLabCluster } from '../support/lab-cluster';
import { steps } from '../support/steps';

/**
 * Issue 13, items 2 and 7, on a 3-node lab. A join with `--target node-3` on a running 2-node
 * cluster reaches every peer (their reroute.conf names SCVM-3, so node-1 fails over to it when it
 * is the only healthy SCVM), and `status` tells the truth: stale peer lists are shown, and a host
 * whose management link is down is unknown, not stopped, with exit 3 under --check.
 */
jest.setTimeout(600_000);

const cluster = useLabCluster('zj');
const { state, node } = cluster;

interface StatusHost {
  node: string;
  reachable: boolean;
  state: string;
  agentAlive: boolean | null;
  versionOk: boolean | null;
  peerList?: { state: string; lacks: string[] };
}
const statusOf = (stdout: string) => JSON.parse(stdout) as { hosts: StatusHost[]; unreachable: string[] };

const conf = (i: number) => cluster.lab.execOk(node(i).esxi.target, `cat /vmfs/volumes/${node(i).esxi.datastore}/zbs-reroute/reroute.conf`);
const ok = (r: { code: number; stdout: string; stderr: string }) => ({
  code: r.code,
  tail: `${r.stdout.slice(-1500)}${r.stderr.slice(-500)}`,
});

describeLab('a join with --target reaches every peer; status tells the truth', () => {
  const step = steps();
  let m3: string;

  step('a 2-node cluster runs, deployed from the 2-node manifest', async () => {
    const m2 = writeLabManifest(cluster.lab, cluster.dir, 'cluster-2.yaml', { nodes: 2, clusterName: 'zj' });
    const r = await reroute(cluster.lab, `apply -f ${m2} ${state()} --auto-approve`);
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(await conf(1)).not.toContain(node(3).scvm.storageIp);
  });

  step('status with the 3-node manifest flags both peer lists stale, lacking node-3 (--check exits 2)', async () => {
    m3 = writeLabManifest(cluster.lab, cluster.dir, 'cluster-3.yaml', { nodes: 3, clusterName: 'zj' });
    const r = await reroute(cluster.lab, `--json status -f ${m3} ${state()} --check`);
    expect(r.code).toBe(2);
    const hosts = statusOf(r.stdout).hosts;
    expect(hosts.map((h) => [h.node, h.peerList?.state, h.peerList?.lacks])).toEqual([
      ['node-1', 'stale', ['node-3']],
      ['node-2', 'stale', ['node-3']],
      ['node-3', undefined, undefined],
    ]);
  });

  step("apply --target node-3 installs node-3 and updates the peers' lists, and the plan says why", async () => {
    const planRun = await reroute(cluster.lab, `--json plan -f ${m3} ${state()} --target node-3`);
    expect(planRun.code).toBe(0);
    const plan = JSON.parse(planRun.stdout) as Plan;
    expect(plan.targets?.included.filter((e) => e.host === 'esxi')).toEqual([
      { node: 'node-1', host: 'esxi', because: expect.arrayContaining(['peer list (reroute.conf) gains node-3']) },
      { node: 'node-2', host: 'esxi', because: expect.arrayContaining(['peer list (reroute.conf) gains node-3']) },
    ]);
    // Peers get their peer files (and the firewall step adding SCVM-3) only: no process, crontab or route action.
    for (const n of ['node-1', 'node-2']) {
      const ops = [...new Set(plan.hosts.find((h) => h.host === 'esxi' && h.node === n)?.actions.map((a) => a.op))];
      expect({ n, extra: ops.filter((op) => !['write-file', 'firewall-ruleset', 'auto-backup'].includes(op)) }).toEqual({ n, extra: [] });
    }

    const t = Date.now();
    const r = await reroute(cluster.lab, `apply -f ${m3} ${state()} --auto-approve --target node-3`);
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(r.stdout).toContain('Targets: node-3. Also planned, because their files name a target');
    for (const i of [1, 2]) {
      const text = await conf(i);
      expect({ i, peers: /^PEER_STORAGE_IPS=.*$/m.exec(text)?.[0] }).toEqual({ i, peers: expect.stringContaining(node(3).scvm.storageIp) });
      const kh = await cluster.lab.exec(node(i).esxi.target, `cat /vmfs/volumes/${node(i).esxi.datastore}/zbs-reroute/keys/known_hosts`);
      // known_hosts exists only where the agent logs in by ssh; where it does, it pins SCVM-3 too.
      if (kh.code === 0 && kh.stdout.trim() !== '') expect(kh.stdout).toContain(node(3).scvm.mgmtIp);
    }
    const moved = nfsRouteChanges(cluster.lab, t);
    expect({ e1: moved['esxi-1'], e2: moved['esxi-2'] }).toEqual({ e1: [], e2: [] });
    const status = await reroute(cluster.lab, `--json status -f ${m3} ${state()} --check`);
    expect({ code: status.code, peers: statusOf(status.stdout).hosts.map((h) => h.peerList?.state) }).toEqual({
      code: 0,
      peers: ['ok', 'ok', 'ok'],
    });
    expect((await reroute(cluster.lab, `plan -f ${m3} ${state()} --detailed-exitcode`)).code).toBe(0);
  });

  step('status on a host whose management link is down: unreachable and unknown, not stopped or off version; --check exits 3', async () => {
    await cluster.lab.linkFault(`${node(2).esxi.target}:mgmt`, { loss: 100 });
    try {
      const js = await reroute(cluster.lab, `--json status -f ${m3} ${state()} --check`);
      expect(js.code).toBe(3);
      const s = statusOf(js.stdout);
      expect(s.unreachable).toEqual(['node-2']);
      expect(s.hosts.map((h) => [h.node, h.reachable, h.state, h.agentAlive, h.versionOk])).toEqual([
        ['node-1', true, 'ok', true, true],
        ['node-2', false, 'unknown', null, null],
        ['node-3', true, 'ok', true, true],
      ]);
      const text = await reroute(cluster.lab, `status -f ${m3} ${state()}`);
      expect(text.code).toBe(0);
      // The table row (progress lines name node-2 too): reachable "NO: <reason>", agent alive unknown.
      const rows = text.stdout.split('\n').filter((l) => l.includes('│ node-2 ') && l.includes('NO: '));
      expect(rows).toEqual([expect.stringContaining('unknown (unreachable)')]);
      expect(text.stdout).not.toContain('not running');
      expect(text.stdout).not.toContain('not on agent');
      expect(text.stdout).toContain('could not be observed, so their agent, version and route are UNKNOWN');
    } finally {
      await cluster.lab.healLinks(`${node(2).esxi.target}:mgmt`);
    }
  });

  step('node-1 fails over to SCVM-3 when it is the only healthy SCVM', async () => {
    const t = Date.now();
    await cluster.lab.fault('scvm-down', node(1).scvm.target);
    await cluster.lab.fault('scvm-down', node(2).scvm.target);
    await cluster.lab.waitForIo('esxi-1 served by scvm-3', (io) => io[node(1).esxi.target]?.servedBy === node(3).scvm.target, {
      sinceMs: t,
      timeoutMs: 90_000,
    });
    await waitFor(
      'esxi-1 routed via SCVM-3',
      async () => ((await cluster.lab.execOk(node(1).esxi.target, 'esxcfg-route -l')).includes(node(3).scvm.storageIp) ? true : undefined),
      { timeoutMs: 20_000 },
    );
  });
});
