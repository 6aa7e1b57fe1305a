/**
 * The ESXi command shims and the host model, seen the way zbs-reroute sees
 * them: over SSH from the controller namespace, or via lab.exec.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseManifest } from '../src/manifest';
import { Lab } from './lab';
import { testLabName } from './test-support';
import { describeLab } from '../test/support/describe-lab';

jest.setTimeout(120_000);

/** ESXi has no `ip`: tests read the namespace's real routes with the lab's private iproute2. */
const LAB_IP = '/usr/lib/vmware/lab/ip';

describeLab('lab ESXi/SCVM hosts', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.start({ nodes: 2, name: testLabName('shims'), services: false });
  }, 120_000);

  afterAll(async () => {
    await lab?.stop();
  });

  const esxi = (cmd: string) => lab.exec('esxi-1', cmd);

  test('ssh from the controller lands as root in busybox ash on the ESXi host', async () => {
    const r = await lab.exec(
      'ctl',
      `ssh root@${lab.nodes[0]!.esxi.mgmtIp} 'stat -c %u /proc/$$; readlink /proc/$$/exe; hostname; echo $PATH'`,
    );
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['0', '/bin/busybox', 'esxi-1']);
  });

  test('ps lists only this host (pid 1 is init) and ps -c adds the Command column', async () => {
    const plain = await esxi('ps');
    expect(plain.stdout.split('\n')[0]).toMatch(/^WID\s+CID\s+World Name$/);
    const withCmd = await esxi('ps -c');
    const lines = withCmd.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^WID\s+CID\s+World Name\s+Command$/);
    expect(lines[1]).toMatch(/^1\s+1\s+init\b/);
    expect(withCmd.stdout).toMatch(/busybox crond/);
    expect(withCmd.stdout).toMatch(/sshd/);
    expect((await esxi('ps -x')).code).not.toBe(0);
  });

  test("root's crontab starts with ESXi's own lines and crond's pidfile is where ESXi keeps it", async () => {
    const tab = await esxi('cat /var/spool/cron/crontabs/root');
    expect(tab.stdout).toMatch(/^#min hour day mon dow command\n/);
    expect(tab.stdout).toContain('/sbin/auto-backup.sh ++group=host/vim/vmvisor/backup.sh');
    expect(tab.stdout).toContain('/bin/hostd-probe.sh');
    const pid = await esxi('kill -0 "$(cat /var/run/crond.pid)" && echo alive');
    expect(pid.stdout.trim()).toBe('alive');
    // ESXi's documented reload idiom works.
    const reload = await esxi(
      'kill $(cat /var/run/crond.pid); sleep 0.2; /usr/lib/vmware/busybox/bin/busybox crond && sleep 0.2 && kill -0 "$(cat /var/run/crond.pid)" && echo reloaded',
    );
    expect(reload.stdout.trim()).toBe('reloaded');
  });

  test('esxcfg-route -l prints the VMkernel table from the real routes', async () => {
    const r = await esxi('esxcfg-route -l');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('VMkernel Routes:');
    expect(lines[1]).toMatch(/^Network\s+Netmask\s+Gateway\s+Interface$/);
    expect(r.stdout).toMatch(/^10\.20\.0\.0\s+255\.255\.255\.0\s+Local Subnet\s+vmk1$/m);
    expect(lines[lines.length - 1]).toMatch(/^default\s+0\.0\.0\.0\s+10\.10\.0\.1\s+vmk0$/);
    expect((await esxi('esxcfg-route')).stdout.trim()).toBe('VMkernel default gateway is 10.10.0.1');
  });

  test('esxcfg-route -a/-d with NET/LEN or NET MASK change the namespace route and esx.conf', async () => {
    const add = await esxi('esxcfg-route -a 192.168.33.2/32 10.20.0.102');
    expect(add).toMatchObject({ code: 0, stdout: 'Adding static route 192.168.33.2/32 to VMkernel\n' });
    expect((await esxi(`${LAB_IP} route show 192.168.33.2`)).stdout).toMatch(/192\.168\.33\.2 via 10\.20\.0\.102 dev vmk1/);
    expect((await esxi('esxcfg-route -l')).stdout).toMatch(/^192\.168\.33\.2\s+255\.255\.255\.255\s+10\.20\.0\.102\s+vmk1$/m);
    expect((await esxi('cat /etc/vmware/esx.conf')).stdout).toContain('/net/route/ipv4[192.168.33.2/32]/gateway = "10.20.0.102"');
    const dup = await esxi('esxcfg-route -a 192.168.33.2/32 10.20.0.102');
    expect(dup.code).not.toBe(0);
    const del = await esxi('esxcfg-route -d 192.168.33.2 255.255.255.255 10.20.0.102');
    expect(del).toMatchObject({ code: 0, stdout: 'Deleting static route 192.168.33.2/32 from VMkernel\n' });
    expect((await esxi(`${LAB_IP} route show 192.168.33.2`)).stdout).toBe('');
    expect((await esxi('cat /etc/vmware/esx.conf')).stdout).not.toContain('/net/route/ipv4[192.168.33.2');
    expect((await esxi('esxcfg-route -d 192.168.33.2/32 10.20.0.102')).code).not.toBe(0);
  });

  test('route changes through the shims are attributed to their caller (audit file and vmkernel.log)', async () => {
    const since = Date.now();
    const ip = lab.nodes[0]!.esxi.mgmtIp;
    await lab.exec('ctl', `ssh root@${ip} 'esxcfg-route -a 10.99.1.0/24 10.10.0.1'`);
    await lab.execOk(
      'esxi-1',
      "printf 'esxcli network ip route ipv4 remove -n 10.99.1.0/24 -g 10.10.0.1\\n' > /vmfs/volumes/datastore1/fix.sh && /bin/sh /vmfs/volumes/datastore1/fix.sh",
    );
    // 1 s resolution: entries of the same second before `since` may be included, so filter by prefix.
    const audit = lab.routeAudit('esxi-1', since).filter((a) => a.prefix === '10.99.1.0/24');
    expect(audit.map((a) => [a.op, a.prefix, a.gateway, a.tool])).toEqual([
      ['add', '10.99.1.0/24', '10.10.0.1', 'esxcfg-route'],
      ['del', '10.99.1.0/24', '10.10.0.1', 'esxcli'],
    ]);
    // ash execs a lone `sh -c` command in place, so an SSH session shows up as sshd itself.
    expect(audit[0]!.parent).toMatch(/^sshd: root@notty/);
    expect(audit[1]!.parent).toBe('/bin/sh /vmfs/volumes/datastore1/fix.sh');
    expect(audit[0]!.t).toBeGreaterThanOrEqual(Math.floor(since / 1000) * 1000);
    expect(await lab.execOk('esxi-1', 'tail -2 /var/log/vmkernel.log')).toMatch(
      /Net: route add 10\.99\.1\.0\/24 via 10\.10\.0\.1 \(esxcfg-route; by: sshd: root@notty/,
    );
  });

  test('esxcfg-route refuses unknown options and malformed arguments', async () => {
    for (const cmd of [
      'esxcfg-route -x',
      'esxcfg-route -a 192.168.33.2/33 10.20.0.102',
      'esxcfg-route -a 192.168.33.2 255.0.255.0 10.20.0.102',
      'esxcfg-route -a 192.168.33.2/32 nohost',
      'esxcfg-route -l extra',
    ]) {
      const r = await esxi(cmd);
      expect({ cmd, failed: r.code !== 0 }).toEqual({ cmd, failed: true });
    }
  });

  test('esxcli network ip route ipv4 list/add/remove with the Source column', async () => {
    const add = await esxi('esxcli network ip route ipv4 add -n 192.168.33.2/32 -g 10.10.0.102');
    expect(add).toMatchObject({ code: 0, stdout: '' });
    const list = await esxi('esxcli network ip route ipv4 list');
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Network\s+Netmask\s+Gateway\s+Interface\s+Source$/);
    expect(lines[1]).toMatch(/^-+\s+-+\s+-+\s+-+\s+-+$/);
    expect(lines[2]).toMatch(/^default\s+0\.0\.0\.0\s+10\.10\.0\.1\s+vmk0\s+MANUAL$/);
    expect(list.stdout).toMatch(/^192\.168\.33\.2\s+255\.255\.255\.255\s+10\.10\.0\.102\s+vmk0\s+MANUAL$/m);
    expect(list.stdout).toMatch(/^10\.10\.0\.0\s+255\.255\.255\.0\s+0\.0\.0\.0\s+vmk0\s+MANUAL$/m);
    const rm = await esxi('esxcli network ip route ipv4 remove --network=192.168.33.2/32 --gateway=10.10.0.102');
    expect(rm.code).toBe(0);
    expect((await esxi('esxcli network ip route ipv4 list')).stdout).not.toContain('192.168.33.2 ');
    expect((await esxi('esxcli network ip route ipv4 frobnicate')).code).not.toBe(0);
    expect((await esxi('esxcli network ip route ipv4 add -n 192.168.33.2/32 -g 10.10.0.102 --bogus')).code).not.toBe(0);
    expect((await esxi('esxcli storage frobnicate list')).code).not.toBe(0);
  });

  test('esxcfg-vmknic -l and vmware -v look like ESXi 7', async () => {
    const nic = await esxi('esxcfg-vmknic -l');
    expect(nic.stdout.split('\n')[0]).toMatch(
      /^Interface\s+Port Group\/DVPort\/Opaque Network\s+IP Family\s+IP Address\s+Netmask\s+Broadcast\s+MAC Address\s+MTU\s+TSO MSS\s+Enabled\s+Type\s+NetStack$/,
    );
    expect(nic.stdout).toMatch(
      /^vmk1\s+.*IPv4\s+10\.20\.0\.11\s+255\.255\.255\.0\s+10\.20\.0\.255\s+00:50:56:[0-9a-f:]+\s+1500\s+65535\s+true\s+STATIC\s+defaultTcpipStack$/m,
    );
    expect((await esxi('vmware -v')).stdout).toBe('VMware ESXi 7.0.3 build-19193900\n');
    expect((await esxi('vmware -x')).code).not.toBe(0);
  });

  test('sshClient firewall rule off blocks outgoing ssh from the ESXi host, on again allows it', async () => {
    const scvm = lab.nodes[1]!.scvm.mgmtIp;
    const probe = `nc -w 2 ${scvm} 22 </dev/null | head -c 7`;
    expect((await esxi(probe)).stdout).toBe('SSH-2.0');
    expect(
      (await esxi('esxcli network firewall ruleset set --ruleset-id=sshClient --enabled=false && esxcli network firewall refresh')).code,
    ).toBe(0);
    expect((await esxi(probe)).stdout).toBe('');
    expect((await esxi(`ssh -o BatchMode=yes -o ConnectTimeout=3 -o StrictHostKeyChecking=no smartx@${scvm} true`)).code).toBe(255);
    // Other traffic is untouched.
    expect((await esxi(`ping -c 1 -W 2 ${scvm}`)).code).toBe(0);
    expect((await esxi('esxcli network firewall ruleset list')).stdout).toMatch(/^sshClient\s+false$/m);
    expect((await esxi('esxcli network firewall ruleset set -r sshClient -e true')).code).toBe(0);
    expect((await esxi(probe)).stdout).toBe('SSH-2.0');
    expect((await esxi('esxcli network firewall ruleset set --ruleset-id=nope --enabled=true')).code).not.toBe(0);
  });

  test('datastore: /vmfs/volumes/<uuid> with the datastore1 name link', async () => {
    const n = lab.nodes[0]!;
    const r = await esxi('readlink /vmfs/volumes/datastore1; ls -d /vmfs/volumes/datastore1/');
    expect(r.stdout).toBe(`${n.esxi.datastoreUuid}\n/vmfs/volumes/datastore1/\n`);
    expect(n.esxi.datastoreUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  test("SCVM (SMTX OS >= 5.1.2): root ssh login refused even with a key in root's authorized_keys; smartx + sudo -n works", async () => {
    const ip = lab.nodes[0]!.scvm.mgmtIp;
    expect((await lab.exec('ctl', `ssh root@${ip} true`)).code).toBe(255);
    const sudo = await lab.exec('ctl', `ssh smartx@${ip} 'id -un; sudo -n id -u; cat /etc/smtxos-release'`);
    expect(sudo).toMatchObject({ code: 0, stdout: 'smartx\n0\nSMTX OS 5.1.2\n' });
    // Without sudo, root's authorized_keys is out of reach.
    expect((await lab.exec('ctl', `ssh smartx@${ip} 'cat /root/.ssh/authorized_keys'`)).code).not.toBe(0);
    const pub = (await lab.exec('ctl', `cat ${lab.operatorKeyPath}.pub`)).stdout.trim();
    const add = await lab.exec('ctl', `ssh smartx@${ip} "echo '${pub}' | sudo -n tee -a /root/.ssh/authorized_keys >/dev/null"`);
    expect(add.code).toBe(0);
    expect(await lab.execOk('scvm-1', 'wc -l < /root/.ssh/authorized_keys')).toBe('2\n');
    // PermitRootLogin no: the key is there, sshd still refuses root.
    const root = await lab.exec('ctl', `ssh root@${ip} true`);
    expect(root.code).toBe(255);
    expect(root.stderr).toMatch(/Permission denied/);
  });

  test("a sudoer without NOPASSWD (group wheel-pw) gets sudo's password refusal", async () => {
    await lab.execOk('scvm-2', "sed -i -e 's/^wheel:x:10:smartx$/wheel:x:10:/' -e 's/^wheel-pw:x:11:$/wheel-pw:x:11:smartx/' /etc/group");
    const r = await lab.exec('ctl', `ssh smartx@${lab.nodes[1]!.scvm.mgmtIp} 'sudo -n id'`);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('sudo: a password is required\n');
  });

  test('a user outside wheel cannot sudo on the SCVM', async () => {
    await lab.execOk('scvm-1', "echo 'guest:x:1001:1001::/tmp:/bin/sh' >> /etc/passwd");
    const r = await lab.exec('scvm-1', 'sudo -n id', { user: 'guest' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('guest is not in the sudoers file');
  });

  test("the lab's manifest passes the project's own manifest parser and names every host", () => {
    const m = parseManifest(lab.manifest({ clusterName: 'lab-test' }), 'lab.yaml', { bundledVersion: '1.0.0' });
    expect(m.clusterName).toBe('lab-test');
    expect(m.nodes.map((n) => [n.name, n.esxi.address, n.esxi.storageIp, n.scvm.managementIp, n.scvm.storageIp, n.esxi.datastore])).toEqual(
      lab.nodes.map((n) => [n.name, n.esxi.mgmtIp, n.esxi.storageIp, n.scvm.mgmtIp, n.scvm.storageIp, 'datastore1']),
    );
    expect(m.access.scvm.user).toBe('smartx');
    expect(m.access.esxi.credential).toEqual({ kind: 'key-file', path: lab.operatorKeyPath });
  });

  test('exec runs inside the host: a hung command is killed at the timeout', async () => {
    const t0 = Date.now();
    await expect(lab.exec('esxi-2', 'sleep 30', { timeoutMs: 1000 })).rejects.toThrow(/timed out/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await lab.exec('esxi-2', 'ps -c')).stdout).not.toContain('sleep 30');
  });
});

test('the ESXi shims are POSIX sh (shellcheck -s sh clean)', () => {
  const dir = path.join(__dirname, 'esxi-shims');
  const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
  const r = spawnSync('shellcheck', ['-s', 'sh', ...files], { encoding: 'utf8' });
  expect(r.error).toBeUndefined();
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
});
