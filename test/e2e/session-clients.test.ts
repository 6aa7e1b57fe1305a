import * as fs from 'node:fs';
import * as path from 'node:path';
import { readClusterState } from '../../lab/services/cluster-state';
import { nfsRouteChanges } from '../support/lab-io';
import { useLabCluster } from '../support/lab-cluster';
import { waitFor } from '../support/wait-for';
import { reroute, startCli } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { steps } from '../support/steps';

/**
 * Issue 11: the ESXi client IPs registered in the local SCVM's ZBS session, as
 * the seed tooling did, and kept right when the session id changes (the
 * SCVM's access service restarted). The reconciler owns the item: apply
 * registers, `plan` shows a re-registration after `access-restart`, apply
 * (and `watch --mode correct`) fixes it. No route moves anywhere.
 */
jest.setTimeout(600_000);

const cluster = useLabCluster('l2-sess', { lab: { nodes: 2 }, manifest: { clusterName: 'sess' } });
const { state } = cluster;

const session = (i: number) => readClusterState(cluster.lab.clusterFile).scvms[`scvm-${i}`]!;
const clientsOf = (i: number) => `${cluster.lab.nodes[i - 1]!.esxi.mgmtIp},${cluster.lab.nodes[i - 1]!.esxi.storageIp}`;

/** Every route change on any ESXi since `t`, through the shims (who ran it) and in the kernel. */
function routeChanges(since: number): { audit: string[]; kernel: Record<string, string[]> } {
  const audit = cluster.lab.nodes.flatMap((n) =>
    cluster.lab.routeAudit(n.esxi.target, since).map((e) => `${n.esxi.target} ${e.op} ${e.prefix} ${e.gateway} by ${e.parent}`),
  );
  return { audit, kernel: nfsRouteChanges(cluster.lab, since) };
}

describeLab('ESXi client IPs in the local SCVM session', () => {
  const step = steps();
  let settled = 0;

  step('apply registers each ESXi management and storage IP in its own SCVM session', async () => {
    expect(session(1).localClientsIps).toBe('');
    const plan = await reroute(cluster.lab, `plan -f ${cluster.manifest} ${state()}`);
    expect(plan.stdout).toMatch(
      new RegExp(`ZBS session ${session(1).sessionId}: local_clients_ips \\(none\\) → ${clientsOf(1).replace(/\./g, '\\.')}`),
    );
    const r = await reroute(cluster.lab, `apply -f ${cluster.manifest} ${state()} --auto-approve`);
    expect({ code: r.code, out: r.stdout.slice(-1500) }).toEqual({ code: 0, out: expect.stringContaining('Apply complete') });
    expect([session(1).localClientsIps, session(2).localClientsIps]).toEqual([clientsOf(1), clientsOf(2)]);
    // The agents have routed 33.2 to their local SCVM: from here on nothing may move a route.
    await waitFor(
      'every ESXi routed to its own SCVM by its agent',
      async () => {
        for (const n of cluster.lab.nodes)
          if (!(await cluster.lab.execOk(n.esxi.target, 'esxcfg-route -l')).includes(n.scvm.storageIp)) return undefined;
        return true;
      },
      { timeoutMs: 60_000 },
    );
    settled = Date.now();
    expect((await reroute(cluster.lab, `plan -f ${cluster.manifest} ${state()} --detailed-exitcode`)).code).toBe(0);
  });

  step('after access-restart the session id changes; plan shows the re-registration; apply fixes it; plan is clean again', async () => {
    const old = session(1).sessionId;
    await cluster.lab.fault('access-restart', 'scvm-1');
    const fresh = session(1);
    expect(fresh.sessionId).not.toBe(old);
    expect(fresh.localClientsIps).toBe('');

    const plan = await reroute(cluster.lab, `plan -f ${cluster.manifest} ${state()} --detailed-exitcode`);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(`ZBS session ${fresh.sessionId}: local_clients_ips (none) → ${clientsOf(1)}`);
    expect(plan.stdout).toContain('no route changes');
    expect(plan.stdout).not.toMatch(/node-2 \(scvm\): (?!up to date)/);

    const r = await reroute(cluster.lab, `apply -f ${cluster.manifest} ${state()} --auto-approve`);
    expect(r.code).toBe(0);
    expect(session(1)).toMatchObject({ sessionId: fresh.sessionId, localClientsIps: clientsOf(1) });
    expect((await reroute(cluster.lab, `plan -f ${cluster.manifest} ${state()} --detailed-exitcode`)).code).toBe(0);
    expect(routeChanges(settled)).toEqual({ audit: [], kernel: { 'esxi-1': [], 'esxi-2': [] } });
  });

  step('watch --mode correct re-registers a changed session within a period, touching no route', async () => {
    const w = startCli(['--state', `${cluster.dir}/state`, 'watch', '-f', cluster.manifest, '--mode', 'correct', '--interval', '5'], {
      lab: cluster.lab,
    });
    try {
      // Let it observe every host once before the drift.
      await new Promise((r) => setTimeout(r, 8_000));
      await cluster.lab.fault('access-restart', 'scvm-2');
      const id = session(2).sessionId;
      const t = Date.now();
      await waitFor('watch to re-register scvm-2', () => (session(2).localClientsIps === clientsOf(2) ? true : undefined), {
        timeoutMs: 60_000,
      });
      expect(session(2).sessionId).toBe(id);
      const log = fs.readFileSync(path.join(cluster.dir, 'state', 'watch.log'), 'utf8');
      expect(log).toMatch(/"item":"zbs session clients"/);
      process.stdout.write(`watch re-registered the session in ${Date.now() - t} ms\n`);
    } finally {
      await w.stop('SIGTERM', 60_000);
    }
    expect(routeChanges(settled)).toEqual({ audit: [], kernel: { 'esxi-1': [], 'esxi-2': [] } });
    if (w.output().includes('Error')) process.stdout.write(w.output().slice(-2000));
  });
});
