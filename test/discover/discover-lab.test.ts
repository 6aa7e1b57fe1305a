/**
 * `reroute discover` on a fresh lab: it reads the ESXi hosts and the meta
 * session list, writes a manifest, and that manifest deploys the cluster with
 * no hand edits (apply verified on every host, each served by its own SCVM).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadShippedBundle } from '../../src/agent/shipped-bundle';
import { loadManifest } from '../../src/manifest';
import { servedBy } from '../support/lab-io';
import { waitFor } from '../support/wait-for';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { useLabCluster } from '../support/lab-cluster';

jest.setTimeout(900_000);

const cluster = useLabCluster('discover', { lab: { nodes: 3 } });

describeLab('reroute discover on a fresh lab', () => {
  const out = () => path.join(cluster.dir, 'discovered.yaml');
  const { state } = cluster;

  it('writes a valid manifest pairing every ESXi host with its own SCVM, with guesses commented', async () => {
    const esxi = cluster.lab.nodes.map((n) => n.esxi.mgmtIp).join(' ');
    const r = await reroute(
      cluster.lab,
      `${state()} discover --esxi ${esxi} --key-file ${cluster.lab.operatorKeyPath} --scvm ${cluster.lab.nodes[0]?.scvm.mgmtIp} --cluster-name disc --out ${out()}`,
    );
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: expect.any(String) });
    expect(r.stdout).toContain(`Wrote ${out()}`);
    const text = fs.readFileSync(out(), 'utf8');
    expect(text).toMatch(/# guessed: the same credential as for the ESXi hosts/);
    const m = loadManifest(out(), { bundledVersion: loadShippedBundle().version });
    expect(m.clusterName).toBe('disc');
    expect(
      m.nodes.map((n) => [n.esxi.address, n.esxi.storageVmk, n.esxi.storageIp, n.esxi.datastore, n.scvm.managementIp, n.scvm.storageIp]),
    ).toEqual(cluster.lab.nodes.map((n) => [n.esxi.mgmtIp, 'vmk1', n.esxi.storageIp, n.esxi.datastore, n.scvm.mgmtIp, n.scvm.storageIp]));
    expect(m.access.scvm.user).toBe('smartx');
  });

  it('refuses to overwrite the file without --force, and says how to fix a missing session source', async () => {
    const esxi = cluster.lab.nodes.map((n) => n.esxi.mgmtIp).join(' ');
    const again = await reroute(
      cluster.lab,
      `${state()} discover --esxi ${esxi} --key-file ${cluster.lab.operatorKeyPath} --scvm ${cluster.lab.nodes[0]?.scvm.mgmtIp} --out ${out()}`,
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('--force');
    const noScvm = await reroute(
      cluster.lab,
      `${state()} discover --esxi ${cluster.lab.nodes[0]?.esxi.mgmtIp} --key-file ${cluster.lab.operatorKeyPath}`,
    );
    expect(noScvm.code).toBe(1);
    expect(noScvm.stderr).toContain('--scvm');
  });

  it('the discovered manifest deploys the cluster with no hand edits', async () => {
    const r = await reroute(cluster.lab, `apply -f ${out()} ${state()} --auto-approve`);
    expect({ code: r.code, tail: r.stdout.slice(-1500) }).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    const t = Date.now();
    await waitFor(
      'each host served by its own SCVM',
      () => {
        const s = servedBy(cluster.lab, t);
        return cluster.lab.nodes.every((n) => s[n.esxi.target] === n.scvm.target) ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const plan = await reroute(cluster.lab, `plan -f ${out()} ${state()} --detailed-exitcode`);
    expect({ code: plan.code, out: plan.stdout.slice(-500) }).toEqual({ code: 0, out: expect.any(String) });
  });
});
