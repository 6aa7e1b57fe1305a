/**
 * The SCVM side of the lab as issue 11 found real SMTX OS: root login refused, the SMTX OS
 * release file, meta sessions whose ids change when access restarts and that carry
 * local_clients_ips, and an RDMA cluster's access IPs with the routes SmartX deploy leaves.
 */
import { parseManifest } from '../src/manifest/manifest-parse';
import { Lab } from './lab';
import { readClusterState } from './services/cluster-state';
import { testLabName } from './test-support';
import { describeLab } from '../test/support/describe-lab';

const NAME = testLabName('l2-scvm');
let lab: Lab;

beforeAll(async () => {
  lab = await Lab.start({ nodes: 2, name: NAME, rdma: true, scvmVersion: '5.0.4', replaceStale: true });
}, 120_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

const sessionOf = (scvm: string) => readClusterState(lab.clusterFile).scvms[scvm]!;

describeLab('SCVM as SMTX OS', () => {
  test('reports its SMTX OS version in /etc/smtxos-release and refuses root even with a root key', async () => {
    expect(await lab.execOk('scvm-2', 'cat /etc/smtxos-release', { user: 'smartx' })).toBe('SMTX OS 5.0.4\n');
    const r = await lab.exec('ctl', `ssh root@${lab.nodes[1]!.scvm.mgmtIp} true`);
    expect(r.code).toBe(255);
    expect((await lab.exec('ctl', `ssh smartx@${lab.nodes[1]!.scvm.mgmtIp} 'sudo -n id -u'`)).stdout).toBe('0\n');
  });
});

describeLab('meta sessions with local_clients_ips', () => {
  test('refresh_address (as the operator, through sudo -n) sets them; REST and zbs-meta show them', async () => {
    const s1 = sessionOf('scvm-1');
    const n1 = lab.nodes[0]!;
    await lab.execOk('scvm-1', `sudo -n zbs-meta session refresh_address ${s1.sessionId} ${n1.esxi.mgmtIp},${n1.esxi.storageIp}`, {
      user: 'smartx',
    });
    const show = await lab.execOk('scvm-1', `zbs-meta session show ${s1.sessionId}`, { user: 'smartx' });
    expect(show).toContain(`${n1.esxi.mgmtIp},${n1.esxi.storageIp}`);
    const list = await lab.execOk('esxi-1', `wget -q -O - http://${n1.scvm.storageIp}/api/v2/zbs_session/session`);
    const body = JSON.parse(list) as { data: { session_id: string; local_clients_ips: string }[] };
    expect(body.data.find((d) => d.session_id === s1.sessionId)?.local_clients_ips).toBe(`${n1.esxi.mgmtIp},${n1.esxi.storageIp}`);
  });

  test('access-restart gives the SCVM a new session id with no clients; the old id is unknown', async () => {
    const before = sessionOf('scvm-1');
    await lab.fault('access-restart', 'scvm-1');
    const after = sessionOf('scvm-1');
    expect(after.sessionId).not.toBe(before.sessionId);
    expect(after.localClientsIps).toBe('');
    expect(lab.faults.map((f) => f.name)).not.toContain('access-restart');
    const old = await lab.exec('scvm-1', `sudo -n zbs-meta session refresh_address ${before.sessionId} 10.10.0.11`, { user: 'smartx' });
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/not found/);
    expect(await lab.execOk('scvm-2', 'zbs-meta session list', { user: 'smartx' })).toContain(after.sessionId);
  });
});

describeLab('--rdma', () => {
  test('each SCVM has its access IP; each ESXi routes 33.2 and its SCVM storage /32 via it, persistently, and IO is served locally', async () => {
    const n1 = lab.nodes[0]!;
    expect(n1.scvm.accessIp).toBe('10.20.0.151');
    expect(lab.nodes[1]!.scvm.accessIp).toBe('10.20.0.152');
    expect(await lab.execOk('scvm-1', 'ip -4 addr show dev eth1')).toContain('10.20.0.151/24');
    const routes = await lab.execOk('esxi-1', 'esxcfg-route -l');
    expect(routes).toMatch(/192\.168\.33\.2\s+255\.255\.255\.255\s+10\.20\.0\.151\s+vmk1/);
    expect(routes).toMatch(/10\.20\.0\.101\s+255\.255\.255\.255\s+10\.20\.0\.151\s+vmk1/);
    const conf = await lab.execOk('esxi-1', 'cat /etc/vmware/esx.conf');
    expect(conf).toContain('/net/route/ipv4[192.168.33.2/32]/gateway = "10.20.0.151"');
    expect(conf).toContain('/net/route/ipv4[10.20.0.101/32]/gateway = "10.20.0.151"');
    expect(lab.status().targets.find((t) => t.target === 'esxi-1')?.nfsRoute).toEqual({
      gateway: '10.20.0.151',
      scvm: 'scvm-1',
      via: 'access',
    });
    await lab.waitForIo('esxi-1 served by scvm-1', (io) => io['esxi-1']?.servedBy === 'scvm-1', { sinceMs: Date.now() });
    const m = parseManifest(lab.manifest({ clusterName: 'rdma' }), 'lab.yaml', { bundledVersion: '1.0.0' });
    expect(m.nodes.map((n) => n.scvm.accessIp)).toEqual(['10.20.0.151', '10.20.0.152']);

    await lab.reboot('esxi-1');
    const again = await lab.execOk('esxi-1', 'esxcfg-route -l');
    expect(again).toMatch(/192\.168\.33\.2\s+255\.255\.255\.255\s+10\.20\.0\.151\s+vmk1/);
    expect(again).toMatch(/10\.20\.0\.101\s+255\.255\.255\.255\s+10\.20\.0\.151\s+vmk1/);
    // The lab installed them before anything ran: no route shim was ever called.
    expect(lab.routeAudit('esxi-1')).toEqual([]);
  }, 90_000);
});
