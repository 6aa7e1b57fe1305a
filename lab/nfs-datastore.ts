/**
 * Lab: make a datastore of an ESXi host look NFS-mounted, as the agent must
 * never have it (issue 13). On ESXi an NFS datastore is a mount record in
 * esx.conf (`/nas/NAME/...`) whose volume appears at /vmfs/volumes/<uuid>
 * (8-8 hex for NFS, as in test/fixtures/real-output/esxcli-storage-filesystem-list.6.x.2.txt)
 * with the name as a symlink to it. The lab writes the same: a folder (so
 * files can be written there, as on a real mount), the symlink and the record;
 * the esxcli shim (lab/esxi-shims/esxcli) then lists it under `storage nfs list`
 * or `storage nfs41 list` and as type NFS / NFS41 in `storage filesystem list`.
 * Nothing is mounted: the lab's IO path is unchanged. Every lab host starts with the ZBS
 * datastore `zbs-nfs` (from 192.168.33.2) as a record only; naming it here gives it its folder.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Lab } from './lab';
import { LabError } from './proc';

export interface NfsDatastoreOptions {
  /** The NFS server (default 192.168.33.2: ZBS itself, the worst case). */
  server?: string;
  share?: string;
  /** 3 (default: `esxcli storage nfs`) or 4.1 (`esxcli storage nfs41`). */
  version?: '3' | '4.1';
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Adds the datastore NAME to esxi-N as an NFS mount; returns its UUID. Idempotent for the same name. */
export function addNfsDatastore(lab: Lab, target: string, name: string, opts: NfsDatastoreOptions = {}): string {
  const node = lab.nodes.find((n) => n.esxi.target === target);
  if (!node)
    throw new LabError(`no ESXi host ${target} in lab ${lab.name}`, `Use one of: ${lab.nodes.map((n) => n.esxi.target).join(', ')}.`);
  if (!NAME_RE.test(name)) throw new LabError(`bad datastore name ${JSON.stringify(name)}`, 'Letters, digits, dot, dash, underscore.');
  const server = opts.server ?? '192.168.33.2';
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(server)) throw new LabError(`bad NFS server ${JSON.stringify(server)}`, 'Give an IPv4 address.');
  const volumes = path.join(node.esxi.root, 'vmfs', 'volumes');
  const conf = path.join(node.esxi.root, 'etc', 'vmware', 'esx.conf');
  const text = fs.existsSync(conf) ? fs.readFileSync(conf, 'utf8') : '';
  // Every lab host already has the ZBS datastore `zbs-nfs` as a record only: given its name, it gets its folder.
  const known = new RegExp(`^/nas/${name.replace(/[.]/g, '\\.')}/uuid = "([^"]+)"$`, 'm').exec(text)?.[1];
  if (!known && fs.existsSync(path.join(volumes, name)))
    throw new LabError(`${target} already has a datastore named ${name}`, 'Choose another name.');
  const uuid = known ?? `${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;
  fs.mkdirSync(path.join(volumes, uuid), { recursive: true, mode: 0o755 });
  if (!fs.existsSync(path.join(volumes, name))) fs.symlinkSync(uuid, path.join(volumes, name));
  if (known) return known;
  const lines = [
    `/nas/${name}/host = "${server}"`,
    `/nas/${name}/share = "${opts.share ?? `/${name}`}"`,
    `/nas/${name}/uuid = "${uuid}"`,
    ...(opts.version === '4.1' ? [`/nas/${name}/version = "4.1"`] : []),
  ];
  fs.writeFileSync(conf, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${lines.join('\n')}\n`);
  return uuid;
}
