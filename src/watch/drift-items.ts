import type { HostPlan, Plan } from '../plan/plan-types';
import type { DriftItem, ObserveOutcome } from './watch-reducer';

/**
 * Which owned item a planner reason is about, so each log event names one
 * item (`crontab`, `local.sh`, `agent`, a file name, …). The reasons come from
 * src/plan/plan-esxi.ts and plan-scvm.ts; an unknown one is filed under `host`.
 */
export function itemOfReason(hostKind: 'esxi' | 'scvm', reason: string): string {
  if (hostKind === 'scvm') return /^ZBS session\b/.test(reason) ? 'zbs session clients' : 'authorized_keys';
  if (/^crontab\b/.test(reason)) return 'crontab';
  if (/^crond\b/.test(reason)) return 'crond';
  if (/local\.sh/.test(reason)) return 'local.sh';
  if (/^legacy\b/.test(reason)) return 'legacy install';
  if (/^firewall ruleset\b/.test(reason)) return 'firewall';
  if (/^(IO drained|drain ended)/.test(reason)) return 'pin';
  if (/^(agent|running agent|heartbeat|no heartbeat|new install|install agent)\b/.test(reason)) return 'agent';
  const file = /^(\S+) (missing|differs|mode |is not ours)/.exec(reason);
  if (file?.[1]) return file[1];
  return 'host';
}

function itemsOf(h: HostPlan): DriftItem[] {
  if (h.actions.length === 0) return [];
  const reasons = h.reasons.length > 0 ? h.reasons : [`${h.actions.length} change(s)`];
  return reasons.map((reason) => ({ hostKind: h.host, item: itemOfReason(h.host, reason), reason }));
}

/** The host plans of one node (its ESXi and its SCVM). */
export function nodeHostPlans(plan: Plan, node: string): HostPlan[] {
  return plan.hosts.filter((h) => h.node === node);
}

/** What a per-node plan means to the watch loop: unreachable halves and drifted items. */
export function observeOutcome(hostPlans: HostPlan[]): ObserveOutcome {
  return {
    unreachable: hostPlans.filter((h) => h.change === 'unreachable').map((h) => ({ hostKind: h.host, reason: h.unreachableReason ?? 'unreachable' })),
    drift: hostPlans.flatMap(itemsOf),
  };
}
