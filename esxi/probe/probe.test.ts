/**
 * Runs the real probe.sh under busybox sh against a temp tree shaped like an
 * ESXi host. The ESXi commands (esxcfg-route, esxcfg-vmknic, vmware, ps -c)
 * are test doubles on PATH; the real proof is test/observe/probe-lab.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ESXI_CRONTAB, ROUTES, VMKNICS } from '../../test/fixtures/probe-output';
import type { EsxiObserved } from '../../src/observe/observed-types';
import { parseProbeOutput } from '../../src/observe/parse-probe-output';
import { scanScript } from '../../src/preflight/shell-script-scan';
import { checkScript, parseAllowList } from '../../test/support/applet-allow-list';

const PROBE = path.join(__dirname, 'probe.sh');
const BUSYBOX = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p));
const maybe = BUSYBOX ? describe : describe.skip;
const CLUSTER_IPS = ['10.20.0.101', '10.20.0.102', '10.10.0.101', '10.10.0.102'];

interface Host {
  root: string;
  install: string;
  run: string;
  shims: string;
}

function write(file: string, content: string | Buffer, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
}

function makeHost(): Host {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-test-'));
  const install = `${root}/vmfs/volumes/datastore1/zbs-reroute`;
  const run = `${root}/var/run/zbs-reroute`;
  const shims = `${root}/shims`;
  fs.mkdirSync(run, { recursive: true });
  const shim = (name: string, body: string): void => write(`${shims}/${name}`, `#!/bin/sh\n${body}\n`, 0o755);
  shim('esxcfg-route', `[ "$1" = -l ] || exit 1\ncat <<'EOF'\n${ROUTES}EOF`);
  shim('esxcfg-vmknic', `cat <<'EOF'\n${VMKNICS}EOF`);
  shim('vmware', 'echo "VMware ESXi 7.0.3 build-19193900"');
  // The two firewall listings, in the format of the vSphere CLI examples.
  shim(
    'esxcli',
    `case "$*" in
  'network firewall ruleset list') printf '%s\\n' 'Name        Enabled' '----------  -------' 'sshServer      true' 'httpClient    false' 'sshClient      true' ;;
  'network firewall ruleset allowedip list') printf '%s\\n' 'Ruleset     Allowed IP Addresses' '----------  --------------------' 'sshServer   All' 'httpClient  All' 'sshClient   10.20.0.101, 10.10.0.0/24' ;;
  *) exit 1 ;;
esac`,
  );
  // busybox sh prefers its own applets over PATH, so `ps` is busybox ps either way (as in the lab).
  shim('ps', `exec ${BUSYBOX} ps "$@"`);
  return { root, install, run, shims };
}

function runProbe(
  h: Host,
  opts: { path?: string; env?: Record<string, string> } = {},
): { stdout: Buffer; stderr: string; status: number | null } {
  const r = spawnSync(BUSYBOX as string, ['sh', '-s', '--', h.install, h.run, '192.168.33.2', ...CLUSTER_IPS], {
    input: fs.readFileSync(PROBE),
    env: { PATH: opts.path ?? `${h.shims}:/usr/bin:/bin`, ZBS_PROBE_ROOT: h.root, ...opts.env },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60000,
  });
  return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status };
}

function observe(h: Host, stdout: Buffer): EsxiObserved {
  const r = parseProbeOutput(stdout, { node: 'node-1', installDir: h.install, nfsAddress: '192.168.33.2', clusterIps: CLUSTER_IPS });
  if (!r.reachable) throw new Error(r.reason);
  return r as EsxiObserved;
}

/** Other tests on this machine run agent loops too; busybox ps sees them all. Keep our own. */
const foreignAgentWarning = /^agent process \d+ runs a reroute-loop\.sh outside |^legacy \(seed tooling\) traces found without its folder$/;
const ownWarnings = (obs: EsxiObserved): string[] => (obs.warnings ?? []).filter((w) => !foreignAgentWarning.test(w));

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

function treeState(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (e.isDirectory() && !e.isSymbolicLink()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

maybe('probe.sh under busybox sh', () => {
  const hosts: Host[] = [];
  afterAll(() => {
    for (const h of hosts) fs.rmSync(h.root, { recursive: true, force: true });
  });

  it('is shellcheck -s sh clean', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', PROBE]);
    if (r.error) return; // shellcheck not installed here; `npm run lint` covers it
    expect(r.stdout.toString()).toBe('');
    expect(r.status).toBe(0);
  });

  it('uses only commands and options on the agent list plus probe-commands.txt', () => {
    const allow = {
      ...parseAllowList(fs.readFileSync(path.join(__dirname, '..', 'agent', 'applets.txt'), 'utf8')),
      ...parseAllowList(fs.readFileSync(path.join(__dirname, 'probe-commands.txt'), 'utf8')),
    };
    const script = fs.readFileSync(PROBE, 'utf8');
    expect(checkScript(script, allow, { run_section: 1, bounded_section: 1 })).toEqual([]);
    const names = new Set(scanScript(script, { run_section: 1, bounded_section: 1 }).commands.map((c) => c.name));
    for (const n of ['esxcfg-route', 'esxcfg-vmknic', 'vmware', 'ps', 'sha256sum', 'date', 'esxcli']) expect(names).toContain(n);
  });

  it('kills a filesystem listing that hangs (a dead NFS server) after its bound and still reports every other section', () => {
    const h = makeHost();
    hosts.push(h);
    write(`${h.shims}/esxcli`, `#!/bin/sh\ncase "$*" in\n  'storage filesystem list') exec sleep 30 ;;\n  *) exit 1 ;;\nesac\n`, 0o755);
    const t0 = Date.now();
    const r = runProbe(h, { env: { ZBS_PROBE_BOUND: '1' } });
    // Generous: the behaviour is "returns long before the 30 s hang", not a latency figure.
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.status).toBe(0);
    const out = r.stdout.toString();
    expect(out).toMatch(/^@@section filesystems 0 rc=137$/m);
    expect(out).toMatch(/^@@section routes \d+ ok$/m);
    expect(out).toMatch(/^@@end \d+$/m);
  });

  it('reports an installed host completely, and changes nothing on it', async () => {
    const h = makeHost();
    hosts.push(h);
    const loop = '#!/bin/sh\nreroute_version=1.2.3\nsleep 30\n';
    write(`${h.install}/reroute-loop.sh`, loop, 0o700);
    write(`${h.install}/reroute.conf`, "NODE_NAME='node-1'\n", 0o600);
    write(`${h.install}/keys/reroute_id_rsa`, '-----BEGIN RSA PRIVATE KEY-----\nsecret\n', 0o600);
    write(`${h.install}/keys/reroute_id_rsa.pub`, 'ssh-rsa AAAAB3Nza zbs-reroute:prod-a\n', 0o644);
    write(`${h.install}/pin`, '10.20.0.102\n', 0o600);
    write(`${h.install}/lease/info`, `owner=ops@scvm-1\npid=4242\nexpires=1790000300\n`, 0o600);
    write(
      `${h.install}/firewall.prior`,
      '# record\nsshClient.enabled=false\nsshClient.allowed_all=true\nsshClient.allowed_ips=\nsshClient.added_ips=10.20.0.101\n',
      0o600,
    );
    fs.chmodSync(h.install, 0o700);
    fs.chmodSync(`${h.install}/keys`, 0o700);
    const cronLine = `* * * * * /bin/sh ${h.install}/reroute-loop.sh &`;
    write(`${h.root}/var/spool/cron/crontabs/root`, `${ESXI_CRONTAB}${cronLine}\n`);
    write(`${h.root}/etc/rc.local.d/local.sh`, '#!/bin/sh\nexit 0\n', 0o755);
    write(
      `${h.run}/status`,
      'version=1.2.3\npid=2099123\ntarget=10.20.0.101\ntarget_kind=local\nsince=1\nupdated=2\nfetch=ok\nfetch_ms=3\n',
    );
    write(`${h.root}/var/run/crond.pid`, `${process.pid}\n`);
    const before = treeState(h.root);
    const agent = spawn(BUSYBOX as string, ['sh', `${h.install}/reroute-loop.sh`], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, 300));

    let r: ReturnType<typeof runProbe>;
    try {
      r = runProbe(h);
    } finally {
      agent.kill('SIGKILL');
    }
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const obs = observe(h, r.stdout);

    expect(treeState(h.root)).toEqual(before);
    expect(Math.abs(obs.now - Date.now() / 1000)).toBeLessThan(120);
    expect(obs.esxiVersion).toBe('VMware ESXi 7.0.3 build-19193900');
    expect(obs.files[`${h.install}/reroute-loop.sh`]).toEqual({
      path: `${h.install}/reroute-loop.sh`,
      sha256: sha(loop),
      size: loop.length,
      mode: '0700',
      version: '1.2.3',
    });
    expect(obs.files[`${h.install}/keys/reroute_id_rsa`]?.mode).toBe('0600');
    expect(obs.files[`${h.install}/reroute.conf`]?.sha256).toBe(sha("NODE_NAME='node-1'\n"));
    expect(Object.keys(obs.files).some((p) => p.includes('/lease/'))).toBe(false);
    expect(obs.dirs?.[h.install]).toEqual({ mode: '0700' });
    expect(obs.pinTarget).toBe('10.20.0.102');
    expect(obs.reroutePublicKey).toBe('ssh-rsa AAAAB3Nza zbs-reroute:prod-a');
    expect(obs.crontab).toBe(`${ESXI_CRONTAB}${cronLine}\n`);
    expect(obs.localSh).toBe('#!/bin/sh\nexit 0\n');
    expect(obs.nfsRoute?.gateway).toBe('10.20.0.101');
    expect(obs.otherHostRoutes.map((x) => x.network)).toEqual(['10.20.0.254']);
    expect(obs.agentProcesses.filter((p) => p.command.includes(h.install)).map((p) => p.pid)).toEqual([agent.pid]);
    expect(obs.heartbeat?.targetKind).toBe('local');
    expect(obs.crondRunning).toBe(true);
    expect(obs.vmknics.map((v) => v.name)).toEqual(['vmk0', 'vmk1', 'vmk2']);
    expect(obs.lease).toEqual({ owner: 'ops@scvm-1', pid: 4242, expires: 1790000300 });
    expect(obs.firewall).toEqual({
      httpClient: { enabled: false, allowedAll: true, allowedIps: [] },
      sshClient: { enabled: true, allowedAll: false, allowedIps: ['10.20.0.101', '10.10.0.0/24'] },
    });
    expect(obs.firewallPrior).toEqual({ sshClient: { enabled: false, allowedAll: true, allowedIps: [], addedIps: ['10.20.0.101'] } });
    expect(obs.legacy?.dir ?? '').not.toContain(h.root);
    expect(ownWarnings(obs)).toEqual([]);
    expect(r.stdout.toString('latin1')).not.toContain('secret');
  });

  it('survives hostile files: fake markers, escapes, a 10 MB local.sh, binary and odd names', () => {
    const h = makeHost();
    hosts.push(h);
    const evilCron = `${ESXI_CRONTAB}@@end 2\n@@section files 5 ok\n\u001b]0;owned\u0007\n`;
    write(`${h.root}/var/spool/cron/crontabs/root`, evilCron);
    write(`${h.root}/etc/rc.local.d/local.sh`, Buffer.alloc(10 * 1024 * 1024, 0x23));
    write(`${h.install}/reroute-loop.sh`, Buffer.from([0, 1, 2, 255, 10, 0x1b, 10]), 0o700);
    write(`${h.install}/name with spaces`, 'x');
    write(`${h.install}/line\nbreak`, 'y');
    write(`${h.run}/status`, Buffer.alloc(100000, 0x41));
    write(`${h.root}/var/run/crond.pid`, 'not-a-pid');
    const r = runProbe(h);
    expect(r.status).toBe(0);
    const obs = observe(h, r.stdout);
    expect(obs.crontab).toBe(evilCron);
    expect(obs.localSh.length).toBe(262144);
    expect(obs.files[`${h.install}/name with spaces`]?.sha256).toBe(sha('x'));
    expect(obs.files[`${h.install}/reroute-loop.sh`]?.version).toBeUndefined();
    expect(obs.heartbeat).toBeUndefined();
    expect(obs.crondRunning).toBe(false);
    const w = (obs.warnings ?? []).join('\n');
    expect(w).toMatch(/local\.sh is larger than the probe reads/);
    expect(w).toMatch(/unreadable install dir entry/);
    expect(w.includes('\u001b')).toBe(false);
  });

  it('finds a legacy install once even when a datastore name links to its UUID folder', () => {
    const h = makeHost();
    hosts.push(h);
    const uuidDir = `${h.root}/vmfs/volumes/5f1a2b3c-0001/vmware_scvm_failure`;
    write(`${uuidDir}/scvm_failure_loop.sh`, '#!/bin/sh\nreroute_version=1.4.2\n', 0o755);
    fs.mkdirSync(`${uuidDir}/.smartx_key`);
    fs.symlinkSync(`${h.root}/vmfs/volumes/5f1a2b3c-0001`, `${h.root}/vmfs/volumes/datastore2`);
    write(`${h.root}/var/spool/cron/crontabs/root`, `${ESXI_CRONTAB}* * * * * /bin/sh ${uuidDir}/scvm_failure_loop.sh &\n`);
    const obs = observe(h, runProbe(h).stdout);
    expect(obs.legacy?.dir).toBe(fs.realpathSync(uuidDir));
    expect(obs.legacy?.version).toBe('1.4.2');
    expect(obs.legacy?.keyDir).toBe(`${fs.realpathSync(uuidDir)}/.smartx_key`);
    expect(obs.legacy?.crontabLine).toContain('scvm_failure_loop.sh');
    expect(ownWarnings(obs)).toEqual([]);
  });

  it('still reports a host without the ESXi commands (plain busybox ps, no esxcfg tools)', () => {
    const h = makeHost();
    hosts.push(h);
    const r = runProbe(h, { path: '/usr/bin:/bin' });
    expect(r.status).toBe(0);
    const obs = observe(h, r.stdout);
    expect(obs.files).toEqual({});
    expect(obs.crontab).toBe('');
    expect(obs.nfsRoute).toBeUndefined();
    expect(obs.esxiVersion).toBeUndefined();
    expect((obs.warnings ?? []).join('\n')).toMatch(/esxcfg-route is not available/);
  });

  it('refuses to run without its arguments', () => {
    const r = spawnSync(BUSYBOX as string, ['sh', '-s', '--', '/x'], { input: fs.readFileSync(PROBE) });
    expect(r.status).toBe(64);
    expect(r.stdout.toString()).toBe('');
  });
});
