/**
 * Powering lab hosts on and off: each host is a PID 1 in its own pid and
 * mount namespaces, so killing it is a power cut and starting it is a boot
 * that redoes what the real system's boot does (ramdisk, /etc from the
 * image and state.tgz, routes, services, local.sh, sshd).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, LabError, runOk, sleep, waitFor } from './proc';
import { ESXI_CRONTAB } from './rootfs';
import { execIn, execInOk, HOST_PATH, hostEnv, nsenterArgs } from './lab-exec';
import { hostKeys } from './lab-host-roots';
import { applyEsxConf, setEsxiNics } from './lab-network';
import { startScvmServices } from './lab-sim-services';
import { parseTarget, type LabNode } from './lab-topology';
import type { LabState } from './lab-state';

/** local.sh runs in the foreground of ESXi's boot: one that never returns would hang a real host. */
const LOCAL_SH_TIMEOUT_MS = 60_000;

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Starts PID 1 of a host: its own pid and mount namespaces inside the host's
 * network namespace, proc mounted in its root, and the host's passwd files
 * bind-mounted where sshd looks (sshd resolves users before it chroots).
 */
async function startInit(s: LabState, target: string, ns: string, root: string, extraMounts: string[] = []): Promise<number> {
  const script = [
    'set -e',
    `hostname ${target}`,
    `mount -t proc proc ${root}/proc`,
    `mount --bind /dev/pts ${root}/dev/pts`,
    `mount --bind ${root}/etc/passwd /etc/passwd`,
    `mount --bind ${root}/etc/shadow /etc/shadow`,
    `mount --bind ${root}/etc/group /etc/group`,
    ...extraMounts,
    `exec chroot ${root} /sbin/init`,
  ].join('\n');
  const log = fs.openSync(path.join(s.hostDir(target), 'init.log'), 'a');
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'unshare',
      '--pid',
      '--uts',
      '--fork',
      '--kill-child=SIGKILL',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      script,
    ],
    {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: HOST_PATH },
    },
  );
  fs.closeSync(log);
  child.unref();
  const parent = child.pid;
  if (parent === undefined) throw new LabError(`cannot start ${target}`);
  const init = await waitFor(`${target} init`, 10_000, () => {
    if (!alive(parent)) {
      throw new LabError(`${target} failed to boot: ${fs.readFileSync(path.join(s.hostDir(target), 'init.log'), 'utf8').trim()}`);
    }
    return childrenOf(parent).find((p) => comm(p) === 'init');
  });
  s.setPid(`${target}:unshare`, parent);
  s.setPid(`${target}:init`, init);
  return init;
}

async function startSshd(s: LabState, target: string): Promise<void> {
  const init = s.pid(`${target}:init`);
  if (init === undefined) throw new LabError(`${target} is not running`);
  const before = new Set(childrenOf(init));
  const conf = path.join(s.hostDir(target), 'sshd_config');
  await runOk('nsenter', [...nsenterArgs(init), '/usr/sbin/sshd', '-f', conf, '-E', path.join(s.hostDir(target), 'sshd.log')], {
    env: { PATH: HOST_PATH },
  });
  // The listener, not a session orphaned by an earlier sshd: only the listener's title names its config.
  const isListener = (p: number) => !before.has(p) && comm(p) === 'sshd' && cmdline(p).includes(conf);
  const listener = await waitFor(`${target} sshd`, 10_000, () => childrenOf(init).find(isListener));
  s.setPid(`${target}:sshd`, listener);
  // sshd forks into the background before it binds port 22, so a booted host is not reachable yet
  // when the listener process appears: wait for the LISTEN socket in the host's network namespace.
  await waitFor(`${target} sshd to listen on port 22`, 10_000, () => (listensOnSsh(listener) ? true : undefined));
}

/** True when the network namespace of pid has a TCP socket listening on port 22 (0x0016, state 0A). */
function listensOnSsh(pid: number): boolean {
  try {
    return fs
      .readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
      .split('\n')
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return f[1]?.endsWith(':0016') === true && f[3] === '0A';
      });
  } catch {
    return false;
  }
}

async function stopSshd(s: LabState, target: string): Promise<void> {
  const pid = s.pid(`${target}:sshd`);
  if (pid !== undefined && alive(pid)) {
    // A hung (stopped) sshd would never see the SIGTERM.
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGTERM');
    await waitFor(`${target} sshd to stop`, 5_000, () => (alive(pid) ? undefined : true));
  }
  s.dropPids([`${target}:sshd`]);
}

/** Powers a host off: killing PID 1 of its pid namespace kills everything in it. */
export async function powerOff(s: LabState, target: string): Promise<void> {
  const keys = [`${target}:init`, `${target}:unshare`];
  const pids = keys.map((k) => s.reg.pids[k]).filter((p): p is number => p !== undefined && alive(p));
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // raced with its own exit
    }
  }
  await waitFor(`${target} to power off`, 10_000, () => (pids.some(alive) ? undefined : true));
  s.dropPids([...keys, `${target}:sshd`]);
}

/** ESXi boot: ramdisk wiped, /etc from the image plus state.tgz, persistent routes, services, local.sh. */
export async function bootEsxi(s: LabState, node: LabNode, restore: boolean): Promise<void> {
  const h = node.esxi;
  const root = h.root;
  const wipe = async (rel: string, mode = 0o755) => {
    const p = path.join(root, rel);
    await runOk('rm', ['-rf', '--one-file-system', p]);
    fs.mkdirSync(p, { recursive: true, mode });
    fs.chmodSync(p, mode);
  };
  if (restore) {
    const conf = path.join(root, 'etc', 'vmware', 'esx.conf');
    const esxConf = fs.readFileSync(conf);
    await runOk('rm', ['-rf', '--one-file-system', path.join(root, 'etc')]);
    await runOk('cp', ['-a', path.join(s.hostDir(h.target), 'etc.pristine'), path.join(root, 'etc')]);
    // Configuration changes made through ESXi's own tools (esx.conf) persist immediately.
    fs.writeFileSync(conf, esxConf);
    if (fs.existsSync(path.join(root, 'bootbank', 'state.tgz'))) {
      await runOk('chroot', [root, '/bin/busybox', 'tar', 'xzf', '/bootbank/state.tgz', '-C', '/'], { env: hostEnv() });
    }
    await wipe('tmp', 0o1777);
    await wipe('var/run');
    await wipe('var/log');
    await wipe('var/spool/cron');
  }
  fs.mkdirSync(path.join(root, 'var', 'spool', 'cron', 'crontabs'), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(root, 'var', 'spool', 'cron', 'crontabs', 'root'), ESXI_CRONTAB, { mode: 0o600 });
  await applyEsxConf(s, node);
  await startInit(s, h.target, h.ns, root);
  const init = s.pid(`${h.target}:init`) as number;
  await runOk(
    'nsenter',
    [
      ...nsenterArgs(init),
      'chroot',
      root,
      '/bin/sh',
      '-c',
      'esxcli network firewall refresh && busybox syslogd -O /var/log/syslog.log && /usr/lib/vmware/busybox/bin/busybox crond',
    ],
    {
      env: hostEnv(),
    },
  );
  await startSshd(s, h.target);
  // UEFI Secure Boot: ESXi does not run local.sh at boot (the stock file says so).
  if (!h.secureBoot && fs.existsSync(path.join(root, 'etc', 'rc.local.d', 'local.sh'))) {
    const r = await execIn(s, h.target, '/bin/sh /etc/rc.local.d/local.sh >/var/log/rc.local.log 2>&1 </dev/null', {
      timeoutMs: LOCAL_SH_TIMEOUT_MS,
    }).catch((e: unknown) => {
      throw new LabError(
        `${h.target} boot: /etc/rc.local.d/local.sh did not finish within ${LOCAL_SH_TIMEOUT_MS / 1000} s (a real ESXi boot would hang here): ${(e as Error).message}`,
        'local.sh must only start things in the background; see /var/log/rc.local.log on the host.',
      );
    });
    if (r.code !== 0)
      fs.appendFileSync(path.join(s.hostDir(h.target), 'boot.log'), `${new Date().toISOString()} local.sh exited ${r.code}\n`);
  }
}

export async function bootScvm(s: LabState, node: LabNode): Promise<void> {
  const h = node.scvm;
  const simDir = path.dirname(s.clusterFile);
  // The cluster state is meta's, not the SCVM's: the host reads it but cannot change it.
  await startInit(s, h.target, h.ns, h.root, [
    `mount --bind ${simDir} ${h.root}/etc/zbs-sim`,
    `mount -o remount,bind,ro ${h.root}/etc/zbs-sim`,
  ]);
  await startSshd(s, h.target);
  if (s.config.services) await startScvmServices(s, node);
}

/**
 * Restarts an ESXi host. A clean reboot runs auto-backup first (as ESXi's shutdown does), a crash
 * does not, so a test sees exactly what survives each. offMs keeps the host dark in between.
 */
export async function restartEsxi(s: LabState, target: string, crash: boolean, offMs: number): Promise<void> {
  s.reload();
  const node = s.node(target, 'esxi');
  if (!crash) {
    const pid = s.pid(`${target}:sshd`);
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGCONT');
    await execInOk(s, target, '/sbin/auto-backup.sh', { timeoutMs: 30_000 });
  }
  await powerOff(s, target);
  s.removeFault('sshd-hang', target);
  await setEsxiNics(s, node, false);
  if (offMs > 0) await sleep(offMs);
  await setEsxiNics(s, node, true, s.faultActive('storage-down', target));
  await bootEsxi(s, node, true);
  // The fault is a disabled sshClient ruleset in esx.conf, which persists: it stays on unless
  // someone enabled the ruleset meanwhile (on a 'shipped' lab a disabled sshClient alone is no fault).
  const text = fs.readFileSync(path.join(node.esxi.root, 'etc', 'vmware', 'esx.conf'), 'utf8');
  if (text.includes('/firewall/services/sshClient/enabled = "true"')) s.removeFault('ssh-client-blocked', target);
}

/** New host keys (persisted through auto-backup, as ESXi would), sshd restarted to serve them. */
export async function rotateHostKey(s: LabState, target: string): Promise<void> {
  const t = parseTarget(target);
  if (t.kind === 'ctl') throw new LabError('ctl has no host key in the lab');
  s.reload();
  const node = s.node(target, t.kind);
  const root = t.kind === 'esxi' ? node.esxi.root : node.scvm.root;
  await hostKeys(root, target);
  if (t.kind === 'esxi') await execInOk(s, target, '/sbin/auto-backup.sh', { timeoutMs: 30_000 });
  await stopSshd(s, target);
  await startSshd(s, target);
  s.removeFault('sshd-hang', target);
}
