import { Reconciler, type PlanRequest } from '../../engine/reconciler';
import { savePlan } from '../../engine/saved-plan';
import { planHasChanges } from '../../plan/plan-cluster';
import { renderPlanText } from '../../plan/render-plan-text';
import { EXIT_CHANGES, EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { engineIo } from '../progress';

export interface PlanCommandOptions extends PlanRequest {
  out?: string;
  detailedExitcode?: boolean;
  stateDir: string;
}

/** `reroute plan`: the plan is the engine's (src/engine/reconciler.ts); this saves and prints it. */
export async function runPlan(io: IoHost, opts: PlanCommandOptions): Promise<number> {
  const plan = await new Reconciler(engineIo(io), opts.stateDir).plan(opts);
  if (opts.out) {
    savePlan(opts.out, plan);
    io.info(`Plan saved to ${opts.out}; run \`reroute apply ${opts.out}\` to carry it out.`);
  }
  io.result(renderPlanText(plan, { color: io.color }), plan);
  return opts.detailedExitcode && planHasChanges(plan) ? EXIT_CHANGES : EXIT_OK;
}
