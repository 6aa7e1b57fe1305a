import { PRIVATE_KEY_FILE } from '../agent/bundle-layout';
import { installDirFor } from '../agent/host-entries';
import type { ApplyDeps } from '../apply/apply-plan';
import { keyChangedError } from '../apply/cluster-key-lease';
import { isClusterAuthorizedKey } from '../desired/authorized-key';
import type { Manifest } from '../manifest/manifest-types';
import type { ObservedCluster } from '../observe/observed-types';

/**
 * What each host holds of the cluster identity: the hash of the private key on each ESXi host
 * and this cluster's entries on each SCVM. Only hosts seen in the observation are listed.
 */
export function clusterKeyState(manifest: Manifest, observed: ObservedCluster): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of manifest.nodes) {
    const e = observed.esxi[n.name];
    if (e?.reachable) out[`${n.name} (esxi)`] = e.files[`${installDirFor(manifest, n)}/${PRIVATE_KEY_FILE}`]?.sha256 ?? 'none';
    const s = observed.scvm[n.name];
    if (s?.reachable)
      out[`${n.name} (scvm)`] = [...s.managedKeys.filter((l) => isClusterAuthorizedKey(l, manifest.clusterName))].sort().join('\n');
  }
  return out;
}

/** Hosts seen both times whose key state differs. Pure. */
export function clusterKeyChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(before).filter((h) => after[h] !== undefined && after[h] !== before[h]);
}

/**
 * The cluster key lease for one apply run: owned by this process alone, re-checked against a
 * fresh observation once held, and on loss the keypair this run created is dropped again.
 */
export function clusterKeyLeaseFor(
  run: { manifest: Manifest; observe(): Promise<ObservedCluster>; discardCreatedKeypair(): boolean },
  observed: ObservedCluster,
  leaseOwner: string,
): NonNullable<ApplyDeps['clusterKey']> {
  const before = clusterKeyState(run.manifest, observed);
  return {
    owner: `${leaseOwner}:${process.pid}`,
    recheck: async () => {
      const changed = clusterKeyChanges(before, clusterKeyState(run.manifest, await run.observe()));
      if (changed.length > 0) throw keyChangedError(changed);
    },
    onLost: () => {
      run.discardCreatedKeypair();
    },
  };
}
