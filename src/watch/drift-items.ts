import type { HostPlan } from '../plan/plan-types';
import type { DriftItem, ObserveOutcome } from './watch-reducer';

function itemsOf(h: HostPlan): DriftItem[] {
  if (h.actions.length === 0) return [];
  if (h.reasons.length === 0) return [{ hostKind: h.host, item: 'host', reason: `${h.actions.length} change(s)` }];
  return h.reasons.map((r) => ({ hostKind: h.host, item: r.item, reason: r.detail }));
}

/** What a per-node plan means to the watch loop: unreachable halves and drifted items. */
export function observeOutcome(hostPlans: HostPlan[]): ObserveOutcome {
  return {
    unreachable: hostPlans
      .filter((h) => h.change === 'unreachable')
      .map((h) => ({ hostKind: h.host, reason: h.unreachableReason ?? 'unreachable' })),
    drift: hostPlans.flatMap(itemsOf),
  };
}
