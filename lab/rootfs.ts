/**
 * Root file systems for the simulated hosts. Two templates (ESXi and SCVM)
 * are built once per content hash under LAB_STATE_ROOT/.cache and copied
 * (cp -a) into each host: building from busybox, a few static helpers
 * compiled here, and real OpenSSH/iproute2 binaries with their libraries.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LAB_STATE_ROOT, repoRoot } from './registry';
import { LabError, run, runOk } from './proc';

const LAB_SRC = path.join(repoRoot(), 'lab');
const NATIVE = ['bash-shim', 'lab-init', 'sudo-shim', 'esxi-busybox'] as const;
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
const PROFILES_DIR = path.join(LAB_SRC, 'esxi-profiles');
/** Where the ESXi root keeps every applet of the full busybox, for the lab's own shims only. */
export const ESXI_PRIVATE_BIN = '/usr/lib/vmware/lab/bin';
/** ESXi's own busybox path (crond reload idiom); here the static build, which has crond. */
const ESXI_VMWARE_BUSYBOX = '/usr/lib/vmware/busybox/bin/busybox';
// Named busybox so its world name in `ps -c` is "busybox", as ESXi's crond shows.
const ESXI_STATIC_BUSYBOX = '/usr/lib/vmware/lab/static/busybox';

export { ESXI_CRONTAB, ESXI_LOCAL_SH } from './esxi-stock-files';
import { ESXI_LOCAL_SH } from './esxi-stock-files';

/** ESXi shims: [file under lab/esxi-shims, install path, extra symlinks]. */
const ESXI_SHIMS: [string, string, string[]][] = [
  ['esxcfg-route', '/bin/esxcfg-route', ['/sbin/esxcfg-route', '/usr/sbin/esxcfg-route']],
  ['esxcli', '/bin/esxcli', ['/sbin/esxcli', '/usr/bin/esxcli']],
  ['esxcfg-vmknic', '/bin/esxcfg-vmknic', ['/sbin/esxcfg-vmknic', '/usr/sbin/esxcfg-vmknic']],
  ['vmware', '/bin/vmware', ['/sbin/vmware']],
  ['ps', '/bin/ps', []],
  ['localcli', '/bin/localcli', ['/sbin/localcli']],
  ['auto-backup.sh', '/sbin/auto-backup.sh', []],
  ['noop-stub', '/sbin/tmpwatch.py', []],
  ['noop-stub', '/usr/lib/vmware/vmksummary/log-heartbeat.py', []],
  ['noop-stub', '/bin/hostd-probe.sh', []],
  ['noop-stub', '/bin/crx-cli', []],
  ['lab-routes.sh', '/usr/lib/vmware/lab/lab-routes.sh', []],
  ['lab-firewall.sh', '/usr/lib/vmware/lab/lab-firewall.sh', []],
  ['secureBoot.py', '/usr/lib/vmware/secureboot/bin/secureBoot.py', []],
];

/**
 * /etc files of the ESXi image that carry the sticky bit: VisorFS marks the
 * files it backs up that way, and /sbin/auto-backup.sh saves exactly those.
 */
const ESXI_STICKY = ['etc/rc.local.d/local.sh', 'etc/ssh/keys-root/authorized_keys', 'etc/passwd', 'etc/shadow', 'etc/group', 'etc/hosts'];

export interface Templates {
  esxi: string;
  scvm: string;
  bin: string;
}

function findBusybox(): string {
  for (const p of BUSYBOX_CANDIDATES) if (fs.existsSync(p)) return p;
  throw new LabError('busybox not found', 'apt-get install busybox-static (see lab/REQUIREMENTS.apt).');
}

/**
 * Debian's dynamic `busybox` package (not installed: it conflicts with
 * busybox-static). Its ash looks commands up in PATH only (no
 * FEATURE_SH_STANDALONE), so an applet ESXi lacks can be made "not found"
 * by not linking it. The .deb is downloaded once (apt-get download, as
 * .ci/run does) and extracted under the lab's cache.
 */
function findDebianDeb(): string | undefined {
  for (const dir of [path.join(LAB_STATE_ROOT, '.cache', 'debs'), '/var/cache/apt/archives']) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    const deb = names
      .filter((n) => /^busybox_.*_amd64\.deb$/.test(n))
      .sort()
      .pop();
    if (deb) return path.join(dir, deb);
  }
  return undefined;
}

let dynamicBusybox: string | undefined;

async function findDynamicBusybox(): Promise<string> {
  if (dynamicBusybox !== undefined && fs.existsSync(dynamicBusybox)) return dynamicBusybox;
  let deb = findDebianDeb();
  if (deb === undefined) {
    const dir = path.join(LAB_STATE_ROOT, '.cache', 'debs');
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const r = await run('apt-get', ['download', '-qq', 'busybox'], { cwd: dir, timeoutMs: 180_000 });
    deb = findDebianDeb();
    if (deb === undefined) {
      throw new LabError(
        `cannot get Debian's dynamic busybox package: ${r.stderr.trim()}`,
        'Run `apt-get update && (cd /var/lib/zbs-reroute-lab/.cache/debs && apt-get download busybox)` (see .ci/run).',
      );
    }
  }
  const out = path.join(LAB_STATE_ROOT, '.cache', 'busybox-dyn', path.basename(deb, '.deb').replace(/[^A-Za-z0-9._+-]/g, '_'));
  fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o755 });
  const bin = path.join(out, 'bin', 'busybox');
  if (!fs.existsSync(bin)) {
    const tmp = `${out}.${process.pid}.tmp`;
    await runOk('dpkg-deb', ['-x', deb, tmp], { timeoutMs: 60_000 });
    try {
      fs.renameSync(tmp, out);
    } catch (e) {
      if (!fs.existsSync(bin)) throw e;
      await run('rm', ['-rf', '--one-file-system', tmp]);
    }
  }
  dynamicBusybox = bin;
  return bin;
}

export const ESXI_VERSIONS = ['6.7', '7.0', '8.0'] as const;
export type EsxiVersion = (typeof ESXI_VERSIONS)[number];

/**
 * The commands of one ESXi version (lab/esxi-profiles/<version>.applets): its
 * busybox applets, plus (all: true) the VMware tools marked `esxi-tool`.
 */
export function profileApplets(version: EsxiVersion, opts: { all?: boolean } = { all: true }): string[] {
  const text = fs.readFileSync(path.join(PROFILES_DIR, `${version}.applets`), 'utf8');
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
    .filter(([name, kind]) => name !== '' && (opts.all === true || kind !== 'esxi-tool'))
    .map(([name]) => name as string);
}

function contentHash(): string {
  const h = createHash('sha256');
  h.update('template-v3');
  const files = [
    ...NATIVE.map((n) => path.join(LAB_SRC, 'native', `${n}.c`)),
    ...fs
      .readdirSync(path.join(LAB_SRC, 'esxi-shims'))
      .sort()
      .map((f) => path.join(LAB_SRC, 'esxi-shims', f)),
    path.join(LAB_SRC, 'services', 'zbs-meta'),
    path.join(LAB_SRC, 'esxi-stock-files.ts'),
    __filename,
  ];
  for (const f of files) {
    h.update(f);
    if (fs.existsSync(f)) h.update(fs.readFileSync(f));
  }
  for (const b of [findBusybox(), '/usr/bin/ssh', '/usr/sbin/ip', findDebianDeb() ?? 'none']) {
    if (!fs.existsSync(b)) continue;
    const st = fs.statSync(b);
    h.update(`${b}:${st.size}:${st.mtimeMs}`);
  }
  return h.digest('hex').slice(0, 16);
}

async function compileNative(binDir: string): Promise<void> {
  fs.mkdirSync(binDir, { recursive: true });
  for (const n of NATIVE) {
    await runOk('gcc', ['-static', '-O2', '-o', path.join(binDir, n), path.join(LAB_SRC, 'native', `${n}.c`)], { timeoutMs: 120_000 });
  }
}

/** Copies a dynamic binary and every library ldd names into root, at the same paths. */
async function copyWithLibs(root: string, binary: string, dest = binary): Promise<void> {
  // A static binary (busybox-static) has no libraries: ldd says so and exits 1.
  const r = await run('ldd', [binary]);
  if (r.code !== 0 && !/not a dynamic executable/.test(r.stdout + r.stderr)) throw new LabError(`ldd ${binary} failed: ${r.stderr.trim()}`);
  const out = r.code === 0 ? r.stdout : '';
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  for (const lib of libs) copyFile(root, lib, path.join(root, lib));
  copyFile(root, binary, path.join(root, dest));
}

/**
 * Template paths may already be busybox applet symlinks pointing at absolute
 * host paths (/sbin/init -> /bin/busybox): writing through one would clobber
 * the host's file. Every write into a root goes through here: the existing
 * entry is unlinked, and the parent must resolve inside the root.
 */
function safeDest(root: string, dst: string): void {
  const parent = path.dirname(dst);
  fs.mkdirSync(parent, { recursive: true });
  const real = fs.realpathSync(parent);
  const realRoot = fs.realpathSync(root);
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
    throw new LabError(`refusing to write ${dst}: its folder resolves outside the host root (${real})`);
  }
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (st !== undefined && !st.isDirectory()) fs.unlinkSync(dst);
}

function copyFile(root: string, src: string, dst: string, mode?: number): void {
  safeDest(root, dst);
  const real = fs.realpathSync(src);
  fs.copyFileSync(real, dst, fs.constants.COPYFILE_EXCL);
  fs.chmodSync(dst, mode ?? fs.statSync(real).mode & 0o7777);
}

function symlink(root: string, target: string, at: string): void {
  safeDest(root, at);
  fs.symlinkSync(target, at);
}

function write(root: string, rel: string, text: string, mode = 0o644): void {
  const p = path.join(root, rel);
  safeDest(root, p);
  fs.writeFileSync(p, text, { mode, flag: 'wx' });
  fs.chmodSync(p, mode);
}

async function baseRoot(root: string, bin: string, skipApplets: Set<string>, busybox = findBusybox(), linkApplets = true): Promise<void> {
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'var/run',
    'var/log',
    'var/spool/cron/crontabs',
    'proc',
    'dev/pts',
    'lib',
    'lib64',
  ]) {
    fs.mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 });
  }
  fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  await copyWithLibs(root, busybox, '/bin/busybox');
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  const list = linkApplets ? await runOk(busybox, ['--list-full'], { timeoutMs: 10_000 }) : '';
  for (const rel of list
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const name = path.basename(rel);
    if (skipApplets.has(name) || name === 'busybox') continue;
    symlink(root, '/bin/busybox', path.join(root, rel));
  }
  symlink(root, '/bin/busybox', path.join(root, 'bin/sh'));
  copyFile(root, path.join(bin, 'bash-shim'), path.join(root, 'bin/bash'), 0o755);
  copyFile(root, path.join(bin, 'lab-init'), path.join(root, 'sbin/init'), 0o755);
  for (const [dev, major, minor, mode] of [
    ['null', 1, 3, 0o666],
    ['zero', 1, 5, 0o666],
    ['random', 1, 8, 0o666],
    ['urandom', 1, 9, 0o666],
    ['tty', 5, 0, 0o666],
  ] as const) {
    await runOk('mknod', ['-m', mode.toString(8), path.join(root, 'dev', dev), 'c', String(major), String(minor)]);
  }
  await copyWithLibs(root, '/usr/bin/ssh');
  write(root, 'etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n');
  write(root, 'etc/profile', 'export PATH=/bin:/sbin:/usr/bin:/usr/sbin\n');
}

function sshdPasswdLine(): string {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('sshd:'));
  // sshd's privilege-separation user must exist in the passwd sshd reads, which the lab replaces.
  return line ?? 'sshd:x:102:65534::/run/sshd:/usr/sbin/nologin';
}

/**
 * Debian's static busybox runs its own applets before searching PATH
 * (FEATURE_SH_STANDALONE), so ash would never reach the ESXi `ps` shim. ESXi's
 * ps is not busybox's, so the ESXi root gets a copy whose "ps" applet is
 * renamed "pt" (same length, same sort position in the applet name table).
 */
function hideBusyboxPs(file: string): void {
  const data = fs.readFileSync(file);
  const from = Buffer.from('\0printf\0ps\0pwd\0');
  const at = data.indexOf(from);
  if (at < 0 || data.indexOf(from, at + 1) >= 0) {
    throw new LabError(
      'cannot find the ps applet name in this busybox build',
      'Use Debian 12 busybox-static, or adapt hideBusyboxPs in lab/rootfs.ts.',
    );
  }
  Buffer.from('\0printf\0pt\0pwd\0').copy(data, at);
  fs.writeFileSync(file, data);
}

/**
 * The ESXi image. /bin/busybox is Debian's dynamic build, whose ash honours
 * PATH; /bin has only `sh` here, the per-version applet links are added per
 * host (installEsxiProfile), so whatever that ESXi version lacks is "not
 * found" for every caller. The lab's own shims stand for VMware's tools
 * (esxcli, esxcfg-route, ps, auto-backup.sh are not busybox on ESXi) and put
 * ESXI_PRIVATE_BIN (every applet) first in their own PATH.
 */
async function buildEsxi(root: string, bin: string): Promise<void> {
  await baseRoot(root, bin, new Set(), await findDynamicBusybox(), false);
  // ESXi has no bash (root's login shell is /bin/sh): `bash` is "not found" there too.
  fs.unlinkSync(path.join(root, 'bin/bash'));
  const applets = (await runOk(path.join(root, 'bin/busybox'), ['--list'], { timeoutMs: 10_000 }))
    .split('\n')
    .map((a) => a.trim())
    .filter(Boolean);
  for (const a of applets) {
    // ps stays VMware's shim even for the lab's own scripts.
    if (a !== 'ps' && a !== 'busybox') symlink(root, '/bin/busybox', path.join(root, ESXI_PRIVATE_BIN, a));
  }
  // ESXi's documented crond reload idiom calls this path; the static build has crond
  // (the dynamic one has none). Its ps applet is renamed so a `busybox sh` there still reaches the ps shim.
  // The static build sits behind a wrapper that answers `busybox --list` from the host's profile.
  copyFile(root, findBusybox(), path.join(root, ESXI_STATIC_BUSYBOX), 0o755);
  hideBusyboxPs(path.join(root, ESXI_STATIC_BUSYBOX));
  copyFile(root, path.join(bin, 'esxi-busybox'), path.join(root, ESXI_VMWARE_BUSYBOX), 0o755);
  for (const [file, dest, links] of ESXI_SHIMS) {
    copyFile(root, path.join(LAB_SRC, 'esxi-shims', file), path.join(root, dest), 0o755);
    for (const l of links) symlink(root, dest, path.join(root, l));
  }
  fs.chmodSync(path.join(root, 'usr/lib/vmware/lab/lab-routes.sh'), 0o644);
  fs.chmodSync(path.join(root, 'usr/lib/vmware/lab/lab-firewall.sh'), 0o644);
  // Real iproute2, for the firewall shim's policy rules (busybox ip cannot match ports).
  await copyWithLibs(root, '/usr/sbin/ip', '/usr/lib/vmware/lab/ip');
  for (const d of [
    'etc/ssh/keys-root',
    'etc/rc.local.d',
    'etc/vmware',
    'vmfs/volumes',
    'bootbank',
    'scratch',
    'usr/lib/vmware/lab/faults',
  ]) {
    fs.mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 });
  }
  write(root, 'etc/passwd', `root:x:0:0:Administrator:/:/bin/sh\ndaemon:x:2:2:daemon:/:/bin/sh\n${sshdPasswdLine()}\n`);
  write(root, 'etc/shadow', 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n', 0o600);
  write(root, 'etc/group', 'root:x:0:root\ndaemon:x:2:\nnogroup:x:65534:\n');
  write(root, 'etc/rc.local.d/local.sh', ESXI_LOCAL_SH, 0o755);
  write(root, 'etc/ssh/keys-root/authorized_keys', '', 0o600);
  write(root, 'etc/hosts', '127.0.0.1 localhost\n');
  write(root, 'etc/vmware/esx.conf', '/adv/Misc/HostIPAddr = "0.0.0.0"\n/system/uuid = "00000000-0000-0000-0000-000000000000"\n');
  for (const f of ESXI_STICKY) markSticky(path.join(root, f));
}

/** VisorFS's "back this file up" mark (see ESXI_STICKY). */
export function markSticky(file: string): void {
  fs.chmodSync(file, (fs.statSync(file).mode & 0o777) | 0o1000);
}

/**
 * Links the applets of one ESXi version's busybox into a host root's /bin:
 * to the dynamic busybox where it has the applet, else to ESXi's busybox
 * path (the static build behind a wrapper: crond). VMware tools listed in
 * the profile (esxi-tool) link to the static build directly.
 */
export function installEsxiProfile(root: string, version: EsxiVersion): void {
  const privateBin = path.join(root, ESXI_PRIVATE_BIN);
  const busyboxApplets = new Set(profileApplets(version, { all: false }));
  for (const a of profileApplets(version)) {
    if (a === 'sh' || a === 'busybox' || a === 'ps') continue;
    const dest = path.join(root, 'bin', a);
    if (fs.existsSync(dest)) continue;
    // VMware's own tools (ping, nc) stand in as the static build: not busybox on ESXi, and a
    // static binary starts faster (the agent starts one ping per address at once).
    const target = !busyboxApplets.has(a)
      ? ESXI_STATIC_BUSYBOX
      : fs.existsSync(path.join(privateBin, a))
        ? '/bin/busybox'
        : ESXI_VMWARE_BUSYBOX;
    symlink(root, target, dest);
  }
  fs.writeFileSync(path.join(root, 'usr/lib/vmware/lab/esxi-version'), `${version}\n`);
  // What ESXi's own busybox path lists and runs (native/esxi-busybox.c).
  fs.writeFileSync(path.join(root, 'usr/lib/vmware/lab/applets'), profileApplets(version, { all: false }).join('\n') + '\n');
}

async function buildScvm(root: string, bin: string): Promise<void> {
  await baseRoot(root, bin, new Set());
  copyFile(root, path.join(bin, 'sudo-shim'), path.join(root, 'usr/bin/sudo'), 0o4755);
  const zbsMeta = path.join(LAB_SRC, 'services', 'zbs-meta');
  if (fs.existsSync(zbsMeta)) copyFile(root, zbsMeta, path.join(root, 'usr/bin/zbs-meta'), 0o755);
  fs.mkdirSync(path.join(root, 'etc/zbs-sim'), { recursive: true });
  fs.mkdirSync(path.join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.join(root, 'root'), 0o700);
  fs.mkdirSync(path.join(root, 'home'), { mode: 0o755 });
  fs.mkdirSync(path.join(root, 'home/smartx/.ssh'), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.join(root, 'home/smartx'), 0o700);
  write(root, 'etc/passwd', `root:x:0:0:root:/root:/bin/bash\n${sshdPasswdLine()}\nsmartx:x:1000:1000::/home/smartx:/bin/bash\n`);
  write(root, 'etc/shadow', 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nsmartx:*:19000:0:99999:7:::\n', 0o600);
  write(root, 'etc/group', 'root:x:0:\nwheel:x:10:smartx\nwheel-pw:x:11:\nnogroup:x:65534:\nsmartx:x:1000:\n');
  // A line that is not ours, as SMTX OS nodes carry cluster-internal keys: it must survive.
  write(
    root,
    'root/.ssh/authorized_keys',
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkVtDj0n8WbX0Ew2sGZsK3xv6m5hZfQ0b1X9dXqzL1p root@smtx-cluster-internal\n',
    0o600,
  );
  write(root, 'home/smartx/.ssh/authorized_keys', '', 0o600);
  for (const p of ['home/smartx', 'home/smartx/.ssh', 'home/smartx/.ssh/authorized_keys']) fs.chownSync(path.join(root, p), 1000, 1000);
}

let building: Promise<Templates> | undefined;

/** Builds (once per content hash, shared by all labs) and returns the template roots. */
export function ensureTemplates(): Promise<Templates> {
  building ??= buildTemplates().finally(() => {
    building = undefined;
  });
  return building;
}

async function buildTemplates(): Promise<Templates> {
  const dir = path.join(LAB_STATE_ROOT, '.cache', contentHash());
  const done: Templates = { esxi: path.join(dir, 'esxi'), scvm: path.join(dir, 'scvm'), bin: path.join(dir, 'bin') };
  if (fs.existsSync(path.join(dir, 'complete'))) return done;
  fs.mkdirSync(path.join(LAB_STATE_ROOT, '.cache'), { recursive: true, mode: 0o755 });
  fs.chmodSync(LAB_STATE_ROOT, 0o755);
  const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
  fs.mkdirSync(tmp, { mode: 0o755 });
  try {
    const bin = path.join(tmp, 'bin');
    await compileNative(bin);
    await buildEsxi(path.join(tmp, 'esxi'), bin);
    await buildScvm(path.join(tmp, 'scvm'), bin);
    fs.writeFileSync(path.join(tmp, 'complete'), new Date().toISOString() + '\n');
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another process finished the same template first: use theirs.
      if (!fs.existsSync(path.join(dir, 'complete'))) throw e;
      await run('rm', ['-rf', '--one-file-system', tmp]);
    }
  } catch (e) {
    await run('rm', ['-rf', '--one-file-system', tmp]);
    throw e;
  }
  return done;
}
