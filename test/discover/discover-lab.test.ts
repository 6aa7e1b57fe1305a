/**
 * `reroute discover` on a fresh lab: it reads the ESXi hosts and the meta
 * session list, writes a manifest, and that manifest deploys the cluster with
 * no hand edits (apply verified on every host, each served by its own SCVM).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Lab } from '../../lab/lab';
import { loadShippedBundle } from '../../src/agent/shipped-bundle';
import { loadManifest } from '../../src/manifest';
import { servedBy } from '../support/lab-io';
import { waitFor } from '../support/wait-for';
import { reroute } from '../support/run-cli';
import { testLabName } from '../../lab/test-support';
import { describeLab } from '../support/describe-lab';

jest.setTimeout(900_000);

let lab: Lab;
let dir: string;

beforeAll(async () => {
  if (Lab.list().includes('discover')) await Lab.down('discover');
  lab = await Lab.start({ nodes: 3, name: testLabName('discover') });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zbs-reroute-discover-'));
});

afterAll(async () => {
  await lab?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describeLab('reroute discover on a fresh lab', () => {
  const out = () => path.join(dir, 'discovered.yaml');
  const state = () => `--state ${path.join(dir, 'state')}`;

  it('writes a valid manifest pairing every ESXi host with its own SCVM, with guesses commented', async () => {
    const esxi = lab.nodes.map((n) => n.esxi.mgmtIp).join(' ');
    const r = await reroute(
      lab,
      `${state()} discover --esxi ${esxi} --key-file ${lab.operatorKeyPath} --scvm ${lab.nodes[0]?.scvm.mgmtIp} --cluster-name disc --out ${out()}`,
    );
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: expect.any(String) });
    expect(r.stdout).toContain(`Wrote ${out()}`);
    const text = fs.readFileSync(out(), 'utf8');
    expect(text).toMatch(/# guessed: the same credential as for the ESXi hosts/);
    const m = loadManifest(out(), { bundledVersion: loadShippedBundle().version });
    expect(m.clusterName).toBe('disc');
    expect(
      m.nodes.map((n) => [n.esxi.address, n.esxi.storageVmk, n.esxi.storageIp, n.esxi.datastore, n.scvm.managementIp, n.scvm.storageIp]),
    ).toEqual(lab.nodes.map((n) => [n.esxi.mgmtIp, 'vmk1', n.esxi.storageIp, n.esxi.datastore, n.scvm.mgmtIp, n.scvm.storageIp]));
    expect(m.access.scvm.user).toBe('smartx');
  });

  it('refuses to overwrite the file without --force, and says how to fix a missing session source', async () => {
    const esxi = lab.nodes.map((n) => n.esxi.mgmtIp).join(' ');
    const again = await reroute(
      lab,
      `${state()} discover --esxi ${esxi} --key-file ${lab.operatorKeyPath} --scvm ${lab.nodes[0]?.scvm.mgmtIp} --out ${out()}`,
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('--force');
    const noScvm = await reroute(lab, `${state()} discover --esxi ${lab.nodes[0]?.esxi.mgmtIp} --key-file ${lab.operatorKeyPath}`);
    expect(noScvm.code).toBe(1);
    expect(noScvm.stderr).toContain('--scvm');
  });

  it('the discovered manifest deploys the cluster with no hand edits', async () => {
    const r = await reroute(lab, `apply -f ${out()} ${state()} --auto-approve`);
    expect({ code: r.code, tail: r.stdout.slice(-1500) }).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    const t = Date.now();
    await waitFor(
      'each host served by its own SCVM',
      () => {
        const s = servedBy(lab, t);
        return lab.nodes.every((n) => s[n.esxi.target] === n.scvm.target) ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const plan = await reroute(lab, `plan -f ${out()} ${state()} --detailed-exitcode`);
    expect({ code: plan.code, out: plan.stdout.slice(-500) }).toEqual({ code: 0, out: expect.any(String) });
  });
});
