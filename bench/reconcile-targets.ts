/**
 * The reconcile-scaling targets (issue 14) and which runs each stands on: a target is met only
 * when every run it is read from exited as it should. A 16-node apply that exited 1 measured a failure,
 * not an apply, so "apply ≤ 3 × 1-node" from it is "not met: run failed". Pure: used by
 * bench/reconcile-scaling.ts when it writes the JSON and by bench/report.ts when it renders
 * one (older result files included, from their exit codes).
 */

/** Per target: the steps whose runs must all succeed, at which sizes (all, smallest + largest, largest, or the listed ones). */
export const TARGET_RUNS: Record<string, { steps: string[]; sizes: 'all' | 'ends' | 'largest' | number[] }> = {
  observeOneExecPerHost: { steps: ['observe'], sizes: 'all' },
  observeScaling: { steps: ['observe'], sizes: 'ends' },
  noopPlanScaling: { steps: ['noop-plan'], sizes: 'ends' },
  applyScaling: { steps: ['apply-scratch'], sizes: 'ends' },
  noopPlan16: { steps: ['noop-plan'], sizes: [16] },
  noopPlanLargest: { steps: ['noop-plan'], sizes: 'largest' },
  applyUpgradeSucceed: { steps: ['apply-scratch', 'upgrade'], sizes: 'all' },
};

/** The rows of the report's target table, in order (a run without 16 nodes has no noopPlan16). */
export const TARGET_ORDER = [
  'applyUpgradeSucceed',
  'observeOneExecPerHost',
  'observeScaling',
  'noopPlanScaling',
  'noopPlan16',
  'applyScaling',
] as const;

interface StepFigures {
  wallMs: { p50: number };
  wallMinusStartupMs: number;
  cliCpuMs?: { p50: number; n?: number };
  roundTrips: { perEsxi: { max: number }; perScvm: { max: number } };
}

const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 100) / 100 : null);
const s1 = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Issue 14's targets from a reconcile-scaling summary (`n<size>` → step → figures): observe and
 * no-op plan flat per host (largest ≤ 2 × smallest, CLI start-up subtracted), the 16-node no-op
 * plan under 2 s, apply at the largest size ≤ 4 × the smallest, apply and upgrade exiting 0 at
 * every size; plus the CLI's own CPU per host, reported, not judged. Each carries `measured`, the
 * report's text. Pure, so a result can be judged again from its samples.
 */
export function reconcileTargets(summary: Record<string, unknown>, sizes: number[]): Record<string, unknown> {
  const small = sizes[0] as number;
  const big = sizes[sizes.length - 1] as number;
  const get = (n: number, st: string): StepFigures | undefined => (summary[`n${n}`] as Record<string, StepFigures> | undefined)?.[st];
  const flat = (st: string, what: string) => {
    const a = get(big, st);
    const b = get(small, st);
    const v = a && b ? ratio(a.wallMinusStartupMs, b.wallMinusStartupMs) : null;
    const whole = a && b ? ratio(a.wallMs.p50, b.wallMs.p50) : null;
    return {
      value: v,
      valueWhole: whole,
      target: `${big}-node ${what} ≤ 2 × ${small}-node (CLI start-up subtracted)`,
      measured: `${v ?? '–'}× (whole run: ${whole ?? '–'}×)`,
      met: v !== null && v <= 2,
    };
  };
  const perHost = (st: string) => {
    const a = get(big, st)?.cliCpuMs?.p50;
    const b = get(small, st)?.cliCpuMs?.p50;
    return a !== undefined && b !== undefined && big > small ? Math.round((a - b) / (2 * (big - small))) : null;
  };
  const observeExecs = sizes.map((n) => get(n, 'observe')?.roundTrips.perEsxi.max ?? NaN);
  const apply = { a: get(big, 'apply-scratch'), b: get(small, 'apply-scratch') };
  const applyRatio = apply.a && apply.b ? ratio(apply.a.wallMs.p50, apply.b.wallMs.p50) : null;
  const n16 = get(16, 'noop-plan');
  return {
    largest: big,
    applyUpgradeSucceed: judged(
      'applyUpgradeSucceed',
      {
        value: `apply and upgrade at ${sizes.join(' / ')} node(s)`,
        target: 'apply and upgrade exit 0 at every size',
        measured: `${sizes.join(' / ')} node(s)`,
        met: true,
      },
      summary,
      sizes,
    ),
    observeOneExecPerHost: judged(
      'observeOneExecPerHost',
      {
        measured: `max ${Math.max(...observeExecs)} exec(s) per ESXi host, max ${Math.max(...sizes.map((n) => get(n, 'observe')?.roundTrips.perScvm.max ?? NaN))} per SCVM`,
        target: 'observe = 1 exec per ESXi host',
        met: observeExecs.every((x) => x === 1),
      },
      summary,
      sizes,
    ),
    observeScaling: judged('observeScaling', flat('observe', 'observe'), summary, sizes),
    noopPlanScaling: judged('noopPlanScaling', flat('noop-plan', 'no-op plan'), summary, sizes),
    ...(n16
      ? {
          noopPlan16: judged(
            'noopPlan16',
            { valueMs: n16.wallMs.p50, target: '16-node no-op plan < 2 s', measured: s1(n16.wallMs.p50), met: n16.wallMs.p50 < 2000 },
            summary,
            sizes,
          ),
        }
      : {}),
    applyScaling: judged(
      'applyScaling',
      {
        value: applyRatio,
        target: `${big}-node apply ≤ 4 × ${small}-node`,
        measured: `${applyRatio ?? '–'}×`,
        met: applyRatio !== null && applyRatio <= 4,
      },
      summary,
      sizes,
    ),
    cliCpuPerHostMs: { observe: perHost('observe'), noopPlan: perHost('noop-plan'), apply: perHost('apply-scratch') },
  };
}

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
  const at = Array.isArray(spec.sizes)
    ? spec.sizes.filter((n) => sizes.includes(n))
    : spec.sizes === 'all'
      ? sizes
      : spec.sizes === 'ends'
        ? [...new Set([sizes[0] as number, sizes[sizes.length - 1] as number])]
        : [sizes[sizes.length - 1] as number];
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
export function judged<T extends { met: boolean }>(
  target: string,
  t: T,
  summary: Record<string, unknown>,
  sizes: number[],
): T & { runFailed?: string } {
  const failures = runFailures(summary, sizes, target);
  return failures.length === 0 ? t : { ...t, met: false, runFailed: failures.join('; ') };
}

/** The report's verdict cell: met, not met, or not met because a run it stands on failed. */
export function metCell(target: string, t: { met?: unknown } | undefined, summary: Record<string, unknown>, sizes: number[]): string {
  const failures = runFailures(summary, sizes, target);
  if (failures.length > 0) return `**not met: run failed** (${failures.join('; ')})`;
  return t?.met === true ? '**met**' : t?.met === false ? '**not met**' : '–';
}
