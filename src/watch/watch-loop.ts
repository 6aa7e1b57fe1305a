/**
 * The I/O side of `reroute watch`: carries out the reducer's effects (observe
 * a node, correct it, tear down a pruned one, log) and feeds their outcomes
 * back as events. All decisions live in watch-reducer.ts.
 */
import * as path from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import type { ClusterKeyInfo } from '../desired/desired-types';
import type { EngineSink, NodeCheck } from '../engine/engine-io';
import { errorReason, NodeReconciler, nodeStatus, planNode } from '../engine/node-reconciler';
import { offlineKeyInfo, PENDING_KEY } from '../engine/cluster-plan';
import { clusterKeyNeeded } from '../desired/desired-state';
import { InputError, RerouteError, formatProblem } from '../errors/reroute-error';
import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import type { ObservedCluster } from '../observe/observed-types';
import type { HostPlan, Plan } from '../plan/plan-types';
import { loadClusterKeypair, type ClusterKeypair } from '../state/cluster-keypair';
import { observeOutcome } from './drift-items';
import { WarmConnections } from './warm-connections';
import { openWatchContext, type WatchContext } from './watch-context';
import {
  initialWatchState,
  reduceWatch,
  type CorrectOutcome,
  type DriftItem,
  type WatchConfig,
  type WatchEffect,
  type WatchEvent,
  type WatchState,
} from './watch-reducer';

export interface WatchLoopOptions {
  manifestPath: string;
  stateDir: string;
  config: WatchConfig;
  /** Where every record goes (the CLI writes them to the console and watch.log). */
  io: EngineSink;
  /** Manifest edits are applied this long after the last change event (editors write in bursts). */
  debounceMs?: number;
  /** Shown in the lock file and the journal. */
  commandLine: string;
  now?(): number;
  seed?: number;
}

const TICK_MS = 250;

function problemsOf(err: unknown): string[] {
  if (err instanceof InputError) return err.problems.map((p) => formatProblem(p).replace(/\n\s*/g, ' '));
  if (err instanceof RerouteError) return [`[${err.code}] ${err.message}`];
  return [err instanceof Error ? err.message : String(err)];
}

export class WatchLoop {
  private state: WatchState;
  private ctx!: WatchContext;
  private keypair: ClusterKeypair | undefined;
  /** Latest observation of every host (a reachable one is never replaced by an unreachable one). */
  private readonly cache: ObservedCluster = { format: 'zbs-reroute/observed-v1', takenAt: new Date(0).toISOString(), esxi: {}, scvm: {} };
  /** SCVM host keys ever seen (the agent's known_hosts), kept while an SCVM is unreachable. */
  private readonly scvmKeys: Record<string, string> = {};
  /** The plan from each node's last observation: what a correction carries out. */
  private readonly plans = new Map<string, { plan: Plan; hosts: HostPlan[]; ctx: WatchContext }>();
  /** Specs of nodes removed from the manifest, for --prune. */
  private readonly removedSpecs = new Map<string, { node: NodeSpec; ctx: WatchContext }>();
  /** Carries out corrections and prunes (the lock, the journal, the connections of each job). */
  private readonly nodes: NodeReconciler;
  private readonly inFlight = new Set<Promise<void>>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private finished!: () => void;
  private readonly done: Promise<void>;
  private readonly now: () => number;
  /** Observation connections kept between checks (warm-connections.ts). */
  private readonly warm = new WarmConnections();

  constructor(private readonly opts: WatchLoopOptions) {
    this.state = initialWatchState(opts.config, opts.seed ?? Date.now());
    this.nodes = new NodeReconciler({
      stateDir: opts.stateDir,
      commandLine: opts.commandLine,
      onAction: (e) =>
        this.log({
          type: 'log',
          level: 'debug',
          event: 'action-done',
          message: `${e.node} (${e.host}): ${e.action.op}${'path' in e.action ? ` ${e.action.path}` : ''}`,
          fields: { host: e.node, hostKind: e.host, op: e.action.op },
        }),
    });
    this.now = opts.now ?? Date.now;
    this.done = new Promise((resolve) => (this.finished = resolve));
  }

  /** Validates the manifest and credentials (throws if they are bad at start), then runs until stop(). */
  async start(): Promise<void> {
    this.ctx = await openWatchContext(this.opts.manifestPath, this.opts.stateDir, (r) => this.onPin(r));
    this.keypair = loadClusterKeypair(this.opts.stateDir, this.ctx.manifest.clusterName);
    // Only the ssh session source installs the cluster key (rest needs none to correct anything).
    if (this.opts.config.mode === 'correct' && !this.keypair && clusterKeyNeeded(this.ctx.manifest)) {
      throw new RerouteError(
        'USAGE',
        `the state folder ${this.opts.stateDir} has no keypair for cluster ${this.ctx.manifest.clusterName}`,
        'Deploy with `reroute apply` first (it creates or adopts the cluster keypair); watch keeps a deployed cluster in shape.',
      );
    }
    // The manifest's parallelism bounds the watch as it bounds apply.
    this.state = { ...this.state, config: { ...this.state.config, parallelism: this.ctx.manifest.access.parallelism } };
    const file = path.resolve(this.opts.manifestPath);
    // The folder, not the file: editors save by writing a new file and renaming it over the old one.
    this.watcher = chokidarWatch(path.dirname(file), {
      ignoreInitial: true,
      depth: 0,
      ignored: (p: string) => p !== path.dirname(file) && path.resolve(p) !== file,
    });
    this.watcher.on('all', () => this.manifestTouched());
    this.watcher.on('error', (err) =>
      this.log({
        type: 'log',
        level: 'error',
        event: 'manifest-watch-failed',
        message: `cannot watch ${file}: ${errorReason(err)}`,
        fields: { reason: errorReason(err) },
      }),
    );
    // Edits before chokidar's first scan completes are not reported: wait for it (bounded), then
    // re-read once, so an edit made while starting is not lost.
    const watcher = this.watcher;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 10_000);
      watcher.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.nodesWatched(this.ctx.manifest);
    this.dispatch({
      type: 'manifest-loaded',
      now: this.now(),
      nodes: this.ctx.manifest.nodes.map((n) => n.name),
      manifestSha: this.ctx.sha,
      source: this.opts.manifestPath,
    });
    this.manifestTouched();
    this.timer = setInterval(() => this.dispatch({ type: 'tick', now: this.now() }), TICK_MS);
  }

  /** Resolves when the loop has stopped (after stop() and the jobs in flight). */
  async wait(): Promise<void> {
    await this.done;
    await Promise.allSettled([...this.inFlight]);
  }

  stop(signal: string): void {
    this.dispatch({ type: 'stop', now: this.now(), signal });
  }

  private onPin(r: { status: string; node: string; address: string; fingerprint: string }): void {
    if (r.status !== 'match')
      this.log({
        type: 'log',
        level: 'info',
        event: 'host-key-pinned',
        message: `${r.node} (${r.address}): pinned host key ${r.fingerprint}`,
        fields: { host: r.node, address: r.address, fingerprint: r.fingerprint, status: r.status },
      });
  }

  private manifestTouched(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.reloading = this.reloading.then(() => this.reload());
    }, this.opts.debounceMs ?? 500);
  }

  private async reload(): Promise<void> {
    if (this.state.stopping) return;
    let next: WatchContext;
    try {
      next = await openWatchContext(this.opts.manifestPath, this.opts.stateDir, (r) => this.onPin(r));
    } catch (err) {
      this.dispatch({ type: 'manifest-invalid', now: this.now(), problems: problemsOf(err), source: this.opts.manifestPath });
      return;
    }
    if (next.sha === this.ctx.sha) return;
    const wanted = new Set(next.manifest.nodes.map((n) => n.name));
    for (const n of this.ctx.manifest.nodes) if (!wanted.has(n.name)) this.removedSpecs.set(n.name, { node: n, ctx: this.ctx });
    for (const n of wanted) this.removedSpecs.delete(n);
    this.ctx = next;
    this.keypair = loadClusterKeypair(this.opts.stateDir, next.manifest.clusterName) ?? this.keypair;
    this.plans.clear();
    this.nodesWatched(next.manifest);
    this.dispatch({
      type: 'manifest-loaded',
      now: this.now(),
      nodes: next.manifest.nodes.map((n) => n.name),
      manifestSha: next.sha,
      source: this.opts.manifestPath,
    });
  }

  private nodesWatched(manifest: Manifest): void {
    const failbackDelaySeconds = manifest.routing.failbackDelaySeconds;
    this.opts.io.emit({ code: 'NODES_WATCHED', nodes: manifest.nodes.map((n) => ({ node: n.name, failbackDelaySeconds })) });
  }

  private dispatch(event: WatchEvent): void {
    const r = reduceWatch(this.state, event);
    this.state = r.state;
    for (const e of r.effects) this.run(e);
  }

  private log(e: Extract<WatchEffect, { type: 'log' }>): void {
    this.opts.io.emit({ code: 'WATCH_RECORD', level: e.level, event: e.event, message: e.message, fields: e.fields });
  }

  private run(effect: WatchEffect): void {
    switch (effect.type) {
      case 'log':
        this.log(effect);
        return;
      case 'observe':
        this.track(this.observe(effect.node));
        return;
      case 'correct':
        this.track(this.correct(effect.node));
        return;
      case 'prune':
        this.track(this.prune(effect.node));
        return;
      case 'done':
        this.shutDown();
        return;
    }
  }

  private track(job: Promise<void>): void {
    const p = job.catch((err: unknown) => {
      // A job must always report back, or its host would stay busy forever; this is a bug path.
      this.log({
        type: 'log',
        level: 'error',
        event: 'internal-error',
        message: `internal error in a watch job: ${errorReason(err)}`,
        fields: { reason: errorReason(err) },
      });
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private shutDown(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.timer = undefined;
    void this.watcher?.close();
    this.warm.closeAll();
    this.finished();
  }

  private keyInfo(manifest: Manifest): ClusterKeyInfo {
    if (this.keypair) return { publicKey: this.keypair.publicKeyOpenSsh, privateKeySha256: this.keypair.privateKeySha256 };
    return offlineKeyInfo(manifest, this.opts.stateDir, this.cache) ?? PENDING_KEY;
  }

  private merge(observed: ObservedCluster): void {
    for (const [node, o] of Object.entries(observed.esxi)) this.cache.esxi[node] = o;
    for (const [node, o] of Object.entries(observed.scvm)) {
      this.cache.scvm[node] = o;
      if (o.reachable && o.hostKey) {
        const spec = this.ctx.manifest.nodes.find((n) => n.name === node);
        if (spec) this.scvmKeys[node] = `${spec.scvm.managementIp} ${o.hostKey}\n`;
      }
    }
    this.cache.takenAt = observed.takenAt;
  }

  private planNode(ctx: WatchContext, node: string): ReturnType<typeof planNode> {
    const key = this.keyInfo(ctx.manifest);
    return planNode({ cluster: ctx, observed: this.cache, scvmHostKeys: this.scvmKeys, key, node, now: new Date(this.now()) });
  }

  private async observe(node: string): Promise<void> {
    const ctx = this.ctx;
    const started = this.now();
    const lease = this.warm.acquire(ctx);
    const pool = lease.pool;
    let outcome: ReturnType<typeof observeOutcome> | undefined;
    let status: NodeCheck['status'];
    let superseded = false;
    try {
      const observed = await this.nodes.observeNode(ctx, node, pool);
      if (ctx !== this.ctx) {
        // The manifest changed meanwhile; the reducer has already asked for a fresh check.
        outcome = { unreachable: [], drift: [] };
        superseded = true;
      } else {
        this.merge(observed);
        const p = this.planNode(ctx, node);
        this.plans.set(node, { plan: p.plan, hosts: p.hosts, ctx });
        outcome = observeOutcome(p.hosts);
        if (observed.esxi[node]?.reachable === true)
          status = nodeStatus({ cluster: ctx, observed: this.cache, peerView: p.peerView, node });
      }
    } catch (err) {
      outcome = { unreachable: [{ hostKind: 'esxi', reason: `cannot plan: ${errorReason(err)}` }], drift: [] };
    } finally {
      // A host whose check failed is dialled afresh next time: its kept connection may be what failed.
      this.warm.release(lease, !outcome || outcome.unreachable.length > 0 ? node : undefined);
    }
    if (!superseded) this.checked(node, started, outcome, status);
    this.dispatch({ type: 'observed', now: this.now(), node, outcome });
  }

  /** What this check saw, for metrics: from this check only, never an older cached observation. */
  private checked(node: string, started: number, outcome: ReturnType<typeof observeOutcome>, status: NodeCheck['status']): void {
    const at = this.now();
    const unreachable = new Set(outcome.unreachable.map((u) => u.hostKind));
    const esxi = this.cache.esxi[node];
    const fresh = status !== undefined && esxi?.reachable === true;
    const check: NodeCheck = {
      node,
      at,
      durationMs: Math.max(0, at - started),
      esxiReachable: !unreachable.has('esxi') && status !== undefined,
      scvmReachable: !unreachable.has('scvm') && this.cache.scvm[node]?.reachable === true,
      drift: [...new Set(outcome.drift.map((d) => d.item))],
    };
    if (fresh) {
      check.status = status;
      check.hostNow = esxi.now;
      if (esxi.heartbeat) check.heartbeat = esxi.heartbeat;
    }
    this.opts.io.emit({ code: 'NODE_CHECKED', check });
  }

  private async correct(node: string): Promise<void> {
    const entry = this.plans.get(node);
    const outcome = await this.correctWith(entry);
    this.dispatch({ type: 'corrected', now: this.now(), node, outcome });
  }

  private async correctWith(entry: { plan: Plan; hosts: HostPlan[]; ctx: WatchContext } | undefined): Promise<CorrectOutcome> {
    if (!entry || entry.ctx !== this.ctx) return { kind: 'deferred', reason: 'the manifest changed since the observation; re-checking' };
    if (!this.keypair && clusterKeyNeeded(entry.ctx.manifest))
      return { kind: 'failed', items: [], reason: 'no cluster keypair in the state folder' };
    const hosts = entry.hosts.filter((h) => h.actions.length > 0);
    const items: DriftItem[] = observeOutcome(hosts).drift;
    const r = await this.nodes.correct(entry.ctx, entry.plan, hosts, this.keypair);
    return r.kind === 'deferred' ? r : { ...r, items };
  }

  /** --prune: tear down a node that left the manifest, with the spec and credentials it had. */
  private async prune(node: string): Promise<void> {
    const removed = this.removedSpecs.get(node);
    let ok = false;
    let reason: string | undefined;
    if (!removed || (!this.keypair && clusterKeyNeeded(removed.ctx.manifest))) {
      reason = !removed ? 'its old spec is unknown' : 'no cluster keypair in the state folder';
    } else {
      const manifest: Manifest = { ...removed.ctx.manifest, nodes: [removed.node] };
      const r = await this.nodes.prune({ ...removed.ctx, manifest }, this.keyInfo(manifest), this.keypair, new Date(this.now()));
      ok = r.kind === 'ok';
      if (r.kind !== 'ok') reason = r.reason;
    }
    if (ok) this.removedSpecs.delete(node);
    this.dispatch({ type: 'pruned', now: this.now(), node, ok, reason });
  }
}
