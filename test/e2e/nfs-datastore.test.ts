import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { addNfsDatastore } from '../../lab/nfs-datastore';
import type { Plan } from '../../src/plan/plan-types';
import type { PreflightReport } from '../../src/preflight/preflight-types';
import { useLabCluster } from '../support/lab-cluster';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';

/**
 * No agent on a datastore it needs (issue 13). esxi-1: its own ZBS datastore
 * `zbs-nfs`, which every lab host mounts over NFS v3 from 192.168.33.2 (ZBS
 * itself); esxi-2: `iso41`, NFS 4.1 from another server (lab/nfs-datastore.ts;
 * the esxcli shim lists both as a real host does). A manifest naming them is
 * refused by plan and apply before any change, with the fix; the hosts' local
 * datastore1 still plans fine.
 */
jest.setTimeout(600_000);

const cluster = useLabCluster('zn-e2e', { lab: { nodes: 2 } });
const { state } = cluster;
let nfsManifest: string;
const out = (r: { code: number; stdout: string; stderr: string }) => ({
  code: r.code,
  tail: `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
});

/** The manifest with each node's datastore replaced (YAML edited as data). */
function withDatastores(src: string, file: string, datastores: Record<string, string>): string {
  const doc = parse(fs.readFileSync(src, 'utf8')) as { spec: { nodes: Array<{ name: string; esxi: { datastore: string } }> } };
  for (const n of doc.spec.nodes) if (datastores[n.name]) n.esxi.datastore = datastores[n.name] as string;
  const p = path.join(cluster.dir, file);
  fs.writeFileSync(p, stringify(doc));
  return p;
}

/** Everything apply could change on an ESXi host: both datastores' folders, crontab, local.sh, firewall. */
async function hostState(host: string, nfsName: string): Promise<string> {
  return cluster.lab.execOk(
    host,
    `ls -laR /vmfs/volumes/${nfsName}/ /vmfs/volumes/datastore1/ 2>&1; sha256sum /var/spool/cron/crontabs/root /etc/rc.local.d/local.sh; esxcli network firewall ruleset list`,
  );
}

beforeAll(async () => {
  addNfsDatastore(cluster.lab, 'esxi-1', 'zbs-nfs');
  addNfsDatastore(cluster.lab, 'esxi-2', 'iso41', { server: '10.1.0.7', share: '/backups/isos', version: '4.1' });
  nfsManifest = withDatastores(cluster.manifest, 'cluster-nfs.yaml', { 'node-1': 'zbs-nfs', 'node-2': 'iso41' });
});

describeLab('a manifest naming NFS datastores', () => {
  it('the hosts list them as a real ESXi does: nfs (v3), nfs41 and the filesystem list with type NFS / NFS41', async () => {
    expect(await cluster.lab.execOk('esxi-1', 'esxcli storage nfs list')).toMatch(/^zbs-nfs\s+192\.168\.33\.2\s+\/zbs\s+true/m);
    expect(await cluster.lab.execOk('esxi-2', 'esxcli storage nfs41 list')).toMatch(
      /^Volume Name\s+Host\(s\)\s+Share\s+Accessible\s+Mounted\s+Read-Only\s+Security\s+isPE/m,
    );
    expect(await cluster.lab.execOk('esxi-2', 'esxcli storage filesystem list')).toMatch(
      /^\/vmfs\/volumes\/[0-9a-f]{8}-[0-9a-f]{8}\s+iso41\s+[0-9a-f]{8}-[0-9a-f]{8}\s+true\s+NFS41\s/m,
    );
    // The NFS volume is not also listed as VMFS; datastore1 still is.
    const fsl = await cluster.lab.execOk('esxi-1', 'esxcli storage filesystem list');
    expect(fsl.match(/zbs-nfs/g)).toHaveLength(1);
    expect(fsl).toMatch(/\sdatastore1\s.*\sVMFS-6\s/);
  });

  it('plan refuses with DATASTORE_NFS: each host with the manifest line, what it found and the fix naming the local VMFS datastore; exit 1, no plan saved', async () => {
    const planFile = path.join(cluster.dir, 'nfs.plan.json');
    const r = await reroute(cluster.lab, `plan -f ${nfsManifest} ${state()} --out ${planFile}`);
    expect(out(r)).toEqual({ code: 1, tail: expect.stringContaining('Error [DATASTORE_NFS]') });
    expect(r.stderr).toMatch(new RegExp(`cluster-nfs\\.yaml:\\d+:\\d+: node-1: datastore zbs-nfs is mounted over NFS \\(type NFS\\)`));
    expect(r.stderr).toMatch(/cluster-nfs\.yaml:\d+:\d+: node-2: datastore iso41 is mounted over NFS \(type NFS41\)/);
    expect(r.stderr).toMatch(/VMFS datastores: datastore1/);
    // The plan was shown (checks included: preflight names the server, ZBS itself for node-1), not saved.
    const shown = `${r.stdout}\n${r.stderr}`;
    expect(shown).toContain('✗ refused: node-1: datastore zbs-nfs');
    expect(shown).toMatch(/node-1\/esxi datastore.*NFS v3 from 192\.168\.33\.2.*ZBS itself/);
    expect(shown).toMatch(/node-2\/esxi datastore.*NFS 4\.1 from 10\.1\.0\.7/);
    expect(fs.existsSync(planFile)).toBe(false);
  });

  it('apply refuses before any change, also with --skip-check datastore: no file written on either datastore, crontab and local.sh untouched', async () => {
    const before = { e1: await hostState('esxi-1', 'zbs-nfs'), e2: await hostState('esxi-2', 'iso41') };
    for (const extra of ['', '--skip-check datastore']) {
      const r = await reroute(cluster.lab, `apply -f ${nfsManifest} ${state()} --auto-approve ${extra}`);
      expect(out(r)).toEqual({ code: 1, tail: expect.stringContaining('Error [DATASTORE_NFS]') });
      expect(r.stderr).toContain('nothing was changed');
    }
    expect({ e1: await hostState('esxi-1', 'zbs-nfs'), e2: await hostState('esxi-2', 'iso41') }).toEqual(before);
    expect(before.e1).not.toContain('zbs-reroute');
    expect(await cluster.lab.execOk('esxi-1', 'cat /var/spool/cron/crontabs/root')).not.toContain('zbs-reroute');
  });

  it('the same hosts with their local datastore1 plan fine: every ESXi gets its install, the datastore check passes, no refusal', async () => {
    const r = await reroute(cluster.lab, `--json plan -f ${cluster.manifest} ${state()}`);
    expect(out(r)).toEqual({ code: 0, tail: expect.anything() });
    const plan = JSON.parse(r.stdout) as Plan;
    expect(plan.datastoreRefusals).toBeUndefined();
    expect(plan.hosts.filter((h) => h.host === 'esxi').map((h) => h.change)).toEqual(['create', 'create']);
    const checks = plan.preflight?.checks ?? [];
    for (const h of ['node-1/esxi', 'node-2/esxi'])
      expect({ h, s: checks.find((c) => c.host === h && c.name === 'datastore')?.status }).toEqual({ h, s: 'pass' });
    const pf = JSON.parse((await reroute(cluster.lab, `--json preflight -f ${nfsManifest} ${state()}`)).stdout) as PreflightReport;
    expect(pf.checks.filter((c) => c.name === 'datastore').map((c) => c.status)).toEqual(['fail', 'fail']);
  });
});
