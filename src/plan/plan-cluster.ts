import type { DesiredCluster } from '../desired/desired-types';
import { RerouteError } from '../errors/reroute-error';
import type { ObservedCluster } from '../observe/observed-types';
import { guardAgentDatastores } from './datastore-guard';
import { observationFingerprint } from './fingerprint';
import { type DestroyOptions, holdKeysForRefused } from './plan-destroy';
import { checkNodeNames } from '../manifest/node-names';
import { type HostDraft, planEsxiApply, planEsxiDestroy } from './plan-esxi';
import { planScvmApply, planScvmDestroy } from './plan-scvm';
import { scopeToTargets, targetOnlyWarning } from './plan-targets';
import { planSessionClients } from './plan-zbs-session';
import { because } from './plan-reasons';
import type { HostPlan, Plan, PlanMode } from './plan-types';

export interface PlanOptions {
  mode: PlanMode;
  /**
   * Limit to these nodes (`--target`). Apply also plans, on every other host, what names them
   * (peer files, firewall allow-list, SCVM key entries: src/plan/plan-targets.ts).
   */
  targets?: string[];
  /** `--target-only`: the named ESXi hosts and every SCVM, nothing else; the plan warns which peers stay stale. */
  targetOnly?: boolean;
  /** Also delete files in our install dir that the desired state does not list. */
  prune?: boolean;
  /** ISO time; the planner never reads a clock. */
  now: string;
  manifestSha256: string;
  /** Destroy mode: `--remove-routes` and `--force-host` (src/plan/plan-destroy.ts). */
  destroy?: DestroyOptions;
}

function hostPlan(
  base: Pick<HostPlan, 'node' | 'host' | 'address'>,
  observation: unknown,
  draft: HostDraft,
  installDir?: string,
): HostPlan {
  const p: HostPlan = {
    ...base,
    change: draft.change,
    observedFingerprint: observationFingerprint(observation),
    reasons: draft.reasons,
    actions: draft.actions,
  };
  if (installDir !== undefined) p.installDir = installDir;
  if (draft.notes !== undefined && draft.notes.length > 0) p.notes = draft.notes;
  if (draft.routeDecision !== undefined) p.routeDecision = draft.routeDecision;
  return p;
}

function unreachable(
  base: Pick<HostPlan, 'node' | 'host' | 'address'>,
  observation: unknown,
  reason: string,
  installDir?: string,
): HostPlan {
  const p = hostPlan(
    base,
    observation,
    { change: 'unreachable', reasons: [because('unreachable', `unreachable: ${reason}`)], actions: [] },
    installDir,
  );
  p.unreachableReason = reason;
  return p;
}

/**
 * Desired + observed → an ordered, minimal plan. Pure and deterministic.
 * Apply mode never contains a route action (THE rule); destroy mode deletes
 * only /32 routes of this cluster via this cluster's gateways.
 */
export function planCluster(desired: DesiredCluster, observed: ObservedCluster, opts: PlanOptions): Plan {
  checkNodeNames(
    desired.cluster,
    desired.esxi.map((e) => e.node),
    { '--target': opts.targets, ...(opts.mode === 'destroy' ? { '--force-host': opts.destroy?.forceHosts } : {}) },
  );
  if (opts.targetOnly === true && (opts.targets ?? []).length === 0) {
    throw new RerouteError(
      'USAGE',
      '--target-only needs --target NODE',
      'Name the node(s) to plan alone with --target NODE, or drop --target-only.',
    );
  }
  const targeted = (node: string) => opts.targets === undefined || opts.targets.length === 0 || opts.targets.includes(node);

  const esxiPlans: HostPlan[] = [];
  for (const d of desired.esxi) {
    // Apply plans every host: which peers a target needs is read off the whole plan (scopeToTargets).
    if (!targeted(d.node) && opts.mode === 'destroy') continue;
    const base = { node: d.node, host: 'esxi' as const, address: d.address };
    const o = observed.esxi[d.node];
    if (o === undefined) esxiPlans.push(unreachable(base, o, 'not in the observation', d.installDir));
    else if (!o.reachable) esxiPlans.push(unreachable(base, o, o.reason, d.installDir));
    else
      esxiPlans.push(
        hostPlan(
          base,
          o,
          opts.mode === 'apply'
            ? planEsxiApply(d, o, desired, opts.prune === true)
            : planEsxiDestroy(d, o, desired, {
                removeRoutes: opts.destroy?.removeRoutes === true,
                forced: opts.destroy?.forceHosts?.includes(d.node) === true,
              }),
          d.installDir,
        ),
      );
  }

  const scvmPlans: HostPlan[] = [];
  for (const d of desired.scvm) {
    // A targeted teardown leaves the other SCVMs' entry alone: the remaining agents still need it.
    if (opts.mode === 'destroy' && !targeted(d.node)) continue;
    const base = { node: d.node, host: 'scvm' as const, address: d.address };
    const o = observed.scvm[d.node];
    if (o === undefined) scvmPlans.push(unreachable(base, o, 'not in the observation'));
    else if (!o.reachable) scvmPlans.push(unreachable(base, o, o.reason));
    else
      scvmPlans.push(hostPlan(base, o, opts.mode === 'apply' ? planScvmApply(d, o, desired.cluster) : planScvmDestroy(o, desired.cluster)));
  }

  const scoped =
    opts.mode === 'apply' && (opts.targets ?? []).length > 0
      ? scopeToTargets({ esxi: esxiPlans, scvm: scvmPlans }, desired, observed, opts.targets ?? [], opts.targetOnly === true)
      : undefined;
  if (scoped !== undefined) {
    esxiPlans.splice(0, esxiPlans.length, ...scoped.esxi);
    scvmPlans.splice(0, scvmPlans.length, ...scoped.scvm);
  }

  // Apply: keys first so a new agent can log in. Destroy: agents first, their key last.
  // A refused host's agent still runs: destroy then keeps the SCVM key entries it logs in with.
  const hosts = opts.mode === 'apply' ? [...scvmPlans, ...esxiPlans] : [...esxiPlans, ...holdKeysForRefused(esxiPlans, scvmPlans)];
  const count = (...c: HostPlan['change'][]) => hosts.filter((h) => c.includes(h.change)).length;
  const plan: Plan = {
    format: 'zbs-reroute/plan-v2',
    mode: opts.mode,
    cluster: desired.cluster,
    version: desired.version,
    createdAt: opts.now,
    manifestSha256: opts.manifestSha256,
    hosts,
    summary: { add: count('create'), change: count('update', 'takeover'), destroy: count('delete'), unreachable: count('unreachable') },
  };
  if (count('refused') > 0) plan.summary.refused = count('refused');
  // An SCVM whose ZBS session could not be read gets no registration; say so rather than stay silent.
  const sessionWarnings =
    opts.mode !== 'apply'
      ? []
      : desired.scvm.flatMap((d) => {
          const o = observed.scvm[d.node];
          const w = o !== undefined && o.reachable ? planSessionClients(d, o).warning : undefined;
          return w === undefined ? [] : [w];
        });
  const targetWarning = scoped === undefined ? undefined : targetOnlyWarning(scoped.scope);
  const warnings = [...(desired.warnings ?? []), ...sessionWarnings, ...(targetWarning === undefined ? [] : [targetWarning])];
  if (scoped !== undefined) plan.targets = scoped.scope;
  if (warnings.length > 0) plan.warnings = warnings;
  // Never an agent on an NFS datastore (issue 13): such hosts get no action and the plan a refusal.
  return guardAgentDatastores(plan, desired, observed, targeted);
}

/** Does the plan change anything? (`--detailed-exitcode` exits 2 when it does.) */
export function planHasChanges(plan: Plan): boolean {
  return plan.hosts.some((h) => h.actions.length > 0);
}
