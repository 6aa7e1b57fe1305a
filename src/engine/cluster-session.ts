import { LEGACY_KEY_DIR, PRIVATE_KEY_FILE } from '../agent/bundle-layout';
import { installDirFor } from '../agent/host-entries';
import { clusterKeyNeeded } from '../desired/desired-state';
import type { AgentBundle, ClusterKeyInfo, DesiredCluster } from '../desired/desired-types';
import { RerouteError } from '../errors/reroute-error';
import type { Manifest } from '../manifest/manifest-types';
import { observeCluster, type ObserveEvent } from '../observe/observe-cluster';
import type { ObservedCluster } from '../observe/observed-types';
import type { DestroyOptions } from '../plan/plan-destroy';
import type { Plan, PlanMode } from '../plan/plan-types';
import type { HostConnections, HostEndpoint } from '../remote/host-connections';
import { shellCommand } from '../core/shell-quote';
import { discardCreatedKeypair, ensureClusterKeypair, loadClusterKeypair, type ClusterKeypair } from '../state/cluster-keypair';
import type { KnownHostsStore, PinResult } from '../state/known-hosts-store';
import { clusterDesired, clusterPlan, scvmHostKeysFrom } from './cluster-plan';
import { observeConnect } from './observe-connect';
import { connectionsFor, openCluster, type OpenClusterOptions } from './open-cluster';

export interface SessionOptions extends OpenClusterOptions {
  /** Told about every newly pinned or re-pinned host key (shown to the operator). */
  onPin?(result: PinResult): void;
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
    const cluster = await openCluster(opts);
    return new ClusterSession(cluster.manifest, cluster.bundle, cluster.stateDir, connectionsFor(cluster, opts.onPin), cluster.store);
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
        const r = await host.exec(`cat ${shellCommand([file])} 2>/dev/null`, {
          timeoutMs: this.manifest.access.ssh.commandTimeoutSeconds * 1000,
        });
        if (r.code === 0 && r.stdout.includes('PRIVATE KEY')) {
          try {
            return ensureClusterKeypair(this.stateDir, this.manifest.clusterName, {
              adopt: { key: Buffer.from(r.stdout), from: `${n.name}:${file}` },
            }).keypair;
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

  /** The agents pin each SCVM's host key; one unreachable right now keeps the key pinned earlier, so an outage rewrites no files. */
  private scvmHostKeys(observed: ObservedCluster): Record<string, string> {
    const pinned: Record<string, string[]> = {};
    for (const n of this.manifest.nodes) pinned[n.name] = this.hostKeys.pinnedKeys(n.scvm.managementIp, this.manifest.access.ssh.port);
    return scvmHostKeysFrom(this.manifest, observed, pinned);
  }

  desired(observed: ObservedCluster, key: ClusterKeyInfo | undefined, opts: { allowVersionMismatch?: boolean } = {}): DesiredCluster {
    return clusterDesired({
      manifest: this.manifest,
      bundle: this.bundle,
      key,
      scvmHostKeys: this.scvmHostKeys(observed),
      allowVersionMismatch: opts.allowVersionMismatch,
    });
  }

  async plan(opts: {
    mode: PlanMode;
    targets?: string[];
    targetOnly?: boolean;
    destroy?: DestroyOptions;
    onEvent?: (e: ObserveEvent) => void;
    now?: Date;
  }): Promise<{ plan: Plan; observed: ObservedCluster; keypair: ClusterKeypair | undefined }> {
    const observed = await this.observe(opts.onEvent);
    this.refuseChangedHostKeys();
    const keypair = await this.keypair(observed);
    const key = keypair === undefined ? undefined : { publicKey: keypair.publicKeyOpenSsh, privateKeySha256: keypair.privateKeySha256 };
    return { plan: this.planFrom(observed, key, opts), observed, keypair };
  }

  /** A plan from an observation already made, with the given key (preflight plans with a placeholder, never a new key). */
  planFrom(
    observed: ObservedCluster,
    key: ClusterKeyInfo | undefined,
    opts: { mode: PlanMode; targets?: string[]; targetOnly?: boolean; destroy?: DestroyOptions; now?: Date },
  ): Plan {
    return clusterPlan({
      manifest: this.manifest,
      bundle: this.bundle,
      key,
      scvmHostKeys: this.scvmHostKeys(observed),
      observed,
      mode: opts.mode,
      targets: opts.targets,
      targetOnly: opts.targetOnly,
      destroy: opts.destroy,
      now: opts.now ?? new Date(),
    });
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
