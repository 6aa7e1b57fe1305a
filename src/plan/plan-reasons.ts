import type { PlanReason, ReasonCode } from './plan-types';

/**
 * Plan reasons are built here and nowhere else, so the item a code is filed under is one
 * decision (the watch loop logs one event per item; --json readers switch on code).
 */
const ITEM_OF: Partial<Record<ReasonCode, string>> = {
  'agent-version': 'agent',
  'agent-not-running': 'agent',
  'agent-elsewhere': 'agent',
  'agent-stale': 'agent',
  'new-install': 'agent',
  'legacy-takeover': 'legacy install',
  'crontab-missing': 'crontab',
  'crontab-duplicated': 'crontab',
  'crontab-stale': 'crontab',
  'crontab-legacy': 'crontab',
  'crond-stopped': 'crond',
  'local-sh-drift': 'local.sh',
  'local-sh-legacy': 'local.sh',
  'firewall-open': 'firewall',
  'firewall-restore': 'firewall',
  'drain-start': 'pin',
  'drain-end': 'pin',
  'key-missing': 'authorized_keys',
  'key-duplicated': 'authorized_keys',
  'key-changed': 'authorized_keys',
  'key-stale': 'authorized_keys',
  'key-root-old': 'authorized_keys',
  'key-unneeded': 'authorized_keys',
  'session-clients': 'zbs session clients',
  unreachable: 'host',
};

/** A reason whose item follows from its code. */
export function because(code: ReasonCode, detail: string): PlanReason {
  return { item: ITEM_OF[code] ?? 'host', code, detail };
}

/** A reason about one named thing: a file, a folder, a route, a teardown step. */
export function becauseOf(item: string, code: ReasonCode, detail: string): PlanReason {
  return { item, code, detail };
}

/** The first reason of each sentence: two branches may notice the same drift. */
export function uniqueReasons(reasons: PlanReason[]): PlanReason[] {
  const seen = new Set<string>();
  return reasons.filter((r) => !seen.has(r.detail) && seen.add(r.detail) !== undefined);
}

/** The operator's sentences, in order (text output, target scopes). */
export function reasonTexts(reasons: PlanReason[]): string[] {
  return reasons.map((r) => r.detail);
}
