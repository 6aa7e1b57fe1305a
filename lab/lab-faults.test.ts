/**
 * Every fault the lab injects, each proven by its effect (not by the lab's
 * own bookkeeping), then healed back to a working cluster.
 */
import { Lab } from './lab';
import { sleep } from './proc';
import { testLabName } from './test-support';
import { describeLab } from '../test/support/describe-lab';

jest.setTimeout(120_000);

const SESSION_URL = (ip: string) => `http://${ip}/api/v2/zbs_session/session`;

describeLab('lab faults', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.start({ nodes: 2, name: testLabName('faults') });
  }, 180_000);

  afterAll(async () => {
    await lab?.stop();
  });

  /** Waits until the IO probe of esxi-N reports `node` (or failure with null) for its latest probes. */
  async function servedBy(host: string, sinceMs: number): Promise<string | null> {
    await sleep(400);
    return lab.io(sinceMs)[host]?.servedBy ?? null;
  }

  async function lastProbeOk(host: string, sinceMs: number): Promise<boolean> {
    await sleep(500);
    const s = lab.io(sinceMs)[host];
    if (!s || s.probes === 0) return false;
    return s.failed === 0;
  }

  test('baseline: each ESXi is served by its own SCVM over the private link', async () => {
    const t = Date.now();
    await lab.waitForIo('both hosts served locally', (io) => io['esxi-1']?.servedBy === 'scvm-1' && io['esxi-2']?.servedBy === 'scvm-2', {
      sinceMs: t,
      timeoutMs: 5000,
    });
    await expect(lab.waitForIo('never', () => false, { timeoutMs: 300 })).rejects.toThrow(/served by: \{"esxi-1":"scvm-1"/);
    const io = lab.io();
    expect(io['esxi-1']!.probes).toBeGreaterThan(10);
  });

  test('storage-down esxi-N: its storage link loses carrier, IO routed over storage stalls; heal restores it', async () => {
    await lab.execOk('esxi-1', 'esxcfg-route -a 192.168.33.2/32 10.20.0.102');
    let t = Date.now();
    expect(await servedBy('esxi-1', t)).toBe('scvm-2');
    await lab.fault('storage-down', 'esxi-1');
    expect((await lab.exec('esxi-1', '/usr/lib/vmware/lab/ip link show vmk1')).stdout).toMatch(/NO-CARRIER/);
    // The route stays (a pulled cable does not delete routes), IO just fails.
    expect((await lab.exec('esxi-1', 'esxcfg-route -l')).stdout).toMatch(/192\.168\.33\.2\s+255\.255\.255\.255\s+10\.20\.0\.102/);
    t = Date.now();
    expect(await lastProbeOk('esxi-1', t)).toBe(false);
    await lab.heal('storage-down', 'esxi-1');
    await sleep(300);
    t = Date.now();
    expect(await lastProbeOk('esxi-1', t)).toBe(true);
    expect(lab.io(t)['esxi-1']!.servedBy).toBe('scvm-2');
    await lab.execOk('esxi-1', 'esxcfg-route -d 192.168.33.2/32 10.20.0.102');
  });

  test('storage-down scvm-N: the SCVM storage IP stops answering, management still does', async () => {
    await lab.fault('storage-down', 'scvm-2');
    expect((await lab.exec('esxi-1', 'ping -c 1 -W 1 10.20.0.102')).code).not.toBe(0);
    expect((await lab.exec('esxi-1', 'ping -c 1 -W 1 10.10.0.102')).code).toBe(0);
    await lab.heal('storage-down', 'scvm-2');
    expect((await lab.exec('esxi-1', 'ping -c 1 -W 2 10.20.0.102')).code).toBe(0);
  });

  test('access-unhealthy scvm-N: dropped from the session list (REST and zbs-meta) while its link stays up', async () => {
    const before = JSON.parse(await lab.execOk('esxi-1', `wget -q -O - ${SESSION_URL('10.10.0.101')}`)) as {
      ec: string;
      data: { ip: string }[];
    };
    expect(before.ec).toBe('EOK');
    expect(before.data.map((d) => d.ip)).toEqual(['10.20.0.101', '10.20.0.102']);
    await lab.fault('access-unhealthy', 'scvm-2');
    const after = JSON.parse(await lab.execOk('esxi-1', `wget -q -O - ${SESSION_URL('10.20.0.101')}`)) as { data: { ip: string }[] };
    expect(after.data.map((d) => d.ip)).toEqual(['10.20.0.101']);
    expect(await lab.execOk('scvm-1', 'zbs-meta session list')).not.toContain('10.20.0.102');
    expect((await lab.exec('esxi-1', 'ping -c 1 -W 1 10.20.0.102')).code).toBe(0);
    await lab.heal('access-unhealthy', 'scvm-2');
    expect(await lab.execOk('scvm-1', 'zbs-meta session list')).toContain('10.20.0.102');
  });

  test('scvm-down: NFS, ssh and meta of that SCVM are gone; heal brings them back', async () => {
    await lab.fault('scvm-down', 'scvm-1');
    let t = Date.now();
    expect(await lastProbeOk('esxi-1', t)).toBe(false);
    expect((await lab.exec('ctl', `ssh -o ConnectTimeout=2 smartx@${lab.nodes[0]!.scvm.mgmtIp} true`)).code).toBe(255);
    const list = JSON.parse(await lab.execOk('esxi-2', `wget -q -O - ${SESSION_URL('10.10.0.102')}`)) as { data: { ip: string }[] };
    expect(list.data.map((d) => d.ip)).toEqual(['10.20.0.102']);
    expect(lab.status().targets.find((s) => s.target === 'scvm-1')!.up).toBe(false);
    await lab.heal('scvm-down', 'scvm-1');
    // Back means served again; how soon under load is the benchmarks' business, not this test's.
    await lab.waitForIo('esxi-1 served by scvm-1 again', (io) => io['esxi-1']?.servedBy === 'scvm-1', {
      sinceMs: Date.now(),
      timeoutMs: 10_000,
    });
    t = Date.now();
    expect(await lastProbeOk('esxi-1', t)).toBe(true);
    expect(lab.io(t)['esxi-1']!.servedBy).toBe('scvm-1');
    const ssh = await lab.exec('ctl', `ssh -o ConnectTimeout=5 smartx@${lab.nodes[0]!.scvm.mgmtIp} true`);
    // ssh's own words on failure say whether it was the network, the listener or the login.
    expect({ code: ssh.code, stderr: ssh.code === 0 ? '' : ssh.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('sshd-hang: TCP connects but SSH stalls until healed', async () => {
    const ip = lab.nodes[1]!.esxi.mgmtIp;
    await lab.fault('sshd-hang', 'esxi-2');
    expect((await lab.exec('ctl', `timeout 3 bash -c 'exec 3<>/dev/tcp/${ip}/22'`)).code).toBe(0);
    const t0 = Date.now();
    const r = await lab.exec('ctl', `ssh -o ConnectTimeout=2 root@${ip} true`, { timeoutMs: 20_000 });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/timed out|Connection closed|banner/i);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    await lab.heal('sshd-hang', 'esxi-2');
    expect((await lab.exec('ctl', `ssh root@${ip} true`)).code).toBe(0);
  });

  test('ssh-client-blocked: the ESXi host cannot ssh out; heal allows it', async () => {
    const cmd = `ssh -o BatchMode=yes -o ConnectTimeout=3 -o StrictHostKeyChecking=no smartx@${lab.nodes[1]!.scvm.storageIp} true`;
    await lab.fault('ssh-client-blocked', 'esxi-1');
    const r = await lab.exec('esxi-1', cmd);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied|refused|timed out/);
    await lab.heal('ssh-client-blocked', 'esxi-1');
    // Reaches sshd now (auth then fails: esxi-1 has no key of the SCVM's users).
    const ok = await lab.exec('esxi-1', cmd);
    expect(ok.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  test('rotate-hostkey: the controller sees a changed host key', async () => {
    const ip = lab.nodes[0]!.esxi.mgmtIp;
    const before = lab.hostPublicKeys('esxi-1');
    // An open session must neither block the rotation nor be mistaken for the new sshd.
    await lab.exec('ctl', `ssh root@${ip} sleep 6 >/dev/null 2>&1 </dev/null & echo started`);
    await sleep(800);
    await lab.rotateHostKey('esxi-1');
    expect(lab.hostPublicKeys('esxi-1')).not.toEqual(before);
    const r = await lab.exec('ctl', `ssh root@${ip} true`);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    const fresh = await lab.exec('ctl', `ssh -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no root@${ip} true`);
    expect(fresh.code).toBe(0);
    // The new key survives a reboot (it was backed up).
    const rotated = lab.hostPublicKeys('esxi-1');
    await lab.crash('esxi-1');
    expect(lab.hostPublicKeys('esxi-1')).toEqual(rotated);
  });

  test('a host that is off is dark on the network; the IO probe (outside the host) records the outage', async () => {
    const t = Date.now();
    const rebooting = lab.reboot('esxi-2', { offMs: 2500 });
    await sleep(1200);
    expect((await lab.exec('ctl', `ping -c 1 -W 1 ${lab.nodes[1]!.esxi.mgmtIp}`)).code).not.toBe(0);
    await rebooting;
    expect((await lab.exec('ctl', `ping -c 1 -W 2 ${lab.nodes[1]!.esxi.mgmtIp}`)).code).toBe(0);
    await lab.waitForIo('esxi-2 served again', (io) => io['esxi-2']?.servedBy === 'scvm-2' && (io['esxi-2']?.longestGapMs ?? 0) >= 1000, {
      sinceMs: t,
      timeoutMs: 5000,
    });
    expect(lab.faults).toEqual([]);
  });

  test('hosts rebooted and faulted in parallel keep their own bookkeeping', async () => {
    await Promise.all([
      lab.crash('esxi-1'),
      lab.reboot('esxi-2'),
      lab.fault('access-unhealthy', 'scvm-1'),
      lab.fault('storage-down', 'scvm-2'),
    ]);
    expect(await lab.execOk('esxi-1', 'hostname')).toBe('esxi-1\n');
    expect(await lab.execOk('esxi-2', 'hostname')).toBe('esxi-2\n');
    expect(lab.faults.map((f) => `${f.name} ${f.target}`).sort()).toEqual(['access-unhealthy scvm-1', 'storage-down scvm-2']);
    await Promise.all([lab.heal('access-unhealthy', 'scvm-1'), lab.heal('storage-down', 'scvm-2')]);
    expect(lab.faults).toEqual([]);
    expect(lab.status().targets.every((t) => t.up && t.sshd)).toBe(true);
  });

  test('unknown fault names and targets are refused', async () => {
    await expect(lab.fault('disk-full', 'esxi-1')).rejects.toThrow(/unknown fault/);
    await expect(lab.fault('storage-down', 'esxi-9')).rejects.toThrow(/not a esxi/);
    await expect(lab.fault('access-unhealthy', 'esxi-1')).rejects.toThrow(/not a scvm/);
  });
});
