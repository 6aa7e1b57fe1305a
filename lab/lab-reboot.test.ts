/**
 * ESXi persistence rules across reboot and crash: the ones zbs-reroute's
 * install must survive (or deliberately work around).
 */
import { Lab } from './lab';
import { testLabName } from './test-support';
import { describeLab } from '../test/support/describe-lab';

jest.setTimeout(120_000);

const MARK = '# lab-test-mark';

describeLab('lab ESXi reboot and crash', () => {
  let lab: Lab;
  const sh = (cmd: string) => lab.execOk('esxi-1', cmd);

  beforeAll(async () => {
    lab = await Lab.start({ nodes: 1, name: testLabName('reboot'), services: false });
  }, 120_000);

  afterAll(async () => {
    await lab?.stop();
  });

  const editLocalSh = () =>
    sh(`sed -i 's/^exit 0$/${MARK}\\nexit 0/' /etc/rc.local.d/local.sh && grep -c '${MARK}' /etc/rc.local.d/local.sh`);

  test('a local.sh edit without auto-backup is lost by a crash', async () => {
    expect((await editLocalSh()).trim()).toBe('1');
    await lab.crash('esxi-1');
    expect(await sh('cat /etc/rc.local.d/local.sh')).not.toContain(MARK);
  });

  test('a local.sh edit followed by auto-backup survives a crash, and local.sh runs at boot', async () => {
    await sh(`sed -i 's/^exit 0$/echo booted > \\/tmp\\/local-sh-ran\\n${MARK}\\nexit 0/' /etc/rc.local.d/local.sh`);
    await sh('/sbin/auto-backup.sh');
    await lab.crash('esxi-1');
    expect(await sh('cat /etc/rc.local.d/local.sh')).toContain(MARK);
    expect(await sh('cat /tmp/local-sh-ran')).toBe('booted\n');
  });

  test('a clean reboot runs auto-backup at shutdown, so an edit survives it', async () => {
    await sh(`echo '# reboot-kept' >> /etc/rc.local.d/local.sh`);
    await lab.reboot('esxi-1');
    expect(await sh('cat /etc/rc.local.d/local.sh')).toContain('# reboot-kept');
  });

  test('crontab, /tmp, /var/run and /var/log are wiped; the crontab is back to ESXi lines and crond runs', async () => {
    await sh(`echo '* * * * * /bin/true # ours' >> /var/spool/cron/crontabs/root; touch /tmp/x /var/run/x /var/log/x.log`);
    await lab.reboot('esxi-1');
    const tab = await sh('cat /var/spool/cron/crontabs/root');
    expect(tab).not.toContain('# ours');
    expect(tab).toMatch(/^#min hour day mon dow command\n/);
    expect(await sh('ls /tmp/x /var/run/x /var/log/x.log 2>/dev/null; echo end')).toBe('end\n');
    expect(await sh('kill -0 "$(cat /var/run/crond.pid)" && echo alive')).toBe('alive\n');
  });

  test('static routes come back at boot; ad-hoc ip routes do not', async () => {
    await sh('esxcfg-route -a 192.168.33.2/32 10.20.0.250');
    await sh('/usr/lib/vmware/lab/ip route add 10.99.0.0/24 via 10.10.0.1');
    await lab.crash('esxi-1');
    const routes = await sh('/usr/lib/vmware/lab/ip route');
    expect(routes).toMatch(/192\.168\.33\.2 via 10\.20\.0\.250 dev vmk1/);
    expect(routes).not.toContain('10.99.0.0');
    expect(routes).toMatch(/default via 10\.10\.0\.1 dev vmk0/);
    await sh('esxcfg-route -d 192.168.33.2/32 10.20.0.250');
  });

  test('the datastore persists, ssh still logs in, and the host keys are unchanged', async () => {
    const keys = lab.hostPublicKeys('esxi-1');
    await sh('mkdir -p /vmfs/volumes/datastore1/zbs-reroute && echo kept > /vmfs/volumes/datastore1/zbs-reroute/f');
    await lab.reboot('esxi-1');
    expect(await sh('cat /vmfs/volumes/datastore1/zbs-reroute/f')).toBe('kept\n');
    expect(lab.hostPublicKeys('esxi-1')).toEqual(keys);
    const r = await lab.exec('ctl', `ssh root@${lab.nodes[0]!.esxi.mgmtIp} true`);
    expect(r.code).toBe(0);
  });

  test('pid 1 is a new init after a crash: processes of the old boot are gone', async () => {
    await sh('sleep 1000 >/dev/null 2>&1 </dev/null & echo started');
    expect(await sh('ps -c')).toContain('sleep 1000');
    await lab.crash('esxi-1');
    expect(await sh('ps -c')).not.toContain('sleep 1000');
  });

  test('a lab object sees a reboot done through another handle (the CLI attaches the same way)', async () => {
    const other = Lab.attach(lab.name);
    await other.crash('esxi-1');
    expect(await sh('hostname')).toBe('esxi-1\n');
  });

  test('sshClient disabled in esx.conf stays disabled after a reboot', async () => {
    await lab.fault('ssh-client-blocked', 'esxi-1');
    await lab.reboot('esxi-1');
    expect(lab.faults.map((f) => `${f.name} ${f.target}`)).toContain('ssh-client-blocked esxi-1');
    expect(await sh('/usr/lib/vmware/lab/ip rule')).toMatch(/dport 22 prohibit/);
    await lab.heal('ssh-client-blocked', 'esxi-1');
    expect(await sh('/usr/lib/vmware/lab/ip rule')).not.toMatch(/prohibit/);
  });
});
