import type { HostApplyResult } from '../apply/apply-events';
import { applyPlan } from '../apply/apply-plan';
import { KNOWN_HOSTS_FILE } from '../agent/bundle-layout';
import type { ClusterKeyInfo } from '../desired/desired-types';
import { RerouteError } from '../errors/reroute-error';
import { observeCluster } from '../observe/observe-cluster';
import type { ObservedCluster } from '../observe/observed-types';
import type { HostConnections } from '../remote/host-connections';
import type { Action, HostPlan, Plan } from '../plan/plan-types';
import { ApplyJournal } from '../state/apply-journal';
import type { ClusterKeypair } from '../state/cluster-keypair';
import type { PinResult } from '../state/known-hosts-store';
import { acquireStateLock, type StateLock } from '../state/state-lock';
import { applyDepsFor } from './apply-deps';
import { clusterDesired, clusterPlan } from './cluster-plan';
import { clusterStatus, type HostStatus } from './cluster-status';
import type { PeerView } from '../desired/peer-files';
import { connectionsFor, type OpenedCluster } from './open-cluster';
import { observeConnect } from './observe-connect';

/** An opened cluster as watch keeps it: new host-key pins are reported as they happen. */
export interface WatchedCluster extends OpenedCluster {
  onPin?(r: PinResult): void;
}

/** A fresh connection pool for one job on a watched cluster, reporting new pins; the caller closes it. */
export function watchedConnections(cluster: WatchedCluster): HostConnections {
  return connectionsFor(cluster, cluster.onPin);
}

/** How one job on one node ended. `deferred`: someone else holds the state lock or a host lease; try later. */
export type NodeJobOutcome = { kind: 'ok' } | { kind: 'deferred'; reason: string } | { kind: 'failed'; reason: string };

export interface NodeReconcilerOptions {
  stateDir: string;
  /** Shown in the lock file and the journal. */
  commandLine: string;
  /** Each remote action carried out (for debug logs). */
  onAction?(e: { node: string; host: string; action: Action }): void;
}

/** `[CODE] message` for a RerouteError, the message otherwise: what watch logs as a reason. */
export function errorReason(err: unknown): string {
  if (err instanceof RerouteError) return `[${err.code}] ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * One node's `reroute status` row, judged from watch's cache as `status` judges a fresh observation
 * (its peer lists against the manifest's, from the desired state the node's plan was built from),
 * so watch's metrics say what `status` would say. Pure.
 */
export function nodeStatus(input: {
  cluster: OpenedCluster;
  observed: ObservedCluster;
  peerView: PeerView | undefined;
  node: string;
}): HostStatus | undefined {
  return clusterStatus(input.cluster.manifest, input.observed, { peerView: input.peerView }).find((h) => h.node === input.node);
}

/**
 * One node's plan against everything watch has seen of the cluster (`observed`, its cache). While
 * some SCVM's host key was never seen, the agent's known_hosts is left alone: writing it from a
 * partial view would drop a key the agent needs.
 */
export function planNode(input: {
  cluster: OpenedCluster;
  observed: ObservedCluster;
  scvmHostKeys: Record<string, string>;
  key: ClusterKeyInfo;
  node: string;
  now: Date;
}): { plan: Plan; hosts: HostPlan[]; peerView: PeerView | undefined } {
  const { cluster, node } = input;
  const { manifest } = cluster;
  const scvmHostKeys = { ...input.scvmHostKeys };
  const desired = clusterDesired({ manifest, bundle: cluster.bundle, key: input.key, scvmHostKeys });
  const plan = clusterPlan({
    manifest,
    bundle: cluster.bundle,
    key: input.key,
    scvmHostKeys,
    desired,
    observed: { ...input.observed, esxi: { ...input.observed.esxi }, scvm: { ...input.observed.scvm } },
    mode: 'apply',
    targets: [node],
    now: input.now,
    manifestSha256: cluster.sha,
  });
  let hosts = plan.hosts.filter((h) => h.node === node);
  if (manifest.nodes.some((n) => input.scvmHostKeys[n.name] === undefined)) {
    hosts = hosts.map((h) => {
      const actions = h.actions.filter((a) => !(a.op === 'write-file' && a.path.endsWith(`/${KNOWN_HOSTS_FILE}`)));
      if (actions.length === h.actions.length) return h;
      return {
        ...h,
        actions,
        reasons: h.reasons.filter((r) => r.item !== KNOWN_HOSTS_FILE),
        change: actions.length === 0 ? 'noop' : h.change,
      };
    });
  }
  return { plan, hosts, peerView: desired.peerView };
}

/**
 * The state lock, shared by every correction in flight in this process: taken
 * by the first, released by the last. A manual `reroute apply` meanwhile fails
 * at once with LOCK_HELD naming this watch; while a manual apply holds it, the
 * watch's corrections are deferred, never interleaved.
 */
class SharedStateLock {
  private lock: StateLock | undefined;
  private holders = 0;
  constructor(
    private readonly stateDir: string,
    private readonly command: string,
  ) {}

  acquire(): void {
    if (this.holders === 0) this.lock = acquireStateLock(this.stateDir, { command: this.command });
    this.holders++;
  }

  release(): void {
    this.holders = Math.max(0, this.holders - 1);
    if (this.holders === 0) {
      this.lock?.release();
      this.lock = undefined;
    }
  }
}

/**
 * What watch does to a node, as use cases: observe it (check), carry out its plan (correct) and
 * tear down a node that left the manifest (prune). The watch loop decides when, and keeps what it
 * has seen; this owns how: the shared state lock, one journal run per job, a fresh connection pool
 * per correction or prune, closed after it.
 */
export class NodeReconciler {
  private readonly lock: SharedStateLock;
  private readonly journal: ApplyJournal;

  constructor(private readonly opts: NodeReconcilerOptions) {
    this.lock = new SharedStateLock(opts.stateDir, opts.commandLine);
    this.journal = ApplyJournal.open(opts.stateDir);
  }

  /** Watch's periodic check of one node: its ESXi and SCVM observed over connections the caller keeps warm. */
  async observeNode(cluster: WatchedCluster, node: string, pool: HostConnections): Promise<ObservedCluster> {
    return observeCluster(cluster.manifest, { nodes: [node], connect: observeConnect(pool) });
  }

  /** Carries out `hosts` (of `plan`), the drifted host plans of one node. */
  async correct(cluster: WatchedCluster, plan: Plan, hosts: HostPlan[], keypair: ClusterKeypair | undefined): Promise<NodeJobOutcome> {
    try {
      this.lock.acquire();
    } catch (err) {
      if (err instanceof RerouteError && err.code === 'LOCK_HELD') return { kind: 'deferred', reason: err.message };
      throw err;
    }
    try {
      const results = await this.execute(cluster, plan, hosts, keypair, 'correct');
      const failed = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
      if (failed.length === 0) return { kind: 'ok' };
      if (failed.every((r) => r.error?.code === 'LEASE_HELD'))
        return { kind: 'deferred', reason: failed.map((r) => r.error?.message ?? '').join('; ') };
      return {
        kind: 'failed',
        reason: failed.map((r) => `${r.host}: ${r.error ? `[${r.error.code}] ${r.error.message}` : r.status}`).join('; '),
      };
    } catch (err) {
      return { kind: 'failed', reason: errorReason(err) };
    } finally {
      this.lock.release();
    }
  }

  /** Tears down the one node of `cluster.manifest` (its spec as it was): observe, plan a destroy, carry it out. */
  async prune(cluster: WatchedCluster, key: ClusterKeyInfo, keypair: ClusterKeypair | undefined, now: Date): Promise<NodeJobOutcome> {
    const { manifest } = cluster;
    let locked = false;
    const pool = watchedConnections(cluster);
    try {
      const observed = await observeCluster(manifest, { connect: observeConnect(pool) });
      const plan = clusterPlan({
        manifest,
        bundle: cluster.bundle,
        key,
        scvmHostKeys: {},
        observed,
        mode: 'destroy',
        now,
        manifestSha256: cluster.sha,
      });
      const unreachable = plan.hosts.filter((h) => h.change === 'unreachable');
      if (unreachable.length > 0)
        throw new RerouteError(
          'HOST_UNREACHABLE',
          unreachable.map((h) => `${h.host}: ${h.unreachableReason ?? 'unreachable'}`).join('; '),
          'It is retried.',
        );
      this.lock.acquire();
      locked = true;
      const hosts = plan.hosts.filter((h) => h.actions.length > 0);
      const failed = (await this.execute(cluster, plan, hosts, keypair, 'prune')).filter(
        (r) => r.status === 'failed' || r.status === 'skipped',
      );
      if (failed.length === 0) return { kind: 'ok' };
      return { kind: 'failed', reason: failed.map((r) => `${r.host}: ${r.error?.message ?? r.status}`).join('; ') };
    } catch (err) {
      return { kind: 'failed', reason: errorReason(err) };
    } finally {
      if (locked) this.lock.release();
      await pool.closeAll();
    }
  }

  private async execute(
    cluster: WatchedCluster,
    plan: Plan,
    hosts: HostPlan[],
    keypair: ClusterKeypair | undefined,
    what: string,
  ): Promise<HostApplyResult[]> {
    const pool = watchedConnections(cluster);
    const run = this.journal.startRun({ command: `${this.opts.commandLine} (${what})`, nodes: [...new Set(hosts.map((h) => h.node))] });
    let ok = false;
    try {
      const deps = applyDepsFor({
        manifest: cluster.manifest,
        version: plan.version,
        connections: pool,
        keypair,
        journal: run,
        events: (e) => {
          if (e.type === 'action-done') this.opts.onAction?.({ node: e.node, host: e.host, action: e.action });
        },
      });
      const results = await applyPlan({ ...plan, hosts }, deps);
      ok = results.every((r) => r.status === 'applied' || r.status === 'unchanged');
      return results;
    } finally {
      run.end(ok ? 'ok' : 'failed');
      await pool.closeAll();
    }
  }
}
