/**
 * The install dir's datastore from `esxcli storage filesystem list` (the
 * probe's `filesystems` section). Pure. The list names every volume the host
 * knows, NFS ones included (Type `NFS` for NFS v3; `NFS41` for 4.1 per
 * VMware's docs, no public sample seen); test/fixtures/real-output holds real
 * lists with an NFS row (docs/field-notes.md, "The agent's datastore").
 */
import { parseFilesystemList, type Filesystem } from './esxi-tables';
import type { ObservedDatastore } from './observed-types';

const VOLUMES = '/vmfs/volumes/';

/** `/vmfs/volumes/<name>/<dir>` → `<name>`; undefined for any other shape. */
export function datastoreOfInstallDir(installDir: string): string | undefined {
  if (!installDir.startsWith(VOLUMES)) return undefined;
  const name = installDir.slice(VOLUMES.length).split('/')[0];
  return name ? name : undefined;
}

/** The volume the manifest names: by Volume Name first, else by UUID (a datastore may be given as its UUID). */
export function findVolume(list: Filesystem[], name: string): Filesystem | undefined {
  return list.find((f) => f.volume === name) ?? list.find((f) => f.uuid === name);
}

/** VMFS-3/5/6 (not VMFSOS, the ESXi 7+ system volume): a datastore the agent may live on. */
export function isVmfsDatastore(type: string): boolean {
  return /^VMFS-\d+$/i.test(type);
}

/** `NFS` (v3) and `NFS41` (v4.1); matched loosely, so a spelling such as `NFS 4.1` still counts. */
export function isNfsType(type: string): boolean {
  return /^nfs/i.test(type.trim());
}

/** The filesystem list → what the plan needs; undefined when the text holds no table at all. */
export function observeDatastore(name: string, listText: string): ObservedDatastore | undefined {
  const list = parseFilesystemList(listText);
  if (list.length === 0) return undefined;
  const vmfs = [...new Set(list.filter((f) => f.mounted && f.volume !== '' && isVmfsDatastore(f.type)).map((f) => f.volume))].sort();
  const found = findVolume(list, name);
  const out: ObservedDatastore = { name, vmfs };
  if (found) {
    out.type = found.type;
    out.mounted = found.mounted;
  }
  return out;
}
