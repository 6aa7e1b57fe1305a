/**
 * Which runs a reconcile-scaling target stands on (issue 14): a target is met only when every
 * run it is read from exited as it should. A 16-node apply that exited 1 measured a failure,
 * not an apply, so "apply ≤ 3 × 1-node" from it is "not met: run failed". Pure: used by
 * bench/reconcile-scaling.ts when it writes the JSON and by bench/report.ts when it renders
 * one (older result files included, from their exit codes).
 */

/** Per target: the steps whose runs must all succeed, at which sizes (all, smallest + largest, largest). */
export const TARGET_RUNS: Record<string, { steps: string[]; sizes: 'all' | 'ends' | 'largest' }> = {
  observeOneExecPerHost: { steps: ['observe'], sizes: 'all' },
  observeScaling: { steps: ['observe'], sizes: 'ends' },
  applyScaling: { steps: ['apply-scratch'], sizes: 'ends' },
  noopPlanLargest: { steps: ['noop-plan'], sizes: 'largest' },
  applyUpgradeSucceed: { steps: ['apply-scratch', 'upgrade'], sizes: 'all' },
};

/** A fresh plan with --detailed-exitcode exits 2 (changes); every other step must exit 0. */
export function succeeded(step: string, code: number): boolean {
  return code === 0 || (step === 'plan-fresh' && code === 2);
}

type StepSummary = { exitCodes?: number[] } | undefined;
type SizeSummary = Record<string, StepSummary> | undefined;

/** The failed runs a target stands on, e.g. `16-node apply-scratch exited 1`; a step with no run at all counts as failed. */
export function runFailures(summary: Record<string, unknown>, sizes: number[], target: string): string[] {
  const spec = TARGET_RUNS[target];
  if (!spec || sizes.length === 0) return [];
  const at = spec.sizes === 'all' ? sizes : spec.sizes === 'ends' ? [...new Set([sizes[0] as number, sizes[sizes.length - 1] as number])] : [sizes[sizes.length - 1] as number];
  const out: string[] = [];
  for (const n of at) {
    for (const step of spec.steps) {
      const codes = (summary[`n${n}`] as SizeSummary)?.[step]?.exitCodes;
      if (codes === undefined || codes.length === 0) out.push(`${n}-node ${step} did not run`);
      else {
        const bad = codes.filter((c) => !succeeded(step, c));
        if (bad.length > 0) out.push(`${n}-node ${step} exited ${bad.join(',')}`);
      }
    }
  }
  return out;
}

/** A target as written: `met` only when its own comparison holds and none of its runs failed. */
export function judged<T extends { met: boolean }>(target: string, t: T, summary: Record<string, unknown>, sizes: number[]): T & { runFailed?: string } {
  const failures = runFailures(summary, sizes, target);
  return failures.length === 0 ? t : { ...t, met: false, runFailed: failures.join('; ') };
}

/** The report's verdict cell: met, not met, or not met because a run it stands on failed. */
export function metCell(target: string, t: { met?: unknown } | undefined, summary: Record<string, unknown>, sizes: number[]): string {
  const failures = runFailures(summary, sizes, target);
  if (failures.length > 0) return `**not met: run failed** (${failures.join('; ')})`;
  return t?.met === true ? '**met**' : t?.met === false ? '**not met**' : '–';
}
