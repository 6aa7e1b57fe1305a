import { loadShippedBundle } from '../../agent/shipped-bundle';
import { RerouteError } from '../../errors/reroute-error';
import { loadManifest } from '../../manifest/manifest-load';
import { readSnapshot } from '../../observe/snapshot';
import { planCluster, planHasChanges } from '../../plan/plan-cluster';
import type { Plan } from '../../plan/plan-types';
import { destroyOptions } from '../../engine/reconciler';
import { savePlan } from '../../engine/saved-plan';
import { renderPlanText } from '../../plan/render-plan-text';
import { refuseNfsDatastores } from '../../engine/datastore-refusal';
import { gatherPreflight, judgePreflight, planPreflight } from '../../engine/preflight';
import { ClusterSession, desiredForObservation, manifestSha256, offlineKeyInfo, PENDING_KEY } from '../../engine/cluster-session';
import { EXIT_CHANGES, EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { observeProgress } from '../progress';
import { openSession } from './session-options';

export interface PlanCommandOptions {
  file: string;
  observed?: string;
  out?: string;
  destroy?: boolean;
  target?: string[];
  /** `--target-only`: the named nodes alone (src/plan/plan-targets.ts). */
  targetOnly?: boolean;
  detailedExitcode?: boolean;
  stateDir: string;
  acceptNewHostKey?: string[];
  /** With --destroy: delete this cluster's routes on hosts their healthy local SCVM serves. */
  removeRoutes?: boolean;
  /** With --destroy: tear these nodes down although refused, every route left as it is. */
  forceHost?: string[];
}

function offlinePlan(io: IoHost, opts: PlanCommandOptions): Plan {
  const bundle = loadShippedBundle();
  const manifest = loadManifest(opts.file, { bundledVersion: bundle.version, anyVersion: opts.destroy === true });
  const observed = readSnapshot(opts.observed as string);
  // Only the ssh session source uses a cluster key (docs/design.md §5): with rest there is none to show.
  let key = manifest.routing.sessionSource === 'ssh' ? offlineKeyInfo(manifest, opts.stateDir, observed) : undefined;
  if (!key && manifest.routing.sessionSource === 'ssh') {
    io.warn('no cluster keypair in the state folder or on any host: the plan shows a placeholder key; apply creates the real one');
    key = PENDING_KEY;
  }
  const mode = opts.destroy ? 'destroy' : 'apply';
  const desired = desiredForObservation(manifest, bundle, observed, key, { allowVersionMismatch: mode === 'destroy' });
  return planCluster(desired, observed, { mode, targets: opts.target, targetOnly: opts.targetOnly, ...(mode === 'destroy' ? { destroy: destroyOptions(opts) } : {}), now: new Date().toISOString(), manifestSha256: manifestSha256(manifest) });
}

export async function runPlan(io: IoHost, opts: PlanCommandOptions): Promise<number> {
  if (opts.destroy !== true && (opts.removeRoutes === true || (opts.forceHost ?? []).length > 0)) {
    throw new RerouteError('USAGE', '--remove-routes and --force-host apply to a teardown plan only', 'Add --destroy (`reroute plan --destroy -f FILE --remove-routes`), or drop them.');
  }
  let plan: Plan;
  if (opts.observed) {
    plan = offlinePlan(io, opts);
    if (!opts.destroy) plan.preflight = { notRun: 'offline plan from --observed; `reroute preflight` checks the hosts' };
  } else {
    const session: ClusterSession = await openSession(io, { ...opts, anyVersion: opts.destroy === true });
    let gathering: ReturnType<typeof gatherPreflight> | undefined;
    try {
      io.info(`Observing ${session.manifest.nodes.length} node(s) of cluster ${session.manifest.clusterName}…`);
      // Preflight's execs run while the hosts are observed; a teardown needs no checks.
      gathering = opts.destroy ? undefined : gatherPreflight(session, opts.target);
      plan = (await session.plan({ mode: opts.destroy ? 'destroy' : 'apply', targets: opts.target, targetOnly: opts.targetOnly, ...(opts.destroy ? { destroy: destroyOptions(opts) } : {}), onEvent: observeProgress(io) })).plan;
      if (gathering) plan.preflight = planPreflight(judgePreflight(session.manifest, await gathering, plan));
    } finally {
      await gathering?.catch(() => undefined); // done before the pool closes (its error, if any, was reported above)
      await session.close();
    }
  }
  // An agent on an NFS datastore (src/plan/datastore-guard.ts): the plan is shown, not saved, and plan exits 1.
  if ((plan.datastoreRefusals ?? []).length > 0) {
    io.info(renderPlanText(plan, { color: io.color }));
    refuseNfsDatastores(plan, opts.file);
  }
  if (opts.out) {
    savePlan(opts.out, plan);
    io.info(`Plan saved to ${opts.out}; run \`reroute apply ${opts.out}\` to carry it out.`);
  }
  io.result(renderPlanText(plan, { color: io.color }), plan);
  return opts.detailedExitcode && planHasChanges(plan) ? EXIT_CHANGES : EXIT_OK;
}
