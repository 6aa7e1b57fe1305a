import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { LEGACY_KEY_DIR, PRIVATE_KEY_FILE } from '../agent/bundle-layout';
import { installDirFor } from '../agent/host-entries';
import { loadShippedBundle } from '../agent/shipped-bundle';
import { clusterKeyNeeded, desiredCluster } from '../desired/desired-state';
import type { AgentBundle, ClusterKeyInfo, DesiredCluster } from '../desired/desired-types';
import { RerouteError } from '../errors/reroute-error';
import { loadManifest } from '../manifest/manifest-load';
import type { Manifest } from '../manifest/manifest-types';
import { observeCluster, type ObserveEvent } from '../observe/observe-cluster';
import type { EsxiObserved, ObservedCluster } from '../observe/observed-types';
import { canonicalJson } from '../plan/fingerprint';
import { planCluster } from '../plan/plan-cluster';
import type { DestroyOptions } from '../plan/plan-destroy';
import type { Plan, PlanMode } from '../plan/plan-types';
import { HostConnections, type HostEndpoint } from '../remote/host-connections';
import { observeConnect } from './observe-connect';
import { shellCommand } from '../core/shell-quote';
import { discardCreatedKeypair, ensureClusterKeypair, loadClusterKeypair, type ClusterKeypair } from '../state/cluster-keypair';
import { resolveCredential, type PromptFn } from '../state/credentials';
import { KnownHostsStore, type PinResult } from '../state/known-hosts-store';
import { ensureStateDir } from '../state/state-dir';

export interface SessionOptions {
  manifestPath: string;
  stateDir: string;
  acceptNewHostKeyFor?: string[];
  /** Teardown: the manifest may name an agent version this release does not ship (what is removed is whatever is there). */
  anyVersion?: boolean;
  prompt?: PromptFn;
  /** Told about every newly pinned or re-pinned host key (shown to the operator). */
  onPin?(result: PinResult): void;
}

export function manifestSha256(manifest: Manifest): string {
  const { source: _source, ...rest } = manifest;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/**
 * Everything one CLI run needs for a cluster: the validated manifest, the
 * shipped agent, the state folder and one SSH connection per host. Composes
 * the pure core (desired, plan) with the edges (observe, state); prints nothing.
 */
export class ClusterSession {
  private constructor(
    readonly manifest: Manifest,
    readonly bundle: AgentBundle,
    readonly stateDir: string,
    readonly connections: HostConnections,
    private readonly hostKeys: KnownHostsStore,
  ) {}

  static async open(opts: SessionOptions): Promise<ClusterSession> {
    const bundle = loadShippedBundle();
    const manifest = loadManifest(opts.manifestPath, { bundledVersion: bundle.version, anyVersion: opts.anyVersion === true });
    const paths = ensureStateDir(opts.stateDir);
    const baseDir = path.dirname(path.resolve(opts.manifestPath));
    // One after the other: two password prompts must not share the terminal at once.
    const esxiCred = await resolveCredential(manifest.access.esxi.credential, { who: `${manifest.access.esxi.user} on the ESXi hosts`, baseDir, prompt: opts.prompt });
    const scvmCred = await resolveCredential(manifest.access.scvm.credential, { who: `${manifest.access.scvm.user} on the SCVMs`, baseDir, prompt: opts.prompt });
    const store = new KnownHostsStore(paths.knownHosts, { acceptNewKeyFor: opts.acceptNewHostKeyFor ?? [] });
    const connections = new HostConnections({
      ssh: manifest.access.ssh,
      users: { esxi: manifest.access.esxi.user, scvm: manifest.access.scvm.user },
      credentials: { esxi: esxiCred, scvm: scvmCred },
      hostKeyPolicy: (e) => store.policyFor(`${e.node}/${e.kind}`, e.address, manifest.access.ssh.port, opts.onPin),
      preferredHostKeyTypes: (e) => store.pinnedKeyTypes(e.address, manifest.access.ssh.port),
    });
    return new ClusterSession(manifest, bundle, paths.root, connections, store);
  }

  endpoints(): HostEndpoint[] {
    return this.manifest.nodes.flatMap((n) => [
      { kind: 'esxi' as const, node: n.name, address: n.esxi.address },
      { kind: 'scvm' as const, node: n.name, address: n.scvm.managementIp },
    ]);
  }

  async observe(onEvent?: (e: ObserveEvent) => void): Promise<ObservedCluster> {
    return observeCluster(this.manifest, {
      onEvent,
      connect: observeConnect(this.connections),
    });
  }

  /**
   * The cluster keypair: the state folder's, else adopted from a host that
   * already has one (ours, then the seed tooling's), else created once.
   */
  async keypair(observed: ObservedCluster): Promise<ClusterKeypair | undefined> {
    const existing = loadClusterKeypair(this.stateDir, this.manifest.clusterName);
    if (existing) return existing;
    // Nothing uses the key with the REST session source: none is created or copied off a host.
    if (!clusterKeyNeeded(this.manifest)) return undefined;
    for (const n of this.manifest.nodes) {
      const o = observed.esxi[n.name];
      if (!o || !o.reachable) continue;
      const candidates = [`${installDirFor(this.manifest, n)}/${PRIVATE_KEY_FILE}`];
      if (o.legacy) candidates.push(`${o.legacy.dir}/${LEGACY_KEY_DIR}/smartx_reroute_id_rsa`);
      for (const file of candidates) {
        const host = await this.connections.get({ kind: 'esxi', node: n.name, address: n.esxi.address });
        const r = await host.exec(`cat ${shellCommand([file])} 2>/dev/null`, { timeoutMs: this.manifest.access.ssh.commandTimeoutSeconds * 1000 });
        if (r.code === 0 && r.stdout.includes('PRIVATE KEY')) {
          try {
            return ensureClusterKeypair(this.stateDir, this.manifest.clusterName, { adopt: { key: Buffer.from(r.stdout), from: `${n.name}:${file}` } }).keypair;
          } catch (err) {
            // A key we cannot use (not RSA, corrupt) is not adopted; the next candidate or a new key follows.
            if (!(err instanceof RerouteError)) throw err;
          }
        }
      }
    }
    const made = ensureClusterKeypair(this.stateDir, this.manifest.clusterName);
    if (made.origin === 'created') this.createdKeypair = made.keypair;
    return made.keypair;
  }

  /** A keypair this run created (none on any host yet): dropped again if the run loses the key lease. */
  private createdKeypair: ClusterKeypair | undefined;

  /** Forget the keypair this run created, when it lost the race to install it (true: removed). */
  discardCreatedKeypair(): boolean {
    const kp = this.createdKeypair;
    this.createdKeypair = undefined;
    return kp !== undefined && discardCreatedKeypair(kp);
  }

  desired(observed: ObservedCluster, key: ClusterKeyInfo | undefined, opts: { allowVersionMismatch?: boolean } = {}): DesiredCluster {
    // An SCVM that is unreachable right now keeps its pinned key in every agent's
    // known_hosts: an outage must not rewrite files on every healthy host.
    const pinned: Record<string, string[]> = {};
    for (const n of this.manifest.nodes) pinned[n.name] = this.hostKeys.pinnedKeys(n.scvm.managementIp, this.manifest.access.ssh.port);
    return desiredCluster({ manifest: this.manifest, bundle: this.bundle, key, scvmHostKeys: scvmHostKeysFrom(this.manifest, observed, pinned), allowVersionMismatch: opts.allowVersionMismatch });
  }

  async plan(opts: { mode: PlanMode; targets?: string[]; targetOnly?: boolean; destroy?: DestroyOptions; onEvent?: (e: ObserveEvent) => void; now?: Date }): Promise<{ plan: Plan; observed: ObservedCluster; keypair: ClusterKeypair | undefined }> {
    const observed = await this.observe(opts.onEvent);
    this.refuseChangedHostKeys();
    const keypair = await this.keypair(observed);
    const key = keypair === undefined ? undefined : { publicKey: keypair.publicKeyOpenSsh, privateKeySha256: keypair.privateKeySha256 };
    const desired = this.desired(observed, key, { allowVersionMismatch: opts.mode === 'destroy' });
    const plan = planCluster(desired, observed, { mode: opts.mode, targets: opts.targets, targetOnly: opts.targetOnly, ...(opts.destroy ? { destroy: opts.destroy } : {}), now: (opts.now ?? new Date()).toISOString(), manifestSha256: manifestSha256(this.manifest) });
    return { plan, observed, keypair };
  }

  /**
   * A changed host key may be a reinstalled host or someone in the middle: the
   * operator decides, so plan and apply stop instead of treating it as one more
   * unreachable host (which would let an apply report success around it).
   */
  private refuseChangedHostKeys(): void {
    const refused = this.hostKeys.refusals();
    const [first] = refused;
    if (first === undefined) return;
    if (refused.length === 1) throw first;
    throw new RerouteError(
      'HOST_KEY_CHANGED',
      refused.map((e) => e.message).join('\n'),
      `Check each presented fingerprint on the host's console, then re-run with --accept-new-host-key NODE for each of them (${refused.map((e) => String(e.details.node ?? '?')).join(', ')}).`,
      { details: { hosts: refused.map((e) => e.details) } },
    );
  }

  async close(): Promise<void> {
    await this.connections.closeAll();
  }
}

/**
 * The SCVM host keys the agent pins: what observation saw (already checked
 * against the state folder's pins), else, for an SCVM not seen this time, the
 * keys pinned earlier.
 */
export function scvmHostKeysFrom(manifest: Manifest, observed: ObservedCluster, pinned: Record<string, string[]> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of manifest.nodes) {
    const o = observed.scvm[n.name];
    const keys = o && o.reachable && o.hostKey ? [o.hostKey] : (pinned[n.name] ?? []);
    if (keys.length > 0) out[n.name] = keys.map((k) => `${n.scvm.managementIp} ${k}\n`).join('');
  }
  return out;
}

export function desiredForObservation(manifest: Manifest, bundle: AgentBundle, observed: ObservedCluster, key: ClusterKeyInfo | undefined, opts: { allowVersionMismatch?: boolean } = {}): DesiredCluster {
  return desiredCluster({ manifest, bundle, key, scvmHostKeys: scvmHostKeysFrom(manifest, observed), allowVersionMismatch: opts.allowVersionMismatch });
}

/**
 * The placeholder key a plan shows for a cluster with no keypair yet (apply creates the real one).
 * Only the firewall and key-entry actions read it; its text says what it is.
 */
export const PENDING_KEY: ClusterKeyInfo = { publicKey: 'ssh-rsa AAAAcreatedAtApply zbs-reroute:pending', privateKeySha256: '0'.repeat(64) };

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
