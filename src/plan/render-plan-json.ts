import { secretFreeJson } from '../core/secret-free-json';
import type { Plan } from './plan-types';

/** The plan as machines read it (`--json`, `plan --out`): the data itself, checked secret-free. */
export function renderPlanJson(plan: Plan): string {
  return secretFreeJson(plan, 'plan', 2);
}
