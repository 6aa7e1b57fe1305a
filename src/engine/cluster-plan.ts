import { createHash } from 'node:crypto';
import { PRIVATE_KEY_FILE } from '../agent/bundle-layout';
import { installDirFor } from '../agent/host-entries';
import { desiredCluster } from '../desired/desired-state';
import type { AgentBundle, ClusterKeyInfo, DesiredCluster } from '../desired/desired-types';
import type { Manifest } from '../manifest/manifest-types';
import type { EsxiObserved, ObservedCluster } from '../observe/observed-types';
import { canonicalJson } from '../plan/fingerprint';
import { planCluster } from '../plan/plan-cluster';
import type { DestroyOptions } from '../plan/plan-destroy';
import type { Plan, PlanMode } from '../plan/plan-types';
import { loadClusterKeypair } from '../state/cluster-keypair';

export function manifestSha256(manifest: Manifest): string {
  const { source: _source, ...rest } = manifest;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** What the desired state of a cluster is computed from; every caller (plan, apply, preflight, status, watch) fills it its own way. */
export interface DesiredInput {
  manifest: Manifest;
  bundle: AgentBundle;
  key: ClusterKeyInfo | undefined;
  /** The SCVM host keys the agents pin, by node (scvmHostKeysFrom, or watch's own memory of them). */
  scvmHostKeys: Record<string, string>;
  /** Teardown: the manifest may name an agent version this release does not ship. */
  allowVersionMismatch?: boolean;
}

export interface ClusterPlanInput extends Omit<DesiredInput, 'allowVersionMismatch'> {
  observed: ObservedCluster;
  mode: PlanMode;
  targets?: string[];
  targetOnly?: boolean;
  destroy?: DestroyOptions;
  now: Date;
  /** Recorded in the plan; default: this manifest's. Watch's prune plans one node of an older manifest under that manifest's hash. */
  manifestSha256?: string;
  /** The desired state of these inputs when the caller already built it (watch: once per check, for the plan and the status row). */
  desired?: DesiredCluster;
}

/** The one place desired state is built. */
export function clusterDesired(input: DesiredInput): DesiredCluster {
  return desiredCluster({
    manifest: input.manifest,
    bundle: input.bundle,
    key: input.key,
    scvmHostKeys: input.scvmHostKeys,
    allowVersionMismatch: input.allowVersionMismatch,
  });
}

/** The one place desired state and observation become a plan (a teardown tolerates a foreign agent version). */
export function clusterPlan(input: ClusterPlanInput): Plan {
  const { observed, mode } = input;
  const desired = input.desired ?? clusterDesired({ ...input, allowVersionMismatch: mode === 'destroy' });
  return planCluster(desired, observed, {
    mode,
    targets: input.targets,
    targetOnly: input.targetOnly,
    ...(input.destroy ? { destroy: input.destroy } : {}),
    now: input.now.toISOString(),
    manifestSha256: input.manifestSha256 ?? manifestSha256(input.manifest),
  });
}

/**
 * The SCVM host keys the agent pins: what observation saw (already checked
 * against the state folder's pins), else, for an SCVM not seen this time, the
 * keys pinned earlier.
 */
export function scvmHostKeysFrom(
  manifest: Manifest,
  observed: ObservedCluster,
  pinned: Record<string, string[]> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of manifest.nodes) {
    const o = observed.scvm[n.name];
    const keys = o && o.reachable && o.hostKey ? [o.hostKey] : (pinned[n.name] ?? []);
    if (keys.length > 0) out[n.name] = keys.map((k) => `${n.scvm.managementIp} ${k}\n`).join('');
  }
  return out;
}

/**
 * The placeholder key a plan shows for a cluster with no keypair yet (apply creates the real one).
 * Only the firewall and key-entry actions read it; its text says what it is.
 */
export const PENDING_KEY: ClusterKeyInfo = {
  publicKey: 'ssh-rsa AAAAcreatedAtApply zbs-reroute:pending',
  privateKeySha256: '0'.repeat(64),
};

/** Offline key info: the state folder's keypair, else the key the hosts already carry (no private bytes needed to plan). */
export function offlineKeyInfo(manifest: Manifest, stateDir: string, observed: ObservedCluster): ClusterKeyInfo | undefined {
  const kp = loadClusterKeypair(stateDir, manifest.clusterName);
  if (kp) return { publicKey: kp.publicKeyOpenSsh, privateKeySha256: kp.privateKeySha256 };
  for (const n of manifest.nodes) {
    const o = observed.esxi[n.name] as EsxiObserved | undefined;
    if (!o || !o.reachable || !o.reroutePublicKey) continue;
    const file = o.files[`${installDirFor(manifest, n)}/${PRIVATE_KEY_FILE}`];
    if (file) return { publicKey: o.reroutePublicKey.trim(), privateKeySha256: file.sha256 };
  }
  return undefined;
}
