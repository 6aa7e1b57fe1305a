/**
 * The heartbeat keys agents write since issue 12 (blind, shadow mode) and issue 16 (counters and
 * the last decision, for metrics); esxi/agent/README.md, "Status file".
 * Every one is optional: an older agent writes none of them and its heartbeat stays valid.
 * A key present with a value we cannot read is named in `invalid` and left out, never guessed.
 */
import type { AgentDecision, AgentDecisionReason, AgentHeartbeat, TargetKind } from './observed-types';

export const TARGET_KINDS: ReadonlySet<string> = new Set<TargetKind>(['local', 'remote-storage', 'remote-management', 'pin', 'none']);

export const AGENT_DECISIONS: ReadonlySet<string> = new Set<AgentDecision>(['failover', 'failback', 'switch', 'adopt', 'change-failed']);

/** Must list exactly DECISION_REASONS of esxi/agent/reroute-loop.sh (heartbeat-extras.test.ts compares them). */
export const AGENT_DECISION_REASONS: ReadonlySet<string> = new Set<AgentDecisionReason>([
  'local-ping',
  'local-unlisted',
  'gateway-down',
  'gateway-unlisted',
  'failback-delay-passed',
  'better-tier',
  'pin',
  'unpin',
  'drain',
  'no-route',
  'foreign-route',
  'config',
  'route-drift',
  'mode-active',
  'start',
]);

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

type Extras = Pick<
  AgentHeartbeat,
  | 'mode'
  | 'blind'
  | 'fetchFails'
  | 'listAgeSeconds'
  | 'shadowTarget'
  | 'shadowKind'
  | 'shadowChanges'
  | 'disagree'
  | 'disagreeSince'
  | 'failovers'
  | 'failbacks'
  | 'routeChanges'
  | 'fetchFailures'
  | 'blindIterations'
  | 'lastDecision'
  | 'lastReason'
  | 'lastDecisionAt'
>;

export function parseHeartbeatExtras(kv: ReadonlyMap<string, string>): { extras: Extras; invalid: string[] } {
  const invalid: string[] = [];
  // '' means "nothing to say" for every key (list_age before the first list, shadow_* in active mode).
  const read = <T>(key: string, parse: (v: string) => T | undefined): T | undefined => {
    const v = kv.get(key);
    if (v === undefined || v === '') return undefined;
    const out = parse(v);
    if (out === undefined) invalid.push(key);
    return out;
  };
  const count = (v: string): number | undefined => (/^\d{1,15}$/.test(v) ? Number(v) : undefined);
  const flag = (v: string): boolean | undefined => (v === '1' ? true : v === '0' ? false : undefined);
  const oneOf =
    <T extends string>(set: ReadonlySet<string>) =>
    (v: string): T | undefined =>
      set.has(v) ? (v as T) : undefined;
  const all: Extras = {
    mode: read('mode', (v) => (v === 'active' || v === 'shadow' ? v : undefined)),
    blind: read('blind', flag),
    fetchFails: read('fetch_fails', count),
    listAgeSeconds: read('list_age', count),
    shadowTarget: read('shadow_target', (v) => (IPV4.test(v) ? v : undefined)),
    shadowKind: read('shadow_kind', oneOf<TargetKind>(TARGET_KINDS)),
    shadowChanges: read('shadow_changes', count),
    disagree: read('disagree', flag),
    disagreeSince: read('disagree_since', count),
    failovers: read('failovers', count),
    failbacks: read('failbacks', count),
    routeChanges: read('route_changes', count),
    fetchFailures: read('fetch_failures', count),
    blindIterations: read('blind_iterations', count),
    lastDecision: read('last_decision', oneOf<AgentDecision>(AGENT_DECISIONS)),
    lastReason: read('last_reason', oneOf<AgentDecisionReason>(AGENT_DECISION_REASONS)),
    lastDecisionAt: read('last_decision_at', count),
  };
  // Absent, not undefined: snapshots are JSON and their schema lists only keys that are there.
  const extras = Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as Extras;
  return { extras, invalid };
}
