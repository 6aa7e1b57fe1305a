/**
 * Each host's file system at lab start: a copy of the ESXi or SCVM template
 * made into one particular host (name, addresses, datastore, host keys,
 * operator key, sshd config), plus the controller's view of every host key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runOk } from './proc';
import { installEsxiProfile, markSticky, type Templates } from './rootfs';
import { HOST_PATH } from './lab-exec';
import { DEFAULT_SCVM_VERSION, NFS_ADDRESS, randomHex, vmfsUuid, type LabNode } from './lab-topology';
import type { LabState } from './lab-state';

/** ECDSA and Ed25519 only: an RSA host key costs up to half a second of CPU per host at start. */
export const HOST_KEY_TYPES = ['ecdsa', 'ed25519'] as const;

export async function hostKeys(root: string, target: string): Promise<void> {
  const sshDir = path.join(root, 'etc', 'ssh');
  fs.mkdirSync(sshDir, { recursive: true, mode: 0o755 });
  for (const f of fs.readdirSync(sshDir)) if (f.startsWith('ssh_host_')) fs.unlinkSync(path.join(sshDir, f));
  await Promise.all(
    HOST_KEY_TYPES.map((type) =>
      runOk('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `root@${target}`, '-f', path.join(sshDir, `ssh_host_${type}_key`)]),
    ),
  );
  // On ESXi the host keys are backed-up configuration files: VisorFS marks them sticky.
  if (target.startsWith('esxi-')) for (const f of fs.readdirSync(sshDir)) if (f.startsWith('ssh_host_')) markSticky(path.join(sshDir, f));
}

/** The host's current public host keys, as `type base64` lines. */
export function publicHostKeys(root: string): string[] {
  return HOST_KEY_TYPES.map((t) =>
    fs
      .readFileSync(path.join(root, 'etc', 'ssh', `ssh_host_${t}_key.pub`), 'utf8')
      .trim()
      .split(/\s+/)
      .slice(0, 2)
      .join(' '),
  );
}

function sshdConfig(s: LabState, target: string, root: string, kind: 'esxi' | 'scvm'): string {
  const lines = [
    '# sshd of one simulated host; runs in its namespaces, chrooted per session.',
    'Port 22',
    'AddressFamily inet',
    'ListenAddress 0.0.0.0',
    ...HOST_KEY_TYPES.map((type) => `HostKey ${root}/etc/ssh/ssh_host_${type}_key`),
    'PidFile none',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'UseDNS no',
    'StrictModes yes',
    `ChrootDirectory ${root}`,
    'Subsystem sftp internal-sftp',
    `SetEnv PATH=${HOST_PATH}`,
    'MaxStartups 100:30:200',
    'MaxSessions 10',
    'LoginGraceTime 30',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
  ];
  if (kind === 'esxi') {
    // ESXi: root logs in (by key here), keys in /etc/ssh/keys-<user>/authorized_keys.
    lines.push('PermitRootLogin yes', `AuthorizedKeysFile ${root}/etc/ssh/keys-%u/authorized_keys`);
  } else {
    // SMTX OS >= 5.1.2 refuses root logins outright (issue 11): only the operator user logs in.
    lines.push('PermitRootLogin no', `AuthorizedKeysFile ${root}%h/.ssh/authorized_keys`);
  }
  const file = path.join(s.hostDir(target), 'sshd_config');
  fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o644 });
  return file;
}

export async function prepareEsxi(s: LabState, node: LabNode, t: Templates): Promise<void> {
  const h = node.esxi;
  const hostDir = s.hostDir(h.target);
  fs.mkdirSync(hostDir, { mode: 0o755 });
  await runOk('cp', ['-a', t.esxi, h.root]);
  fs.chmodSync(h.root, 0o755);
  // Only this ESXi release's applets are on the host (lab/esxi-profiles/<version>.applets).
  installEsxiProfile(h.root, h.version);
  if (h.secureBoot) fs.writeFileSync(path.join(h.root, 'usr', 'lib', 'vmware', 'lab', 'secure-boot'), 'Enabled\n');
  const etc = path.join(h.root, 'etc');
  fs.writeFileSync(path.join(etc, 'hostname'), `${h.target}\n`);
  fs.writeFileSync(path.join(etc, 'hosts'), `127.0.0.1 localhost\n${h.mgmtIp} ${h.target}.lab ${h.target}\n`);
  await hostKeys(h.root, h.target);
  fs.writeFileSync(path.join(etc, 'ssh', 'keys-root', 'authorized_keys'), fs.readFileSync(`${s.operatorKeyPath}.pub`), { mode: 0o600 });
  const nfsUuid = `${h.datastoreUuid.slice(9, 17)}-${h.datastoreUuid.slice(0, 8)}`;
  // ESXi's own system volumes, as `esxcli storage filesystem list` shows them: 7.0 and later have
  // OSDATA (VMFSOS) and BOOTBANK1/2 (vfat), 6.x unnamed vfat partitions (test/fixtures/real-output).
  // OSDATA lives on the boot disk next to datastore1: same first group and device suffix.
  const osUuid = `${h.datastoreUuid.slice(0, 9)}${randomHex(8)}-${randomHex(4)}-${h.datastoreUuid.slice(23)}`;
  const systemVolumes =
    h.version === '6.7'
      ? [
          `${vmfsUuid()} - vfat 261853184 106246144`,
          `${vmfsUuid()} - vfat 299712512 117448704`,
          `${vmfsUuid()} - vfat 4293591040 4288217088`,
        ]
      : [
          `${osUuid} OSDATA-${osUuid} VMFSOS 128580583424 122972798976`,
          `${vmfsUuid()} BOOTBANK1 vfat 4293591040 4077060096`,
          `${vmfsUuid()} BOOTBANK2 vfat 4293591040 4021878784`,
        ];
  fs.writeFileSync(path.join(h.root, 'usr', 'lib', 'vmware', 'lab', 'system-volumes'), systemVolumes.join('\n') + '\n');
  fs.mkdirSync(h.datastorePath, { recursive: true, mode: 0o755 });
  fs.symlinkSync(h.datastoreUuid, path.join(h.root, 'vmfs', 'volumes', h.datastore));
  fs.writeFileSync(
    path.join(etc, 'vmware', 'esx.conf'),
    [
      `/adv/Misc/HostIPAddr = "${h.mgmtIp}"`,
      `/adv/Misc/HostName = "${h.target}"`,
      `/net/routes/kernel/gateway = "${s.config.mgmtNet}.1"`,
      // RDMA: as SmartX deploy leaves it, persistent, so boot re-adds them before any agent runs.
      ...(node.scvm.accessIp !== undefined
        ? [
            `/net/route/ipv4[${NFS_ADDRESS}/32]/gateway = "${node.scvm.accessIp}"`,
            `/net/route/ipv4[${node.scvm.storageIp}/32]/gateway = "${node.scvm.accessIp}"`,
          ]
        : []),
      // The ZBS NFS datastore, mounted from 192.168.33.2 (a mount record only: the lab mounts nothing).
      '/nas/zbs-nfs/host = "192.168.33.2"',
      '/nas/zbs-nfs/share = "/zbs"',
      `/nas/zbs-nfs/uuid = "${nfsUuid}"`,
      // 'open': the client rulesets the product needs are on; 'shipped' leaves ESXi's defaults (off).
      ...(s.config.firewall === 'shipped'
        ? []
        : ['/firewall/services/sshClient/enabled = "true"', '/firewall/services/httpClient/enabled = "true"']),
      '',
    ].join('\n'),
  );
  sshdConfig(s, h.target, h.root, 'esxi');
  // The "installation image" of /etc that every boot starts from before state.tgz is applied.
  await runOk('cp', ['-a', etc, path.join(hostDir, 'etc.pristine')]);
  await runOk('chroot', [h.root, '/bin/sh', '/sbin/auto-backup.sh'], { env: { PATH: HOST_PATH } });
}

export async function prepareScvm(s: LabState, node: LabNode, t: Templates): Promise<void> {
  const h = node.scvm;
  fs.mkdirSync(s.hostDir(h.target), { mode: 0o755 });
  await runOk('cp', ['-a', t.scvm, h.root]);
  fs.chmodSync(h.root, 0o755);
  const etc = path.join(h.root, 'etc');
  fs.writeFileSync(path.join(etc, 'hostname'), `${h.target}\n`);
  fs.writeFileSync(path.join(etc, 'hosts'), `127.0.0.1 localhost\n${h.mgmtIp} ${h.target}.lab ${h.target}\n`);
  fs.writeFileSync(path.join(etc, 'zbs-sim-self'), `${h.target}\n`);
  // Where SMTX OS names its release (file name unverified, see lab/README.md).
  fs.writeFileSync(path.join(etc, 'smtxos-release'), `SMTX OS ${s.config.scvmVersion ?? DEFAULT_SCVM_VERSION}\n`);
  await hostKeys(h.root, h.target);
  const keys = path.join(h.root, 'home', 'smartx', '.ssh', 'authorized_keys');
  fs.writeFileSync(keys, fs.readFileSync(`${s.operatorKeyPath}.pub`));
  fs.chownSync(keys, 1000, 1000);
  sshdConfig(s, h.target, h.root, 'scvm');
}

/** The controller trusts every host key as of start, on both addresses an operator may use. */
export function writeKnownHosts(s: LabState): void {
  const lines: string[] = [];
  for (const node of s.nodes) {
    for (const h of [node.esxi, node.scvm]) {
      for (const t of HOST_KEY_TYPES) {
        const [type, key] = fs
          .readFileSync(path.join(h.root, 'etc', 'ssh', `ssh_host_${t}_key.pub`), 'utf8')
          .trim()
          .split(/\s+/);
        lines.push(`${h.mgmtIp},${h.storageIp} ${type} ${key}`);
      }
    }
  }
  fs.writeFileSync(path.join(s.dir, 'ctl', 'known_hosts'), lines.join('\n') + '\n');
}
