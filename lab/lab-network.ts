/**
 * The lab's wiring: a switch namespace with a management and a storage
 * bridge, a veth per host NIC, and each ESXi's private link to its SCVM.
 * Every link is created directly inside lab namespaces, never in the root
 * namespace, so `down` (deleting the namespaces) removes all of it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabError, run, type RunResult } from './proc';
import { ESXI_LINK_IP, mac, NFS_ADDRESS, type LabNode } from './lab-topology';
import type { LabState } from './lab-state';

/**
 * One `ip -batch` per namespace instead of one `ip` per change: starting a lab makes thousands of
 * changes. `force` carries on past failing lines and leaves judging stderr to the caller.
 */
export async function ipBatch(ns: string, lines: string[], force = false): Promise<RunResult> {
  const args = ['-n', ns, ...(force ? ['-force'] : []), '-batch', '-'];
  const r = await run('ip', args, { input: lines.join('\n') + '\n' });
  if (r.code !== 0 && !force) throw new LabError(`ip -n ${ns} -batch failed: ${r.stderr.trim()}\n${lines.join('\n')}`);
  return r;
}

export async function createSwitch(s: LabState): Promise<void> {
  const c = s.config;
  await ipBatch(s.switchNs, [
    'link set lo up',
    'link add br-mgmt type bridge',
    'link add br-stor type bridge',
    'link set br-mgmt up',
    'link set br-stor up',
    `addr add ${c.mgmtNet}.1/24 dev br-mgmt`,
    `addr add ${c.storageNet}.1/24 dev br-stor`,
  ]);
}

/** The operator's machine: on the management network, with `reroute` and a lab-bound `ssh` on PATH. */
export async function createController(s: LabState): Promise<void> {
  const c = s.config;
  await ipBatch(s.switchNs, [
    `link add m-c type veth peer name eth0 address ${mac(9, 0, 0)} netns ${s.controller.ns}`,
    'link set m-c master br-mgmt up',
  ]);
  await ipBatch(s.controller.ns, [
    'link set lo up',
    `addr add ${s.controller.ip}/24 dev eth0`,
    'link set eth0 up',
    `route add default via ${c.mgmtNet}.1`,
  ]);
  const bin = path.join(s.dir, 'ctl', 'bin');
  fs.mkdirSync(bin, { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(s.dir, 'ctl', 'home'), { recursive: true, mode: 0o700 });
  const reroute = path.join(c.repo, 'bin', 'reroute.js');
  fs.writeFileSync(
    path.join(bin, 'reroute'),
    `#!/bin/sh\n# The project's CLI, as an operator would have it on PATH.\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(reroute)} "$@"\n`,
    { mode: 0o755 },
  );
  const sshConfig = path.join(s.dir, 'ctl', 'ssh_config');
  fs.writeFileSync(
    sshConfig,
    [
      'Host *',
      `  IdentityFile ${s.operatorKeyPath}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${path.join(s.dir, 'ctl', 'known_hosts')}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  ConnectTimeout 10',
      '',
    ].join('\n'),
  );
  // `ssh` in the controller namespace uses the lab's operator key and pinned host keys.
  fs.writeFileSync(path.join(bin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${sshConfig} "$@"\n`, { mode: 0o755 });
}

export async function wireNode(s: LabState, node: LabNode): Promise<void> {
  const c = s.config;
  const i = node.index;
  const e = node.esxi.ns;
  const sc = node.scvm.ns;
  await ipBatch(s.switchNs, [
    `link add m-e${i} type veth peer name vmk0 address ${mac(0, i, 0)} netns ${e}`,
    `link add s-e${i} type veth peer name vmk1 address ${mac(0, i, 1)} netns ${e}`,
    `link add m-s${i} type veth peer name eth0 address ${mac(1, i, 0)} netns ${sc}`,
    `link add s-s${i} type veth peer name eth1 address ${mac(1, i, 1)} netns ${sc}`,
    `link set m-e${i} master br-mgmt up`,
    `link set s-e${i} master br-stor up`,
    `link set m-s${i} master br-mgmt up`,
    `link set s-s${i} master br-stor up`,
  ]);
  await ipBatch(e, [
    'link set lo up',
    `link add vmk2 address ${mac(0, i, 2)} type veth peer name eth2 address ${mac(1, i, 2)} netns ${sc}`,
    `addr add ${node.esxi.mgmtIp}/24 dev vmk0`,
    `addr add ${node.esxi.storageIp}/24 dev vmk1`,
    `addr add ${ESXI_LINK_IP}/24 dev vmk2`,
    'link set vmk0 up',
    'link set vmk1 up',
    'link set vmk2 up',
  ]);
  await ipBatch(sc, [
    'link set lo up',
    `addr add ${node.scvm.mgmtIp}/24 dev eth0`,
    `addr add ${node.scvm.storageIp}/24 dev eth1`,
    ...(node.scvm.accessIp !== undefined ? [`addr add ${node.scvm.accessIp}/24 dev eth1`] : []),
    `addr add ${NFS_ADDRESS}/24 dev eth2`,
    'link set eth0 up',
    'link set eth1 up',
    'link set eth2 up',
    `route add default via ${c.mgmtNet}.1`,
  ]);
}

/**
 * A host's NICs as seen from outside: its switch ports and its end of the private link. Powered
 * off, they go dark, so neighbours see timeouts, not refused connections. A storage port held
 * down by a fault (storageDown) stays down when the host comes back.
 */
export async function setEsxiNics(s: LabState, node: LabNode, up: boolean, storageDown = false): Promise<void> {
  const state = up ? 'up' : 'down';
  await ipBatch(s.switchNs, [`link set m-e${node.index} ${state}`, ...(up && storageDown ? [] : [`link set s-e${node.index} ${state}`])]);
  await ipBatch(node.esxi.ns, [`link set vmk2 ${state}`]);
}

export async function setScvmNics(s: LabState, node: LabNode, up: boolean): Promise<void> {
  const state = up ? 'up' : 'down';
  await ipBatch(s.switchNs, [`link set m-s${node.index} ${state}`, `link set s-s${node.index} ${state}`]);
  await ipBatch(node.scvm.ns, [`link set eth2 ${state}`]);
}

/** Resets the namespace's routes to what ESXi would have after boot: connected, default, esx.conf statics. */
export async function applyEsxConf(s: LabState, node: LabNode): Promise<void> {
  const text = fs.readFileSync(path.join(node.esxi.root, 'etc', 'vmware', 'esx.conf'), 'utf8');
  const get = (key: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${key} = `));
    return line?.slice(key.length + 3).replace(/"/g, '');
  };
  const lines = ['route flush proto boot', 'route flush proto static'];
  const gw = get('/net/routes/kernel/gateway');
  if (gw) lines.push(`route replace default via ${gw}`);
  for (const l of text.split('\n')) {
    const m = /^\/net\/route\/ipv4\[([0-9./]+)\]\/gateway = "([0-9.]+)"$/.exec(l);
    if (m) lines.push(`route replace ${m[1]} via ${m[2]}`);
  }
  const r = await ipBatch(node.esxi.ns, lines, true);
  const errors = r.stderr
    .split('\n')
    .filter((l) => l.trim() && !/Cannot find device|No such file or directory|No such process/.test(l) && !/^Command failed/.test(l));
  if (errors.length > 0) fs.appendFileSync(path.join(s.hostDir(node.esxi.target), 'boot.log'), errors.join('\n') + '\n');
}
