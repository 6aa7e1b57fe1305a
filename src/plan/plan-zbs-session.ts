/**
 * The SCVM item "ESXi client IPs registered in the local SCVM's ZBS session"
 * (issue 11). Owned by the reconciler, not the agent: ESXi's wget cannot PUT,
 * the reconciler already holds an operator connection to every SCVM, and
 * `watch` re-observes every period, so a session id changed by an access
 * restart is re-registered within one period (docs/design.md).
 */
import type { DesiredScvm } from '../desired/desired-types';
import type { ScvmObserved } from '../observe/observed-types';
import { sameClientIps } from '../observe/zbs-session';
import { because } from './plan-reasons';
import type { Action, PlanReason } from './plan-types';

export interface SessionClientsDraft {
  actions: Action[];
  reasons: PlanReason[];
  /** Why nothing could be planned (session not readable), for the plan's warnings. */
  warning?: string;
}

/** Register exactly the desired client IPs when the session lists anything else. Never a route. */
export function planSessionClients(d: DesiredScvm, o: ScvmObserved): SessionClientsDraft {
  const want = d.sessionClientIps;
  const s = o.zbsSession;
  if (want === undefined || want.length === 0 || s === undefined) return { actions: [], reasons: [] };
  if ('problem' in s) return { actions: [], reasons: [], warning: `${d.node}: ZBS session client IPs not checked: ${s.problem}` };
  if (sameClientIps(s.localClientsIps, want)) return { actions: [], reasons: [] };
  const short = s.sessionId.slice(0, 8);
  const reason =
    s.localClientsIps.length === 0
      ? `ZBS session ${short} lists no ESXi client IPs`
      : `ZBS session ${short} lists ${s.localClientsIps.join(',')}, not ${want.join(',')}`;
  return {
    actions: [{ op: 'register-session-clients', sessionId: s.sessionId, clientIps: [...want], before: [...s.localClientsIps], reason }],
    reasons: [because('session-clients', reason)],
  };
}
