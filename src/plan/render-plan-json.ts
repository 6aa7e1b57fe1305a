import type { Plan } from './plan-types';
import { assertNoSecrets } from './redact';

/** The plan as machines read it (`--json`, `plan --out`): the data itself, checked secret-free. */
export function renderPlanJson(plan: Plan): string {
  assertNoSecrets(plan);
  return `${JSON.stringify(plan, null, 2)}\n`;
}
