import type { HostApplyResult } from '../apply/apply-events';
import { applyPlan } from '../apply/apply-plan';
import { verifyHosts } from '../apply/verify-cluster';
import { wantedAgentVersion, type HostVerification } from '../apply/verify-host';
import { AGENT_LOOP_FILE } from '../agent/bundle-layout';
import { loadShippedBundle } from '../agent/shipped-bundle';
import { RerouteError } from '../errors/reroute-error';
import { loadManifest } from '../manifest/manifest-load';
import { readSnapshot } from '../observe/snapshot';
import type { ObservedCluster } from '../observe/observed-types';
import { planHasChanges } from '../plan/plan-cluster';
import { refusedSummary, type DestroyOptions } from '../plan/plan-destroy';
import type { HostPlan, Plan, PlanMode } from '../plan/plan-types';
import { ApplyJournal, type PreflightOverride } from '../state/apply-journal';
import type { ClusterKeypair } from '../state/cluster-keypair';
import { acquireStateLock } from '../state/state-lock';
import { applyDepsFor } from './apply-deps';
import { applyOutcome, type ApplyOutcome } from './apply-outcome';
import { clusterKeyLeaseFor } from './cluster-key-guard';
import { clusterPlan, manifestSha256, offlineKeyInfo, PENDING_KEY, scvmHostKeysFrom } from './cluster-plan';
import { ClusterSession } from './cluster-session';
import { refuseNfsDatastores } from './datastore-refusal';
import type { EngineIo } from './engine-io';
import { observeConnect } from './observe-connect';
import { gatherPreflight, judgePreflight, planPreflight, refuseOnFailedChecks, validateSkips } from './preflight';
import { checkSavedPlanFresh, readSavedPlan } from './saved-plan';
import { preflightReport, statusReport, type StatusReport } from './cluster-report';
import { eventsReport, type EventsQuery, type EventsReport } from './cluster-events';
import type { PreflightReport } from '../preflight/preflight-types';

/** Where the cluster is described and which host keys may be pinned anew. */
export interface ClusterRequest {
  /** The manifest file. */
  file: string;
  acceptNewHostKey?: string[];
}

/** The teardown choices of `plan --destroy` and `destroy`. */
export interface DestroyRequest {
  /** Also delete this cluster's routes on hosts their healthy local SCVM serves. */
  removeRoutes?: boolean;
  /** Tear these nodes down although refused (agent stopped, files removed, routes left as they are). */
  forceHost?: string[];
}

export interface PlanRequest extends ClusterRequest, DestroyRequest {
  /** A saved observation (`reroute observe --out`): plan offline, no host contacted. */
  observed?: string;
  /** A teardown plan. */
  destroy?: boolean;
  target?: string[];
  /** `--target-only`: the named nodes alone (src/plan/plan-targets.ts). */
  targetOnly?: boolean;
}

export interface ApplyRequest extends ClusterRequest, DestroyRequest {
  mode: PlanMode;
  /** A plan saved by `reroute plan --out`: carried out only while still fresh, and without a question. */
  planFile?: string;
  autoApprove?: boolean;
  target?: string[];
  /** `--target-only`: the named nodes alone (src/plan/plan-targets.ts). */
  targetOnly?: boolean;
  /** False: skip the post-apply verification (not recommended; for scripted partial runs). */
  verify?: boolean;
  /** Shown in the lock file and the journal. */
  commandLine: string;
  /** Preflight checks to go ahead on although they fail (recorded in the journal). */
  skipCheck?: string[];
}

export interface RefusedHost {
  node: string;
  code?: string;
  detail?: string;
  fix?: string;
}

/**
 * How an apply or destroy ended. `no-changes`: nothing to do, unless hosts were
 * refused (a teardown) or could not be observed, which is no success either.
 */
export type ApplyRun =
  | { kind: 'no-changes'; mode: PlanMode; plan: Plan; refused: RefusedHost[]; unseen: HostPlan[] }
  | {
      kind: 'executed';
      mode: PlanMode;
      plan: Plan;
      ok: boolean;
      outcome?: ApplyOutcome;
      results: HostApplyResult[];
      verifications: HostVerification[];
      failed: HostApplyResult[];
      refused: RefusedHost[];
    };

/** The destroy options of a request, only where given. */
export function destroyOptions(opts: DestroyRequest): DestroyOptions {
  return {
    ...(opts.removeRoutes === true ? { removeRoutes: true } : {}),
    ...(opts.forceHost !== undefined && opts.forceHost.length > 0 ? { forceHosts: opts.forceHost } : {}),
  };
}

export function refusedHosts(plan: Plan): RefusedHost[] {
  return plan.hosts
    .filter((h) => h.change === 'refused')
    .map((h) => ({ node: h.node, code: h.routeDecision?.code, detail: h.routeDecision?.detail, fix: h.routeDecision?.fix }));
}

/**
 * The application layer the CLI drives: one state folder, the use cases on it
 * (plan, apply, destroy, status, preflight), with the state lock, the journal, leftover
 * leases, verification and saved-plan freshness inside. Talks only through EngineIo.
 */
export class Reconciler {
  constructor(
    private readonly io: EngineIo,
    private readonly stateDir: string,
  ) {}

  async openSession(req: ClusterRequest & { anyVersion?: boolean; target?: string[]; forceHost?: string[] }): Promise<ClusterSession> {
    const ask = this.io.askSecret;
    return ClusterSession.open({
      manifestPath: req.file,
      stateDir: this.stateDir,
      anyVersion: req.anyVersion === true,
      namedNodes: { '--target': req.target, '--force-host': req.forceHost },
      acceptNewHostKeyFor: req.acceptNewHostKey,
      ...(ask ? { prompt: (question: string) => ask(question) } : {}),
      onPin: (pin) => this.io.emit({ code: 'HOST_KEY_PINNED', pin }),
    });
  }

  /** `reroute status`: read-only, against any wanted version (status installs nothing). */
  async status(req: ClusterRequest): Promise<StatusReport> {
    const session = await this.openSession({ ...req, anyVersion: true });
    try {
      return await statusReport(session, this.io);
    } finally {
      await session.close();
    }
  }

  /** `reroute preflight`: read-only checks of every host, or of the `target` nodes. */
  async preflight(req: ClusterRequest & { target?: string[] }): Promise<PreflightReport> {
    const session = await this.openSession(req);
    try {
      return await preflightReport(session, this.io, req.target);
    } finally {
      await session.close();
    }
  }

  /** `reroute events`: read-only, every (asked) host's agent log as one timeline (src/engine/cluster-events.ts). */
  async events(req: ClusterRequest & EventsQuery): Promise<EventsReport> {
    const session = await this.openSession({ ...req, anyVersion: true });
    try {
      return await eventsReport(session, this.io, req);
    } finally {
      await session.close();
    }
  }

  /** `reroute plan`: observe (or read a saved observation) and plan; an agent on an NFS datastore is shown, then refused. */
  async plan(req: PlanRequest): Promise<Plan> {
    if (req.destroy !== true && (req.removeRoutes === true || (req.forceHost ?? []).length > 0)) {
      throw new RerouteError(
        'USAGE',
        '--remove-routes and --force-host apply to a teardown plan only',
        'Add --destroy (`reroute plan --destroy -f FILE --remove-routes`), or drop them.',
      );
    }
    const mode: PlanMode = req.destroy === true ? 'destroy' : 'apply';
    const plan = req.observed ? this.offlinePlan(req, req.observed, mode) : await this.onlinePlan(req, mode);
    // An agent on an NFS datastore (src/plan/datastore-guard.ts): the plan is shown, not saved, and plan exits 1.
    if ((plan.datastoreRefusals ?? []).length > 0) this.refuseAfterShowing(plan, () => refuseNfsDatastores(plan, req.file));
    return plan;
  }

  private offlinePlan(req: PlanRequest, observedFile: string, mode: PlanMode): Plan {
    const bundle = loadShippedBundle();
    const manifest = loadManifest(req.file, { bundledVersion: bundle.version, anyVersion: mode === 'destroy' });
    const observed = readSnapshot(observedFile);
    // Only the ssh session source uses a cluster key (docs/design.md §5): with rest there is none to show.
    let key = manifest.routing.sessionSource === 'ssh' ? offlineKeyInfo(manifest, this.stateDir, observed) : undefined;
    if (!key && manifest.routing.sessionSource === 'ssh') {
      this.io.emit({ code: 'KEY_PENDING' });
      key = PENDING_KEY;
    }
    const plan = clusterPlan({
      manifest,
      bundle,
      key,
      scvmHostKeys: scvmHostKeysFrom(manifest, observed),
      observed,
      mode,
      targets: req.target,
      targetOnly: req.targetOnly,
      destroy: mode === 'destroy' ? destroyOptions(req) : undefined,
      now: new Date(),
    });
    if (mode === 'apply') plan.preflight = { notRun: 'offline plan from --observed; `reroute preflight` checks the hosts' };
    return plan;
  }

  private async onlinePlan(req: PlanRequest, mode: PlanMode): Promise<Plan> {
    const session = await this.openSession({ ...req, anyVersion: mode === 'destroy' });
    let gathering: ReturnType<typeof gatherPreflight> | undefined;
    try {
      this.io.emit({ code: 'OBSERVE_START', cluster: session.manifest.clusterName, nodes: session.manifest.nodes.length });
      // Preflight's execs run while the hosts are observed; a teardown needs no checks.
      gathering = mode === 'destroy' ? undefined : gatherPreflight(session, req.target);
      const { plan } = await session.plan({
        mode,
        targets: req.target,
        targetOnly: req.targetOnly,
        ...(mode === 'destroy' ? { destroy: destroyOptions(req) } : {}),
        onEvent: (event) => this.io.emit({ code: 'OBSERVE_PROGRESS', event }),
      });
      if (gathering) plan.preflight = planPreflight(judgePreflight(session.manifest, await gathering, plan));
      return plan;
    } finally {
      await gathering?.catch(() => undefined); // done before the pool closes (its error, if any, was reported above)
      await session.close();
    }
  }

  /** `reroute apply` and `reroute destroy`: plan afresh (or check a saved plan), confirm, carry out, verify. */
  async apply(req: ApplyRequest): Promise<ApplyRun> {
    const io = this.io;
    const lock = acquireStateLock(this.stateDir, {
      command: req.commandLine,
      onWarning: (m) => io.emit({ code: 'LOCK_WARNING', message: m }),
    });
    const journal = ApplyJournal.open(this.stateDir);
    const incomplete = journal.lastIncompleteRun();
    if (incomplete) io.emit({ code: 'RUN_INCOMPLETE', runId: incomplete.runId });
    let session: ClusterSession | undefined;
    let gathering: ReturnType<typeof gatherPreflight> | undefined;
    try {
      // An unreadable or foreign plan file is refused before any host is contacted.
      const saved = req.planFile ? readSavedPlan(req.planFile) : undefined;
      const skip = validateSkips(req.skipCheck);
      session = await this.openSession({ ...req, anyVersion: req.mode === 'destroy' });
      io.emit({ code: 'OBSERVE_START', cluster: session.manifest.clusterName, nodes: session.manifest.nodes.length });
      // Preflight's execs run while the hosts are observed (teardown needs no checks).
      gathering = req.mode === 'apply' ? gatherPreflight(session, req.target) : undefined;
      // A saved targeted plan is re-planned with its own targets, or it could never match.
      const targets = req.target ?? saved?.targets?.requested;
      const { plan, observed, keypair } = await session.plan({
        mode: req.mode,
        targets,
        targetOnly: req.targetOnly ?? saved?.targets?.only,
        ...(req.mode === 'destroy' ? { destroy: destroyOptions(req) } : {}),
        onEvent: (event) => io.emit({ code: 'OBSERVE_PROGRESS', event }),
      });
      if (saved) checkSavedPlanFresh(saved, plan);
      if (plan.manifestSha256 !== manifestSha256(session.manifest))
        throw new RerouteError('INTERNAL', 'plan/manifest mismatch', 'Report this bug.');
      // Preflight on every install or update (teardown needs none): shown above the actions, and a failed check stops the run before any change.
      let override: PreflightOverride | undefined;
      if (gathering) {
        const report = judgePreflight(session.manifest, await gathering, plan);
        plan.preflight = planPreflight(report, skip);
        // An agent on an NFS datastore: refused whatever --skip-check says (src/plan/datastore-guard.ts).
        if ((plan.datastoreRefusals ?? []).length > 0) this.refuseAfterShowing(plan, () => refuseNfsDatastores(plan, req.file));
        if (planHasChanges(plan)) this.refuseAfterShowing(plan, () => refuseOnFailedChecks(report.checks, skip));
        const overridden = report.checks
          .filter((c) => c.status === 'fail' && skip.includes(c.name))
          .map((c) => `${c.host} ${c.name}: ${c.detail}`);
        if (skip.length > 0) override = { skipped: skip, overridden };
      }
      io.emit({ code: 'PLAN_SHOWN', plan });
      if (!planHasChanges(plan)) {
        // A refused host is left as it is on purpose, and that is no success either (after the others were cleaned).
        const refused = req.mode === 'destroy' && refusedSummary(plan.hosts).length > 0 ? refusedHosts(plan) : [];
        return { kind: 'no-changes', mode: req.mode, plan, refused, unseen: plan.hosts.filter((h) => h.change === 'unreachable') };
      }
      if (!req.autoApprove && !req.planFile && !(await io.confirm({ code: 'APPLY_CONFIRM', mode: req.mode }))) {
        throw new RerouteError('USAGE', 'apply cancelled: not confirmed', 'Answer `yes` at the prompt, or pass --auto-approve in scripts.');
      }
      return await this.execute(session, plan, observed, keypair, journal, req, override);
    } finally {
      // Preflight never rejects; it must finish before the pool closes, or it could dial a connection nobody closes.
      await gathering?.catch(() => undefined);
      await session?.close();
      lock.release();
    }
  }

  /** The operator sees the plan (checks, notes, warnings) before a refusal ends the run. */
  private refuseAfterShowing(plan: Plan, refuse: () => void): void {
    try {
      refuse();
    } catch (err) {
      this.io.emit({ code: 'PLAN_SHOWN', plan });
      throw err;
    }
  }

  private async execute(
    session: ClusterSession,
    plan: Plan,
    observed: ObservedCluster,
    keypair: ClusterKeypair | undefined,
    journal: ApplyJournal,
    req: ApplyRequest,
    preflight?: PreflightOverride,
  ): Promise<ApplyRun> {
    const io = this.io;
    const manifest = session.manifest;
    const run = journal.startRun({
      command: req.commandLine,
      nodes: plan.hosts.filter((h) => h.actions.length > 0).map((h) => h.node),
      ...(preflight ? { preflight } : {}),
    });
    let ok = false;
    try {
      io.emit({ code: 'APPLY_START', mode: req.mode });
      const deps = applyDepsFor({
        manifest,
        version: plan.version,
        connections: session.connections,
        keypair,
        events: (event) => io.emit({ code: 'APPLY_PROGRESS', event }),
        journal: run,
      });
      const ownLeftoverLeases = new Set(
        Object.entries(observed.esxi).flatMap(([node, o]) => (o.reachable && o.lease?.owner === deps.leaseOwner ? [node] : [])),
      );
      // Key installs and SCVM key edits run under the cluster key lease (one identity, whoever applies).
      const results = await applyPlan(plan, {
        ...deps,
        ownLeftoverLeases,
        clusterKey: clusterKeyLeaseFor(session, observed, deps.leaseOwner),
      });
      let verifications: HostVerification[] = [];
      const toVerify =
        req.mode === 'apply' && req.verify !== false ? results.filter((r) => r.host === 'esxi' && r.status === 'applied') : [];
      if (toVerify.length > 0) {
        io.emit({ code: 'VERIFY_START', hosts: toVerify.length });
        verifications = await verifyHosts(
          manifest,
          toVerify.map((r) => {
            const o = observed.esxi[r.node];
            const h = plan.hosts.find((x) => x.host === 'esxi' && x.node === r.node);
            const running = o && o.reachable ? o.heartbeat?.version : undefined;
            const wantedVersion = wantedAgentVersion(
              manifest.version,
              h?.actions ?? [],
              `${h?.installDir ?? ''}/${AGENT_LOOP_FILE}`,
              running,
            );
            return { node: r.node, since: o && o.reachable ? o.now : 0, wantedVersion };
          }),
          {
            connect: observeConnect(session.connections),
            esxi: (node) =>
              session.connections.get({ kind: 'esxi', node, address: manifest.nodes.find((n) => n.name === node)?.esxi.address ?? '' }),
            sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
            nowMs: () => Date.now(),
            onProgress: (message) => io.emit({ code: 'VERIFY_PROGRESS', message }),
          },
          { timeoutMs: Math.max(45, 10 * manifest.routing.intervalSeconds) * 1000 },
        );
      }
      const failed = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
      const refused = req.mode === 'destroy' ? refusedHosts(plan) : [];
      // apply: the worst verdict decides; destroy: ok or not.
      const outcome = req.mode === 'apply' ? applyOutcome(failed.length, verifications) : undefined;
      ok = outcome !== undefined ? outcome === 'ok' || outcome === 'warnings' : failed.length === 0 && refused.length === 0;
      return {
        kind: 'executed',
        mode: req.mode,
        plan,
        ok,
        ...(outcome !== undefined ? { outcome } : {}),
        results,
        verifications,
        failed,
        refused,
      };
    } finally {
      run.end(ok ? 'ok' : 'failed');
    }
  }
}
