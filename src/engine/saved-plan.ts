import * as fs from 'node:fs';
import deepEqual from 'fast-deep-equal';
import { RerouteError } from '../errors/reroute-error';
import type { Plan } from '../plan/plan-types';
import { renderPlanJson } from '../plan/render-plan-json';

/** `reroute plan --out`: the plan as JSON, readable by its owner only. */
export function savePlan(file: string, plan: Plan): void {
  // The same secret check as the printed plan: a file outlives the terminal and travels further.
  const text = renderPlanJson(plan);
  try {
    fs.writeFileSync(file, text, { mode: 0o600 });
  } catch (err) {
    throw new RerouteError('USAGE', `cannot write the plan to ${file}: ${(err as Error).message}`, 'Choose a writable path for --out.');
  }
}

export function readSavedPlan(file: string): Plan {
  let plan: Plan;
  try {
    plan = JSON.parse(fs.readFileSync(file, 'utf8')) as Plan;
  } catch (err) {
    throw new RerouteError(
      'PLAN_INVALID',
      `${file}: not a readable plan (${(err as Error).message})`,
      'Create it with `reroute plan -f MANIFEST --out FILE`.',
    );
  }
  if ((plan?.format as string) === 'zbs-reroute/plan-v1') {
    throw new RerouteError(
      'PLAN_INVALID',
      `${file}: a plan-v1 file, made by an older zbs-reroute (its reasons are text, not data)`,
      'Plan again with this version: `reroute plan -f MANIFEST --out FILE`.',
    );
  }
  if (plan?.format !== 'zbs-reroute/plan-v2' || !Array.isArray(plan.hosts)) {
    throw new RerouteError('PLAN_INVALID', `${file}: not a zbs-reroute plan`, 'Create it with `reroute plan -f MANIFEST --out FILE`.');
  }
  // The freshness check reads these fields; a hand-edited host entry without them is refused, not a crash.
  const bad = plan.hosts.findIndex((h: unknown) => {
    const x = h as Record<string, unknown> | null;
    return (
      typeof x !== 'object' ||
      x === null ||
      typeof x.node !== 'string' ||
      typeof x.host !== 'string' ||
      typeof x.observedFingerprint !== 'string' ||
      !Array.isArray(x.actions)
    );
  });
  if (bad >= 0) {
    throw new RerouteError(
      'PLAN_INVALID',
      `${file}: hosts[${bad}] is not a host plan (edited by hand?)`,
      'Create it with `reroute plan -f MANIFEST --out FILE`.',
    );
  }
  return plan;
}

/**
 * A saved plan is only safe while the hosts still look as they did when it was
 * made: every host's observation fingerprint must match, and so must the manifest.
 */
export function checkSavedPlanFresh(saved: Plan, fresh: Plan): void {
  if (saved.manifestSha256 !== fresh.manifestSha256) {
    throw new RerouteError(
      'PLAN_STALE',
      'the manifest changed since the plan was saved',
      'Run `reroute plan --out FILE` again and apply the new plan.',
    );
  }
  const changed = saved.hosts.filter(
    (h) => fresh.hosts.find((f) => f.node === h.node && f.host === h.host)?.observedFingerprint !== h.observedFingerprint,
  );
  if (changed.length > 0 || saved.hosts.length !== fresh.hosts.length) {
    throw new RerouteError(
      'PLAN_STALE',
      `the hosts changed since the plan was saved: ${changed.map((h) => `${h.node} (${h.host})`).join(', ') || 'host list differs'}`,
      'Run `reroute plan --out FILE` again and apply the new plan.',
    );
  }
  // Compared as data, not text: a plan file that went through jq or an editor keeps its meaning when
  // key order or spacing changes; the fresh plan goes through JSON once, as the saved one did.
  if (!sameData(saved.hosts, JSON.parse(JSON.stringify(fresh.hosts)))) {
    throw new RerouteError(
      'PLAN_STALE',
      'the saved plan does not match what the planner computes now (edited by hand, or made by another release)',
      'Run `reroute plan --out FILE` again and apply the new plan.',
    );
  }
}

/**
 * fast-deep-equal calls an object's own `valueOf`/`toString` when it has them, so a hand-edited file
 * holding a key named `toString` made it throw a TypeError (found by saved-plan.test's property
 * test). The planner never writes such a key, so a comparison that throws is a difference.
 */
function sameData(a: unknown, b: unknown): boolean {
  try {
    return deepEqual(a, b);
  } catch {
    return false;
  }
}
