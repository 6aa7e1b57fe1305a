/**
 * The ESXi firewall ruleset the agent's session source needs, as an owned item
 * (issue 11). ESXi blocks outgoing connections unless a ruleset allows them, and
 * a fresh host ships httpClient (the agent's wget to the SCVM's REST port) and
 * sshClient off. Pure: desired + observed in, actions and notes out.
 *
 * Apply: a disabled ruleset is enabled with `allowed-all false` and exactly this
 * cluster's SCVM addresses; one that is enabled with an allowed-IP list gains the
 * addresses it lacks; one that is enabled and open to all is left alone and the
 * plan says so (narrowing it could cut another tool's traffic). Before the first
 * change, the ruleset as it was is recorded in the install dir (firewall.prior),
 * with every address we add; teardown puts it back from that record: enabled
 * flag, allowed-all flag, and only the addresses we added removed.
 */

import { parseCidr, parseIpv4, netContains } from '../manifest/ipv4-net';
import { sha256Hex } from '../desired/desired-state';
import type { DesiredEsxi, DesiredFirewall } from '../desired/desired-types';
import { renderFirewallPrior } from '../observe/firewall-output';
import type { EsxiObserved, FirewallPrior, FirewallRulesetState } from '../observe/observed-types';
import { because } from './plan-reasons';
import type { Action, FirewallStep, PlanReason } from './plan-types';

export interface FirewallDraft {
  actions: Extract<Action, { op: 'firewall-ruleset' }>[];
  reasons: PlanReason[];
  notes: string[];
}

type FirewallAction = Extract<Action, { op: 'firewall-ruleset' }>;

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** Is `ip` allowed by an entry of ESXi's list (an address, or a network holding it)? */
export function allowedBy(list: readonly string[], ip: string): boolean {
  const n = parseIpv4(ip);
  return list.some((entry) => {
    if (entry === ip) return true;
    const net = entry.includes('/') ? parseCidr(entry) : undefined;
    return net !== undefined && n !== undefined && netContains(net, n);
  });
}

function recordSha(d: DesiredFirewall, o: EsxiObserved): string {
  return o.files[d.recordPath]?.sha256 || 'absent';
}

function recordChange(
  d: DesiredFirewall,
  o: EsxiObserved,
  next: Record<string, FirewallPrior>,
  when: 'before' | 'after',
): NonNullable<FirewallAction['record']> {
  const beforeSha256 = recordSha(d, o);
  if (Object.keys(next).length === 0) return { path: d.recordPath, beforeSha256, when };
  const content = renderFirewallPrior(next);
  return { path: d.recordPath, beforeSha256, content, sha256: sha256Hex(content), when };
}

function before(s: FirewallRulesetState): FirewallAction['before'] {
  return { enabled: s.enabled, allowedAll: s.allowedAll, allowedIps: [...s.allowedIps] };
}

/** Steps that open `cur` for `want` (empty when it already lets every wanted address through). */
export function openSteps(cur: FirewallRulesetState, want: readonly string[]): FirewallStep[] {
  if (cur.enabled && cur.allowedAll) return [];
  const steps: FirewallStep[] = [];
  // ESXi keeps the allowed list only for a ruleset that is not open to all: narrow first, then add.
  if (cur.allowedAll) steps.push('allowed-all=false');
  for (const ip of want) if (cur.allowedAll || !allowedBy(cur.allowedIps, ip)) steps.push(`add=${ip}`);
  // Enabled last, so the ruleset is never open to every address in between.
  if (!cur.enabled) steps.push('enabled=true');
  return steps;
}

/** Steps that put `cur` back as `prior` was, removing only the addresses we added. */
export function restoreSteps(cur: FirewallRulesetState, prior: FirewallPrior): FirewallStep[] {
  // A ruleset open to all lists `All`, not the addresses it keeps for when it is narrowed
  // again: then every address we added is removed (host-ops treats "not there" as done).
  const ours = prior.addedIps.filter((ip) => !prior.allowedIps.includes(ip));
  const removes = cur.allowedAll ? ours : ours.filter((ip) => cur.allowedIps.includes(ip));
  const steps: FirewallStep[] = [];
  // Disabled first, so a ruleset going back to "off" is never briefly open to every address.
  if (cur.enabled && !prior.enabled) steps.push('enabled=false');
  if (removes.length > 0 && cur.allowedAll) steps.push('allowed-all=false');
  for (const ip of removes) steps.push(`remove=${ip}`);
  const allowedAllAfter = removes.length > 0 ? false : cur.allowedAll;
  if (allowedAllAfter !== prior.allowedAll) steps.push(`allowed-all=${prior.allowedAll}`);
  if (!cur.enabled && prior.enabled) steps.push('enabled=true');
  return steps;
}

function describeOpen(name: string, cur: FirewallRulesetState, adds: number): string {
  if (!cur.enabled) return `firewall ruleset ${name} is disabled: enable it for this cluster's ${adds} SCVM address(es) only`;
  return `firewall ruleset ${name} lacks ${adds} SCVM address(es) of this cluster: add them to its allowed IPs`;
}

function restoreAction(
  name: string,
  d: DesiredFirewall,
  o: EsxiObserved,
  cur: FirewallRulesetState,
  prior: FirewallPrior,
  rest: Record<string, FirewallPrior> | undefined,
  reason: string,
): FirewallAction | undefined {
  const steps = restoreSteps(cur, prior);
  const a: FirewallAction = { op: 'firewall-ruleset', ruleset: name, reason, steps, before: before(cur) };
  // Teardown removes the whole install dir (the record with it); apply keeps the other rulesets' records.
  if (rest !== undefined) a.record = recordChange(d, o, rest, 'after');
  return steps.length > 0 || a.record !== undefined ? a : undefined;
}

/** Apply mode: open the wanted ruleset; restore a recorded one the session source no longer needs. */
export function planFirewallApply(desired: DesiredEsxi, o: EsxiObserved): FirewallDraft {
  const out: FirewallDraft = { actions: [], reasons: [], notes: [] };
  const d = desired.firewall;
  if (d === undefined || o.firewall === undefined) return out;
  let records: Record<string, FirewallPrior> = { ...(o.firewallPrior ?? {}) };
  const name = d.ruleset;
  const cur = o.firewall[name];
  if (cur === undefined) {
    out.notes.push(`ESXi lists no ${name} firewall ruleset: the agent's session fetch may be blocked`);
  } else if (cur.enabled && cur.allowedAll) {
    out.notes.push(`firewall ruleset ${name} is already enabled for all IPs: left as is (narrowing it could cut other tools' traffic)`);
  } else {
    const steps = openSteps(cur, d.allowedIps);
    if (steps.length > 0) {
      const added = steps.filter((s) => s.startsWith('add=')).map((s) => s.slice('add='.length));
      const prior: FirewallPrior = records[name] ?? { ...before(cur), addedIps: [] };
      records = { ...records, [name]: { ...prior, addedIps: unique([...prior.addedIps, ...added]) } };
      const reason = describeOpen(name, cur, added.length);
      out.reasons.push(because('firewall-open', reason));
      out.actions.push({
        op: 'firewall-ruleset',
        ruleset: name,
        reason,
        steps,
        before: before(cur),
        record: recordChange(d, o, records, 'before'),
      });
    }
  }
  // A recorded ruleset the session source no longer needs (rest ↔ ssh) goes back as it was.
  for (const other of Object.keys(o.firewallPrior ?? {}).sort()) {
    if (other === name) continue;
    const prior = records[other] as FirewallPrior;
    const cur2 = o.firewall[other];
    const { [other]: _gone, ...rest } = records;
    if (cur2 === undefined) continue;
    const reason = `firewall ruleset ${other} is no longer needed: put back as it was`;
    const a = restoreAction(other, d, o, cur2, prior, rest, reason);
    if (a === undefined) continue;
    records = rest;
    // Two record edits in one plan: the second starts from the hash the first leaves.
    const first = out.actions[0]?.record;
    if (first?.sha256 !== undefined && a.record !== undefined) a.record.beforeSha256 = first.sha256;
    out.reasons.push(because('firewall-restore', reason));
    out.actions.push(a);
  }
  return out;
}

/** Teardown: every recorded ruleset back as it was, before the install dir (and the record) goes. */
export function planFirewallDestroy(desired: DesiredEsxi, o: EsxiObserved): FirewallDraft {
  const out: FirewallDraft = { actions: [], reasons: [], notes: [] };
  const d = desired.firewall;
  const prior = o.firewallPrior ?? {};
  if (d === undefined) return out;
  for (const name of Object.keys(prior).sort()) {
    const cur = o.firewall?.[name];
    if (cur === undefined) {
      out.notes.push(
        `firewall ruleset ${name} could not be read: it is not restored (its prior state is in ${d.recordPath} until the folder goes)`,
      );
      continue;
    }
    const reason = `firewall ruleset ${name} back as it was`;
    const a = restoreAction(name, d, o, cur, prior[name] as FirewallPrior, undefined, reason);
    if (a === undefined) continue;
    out.reasons.push(because('firewall-restore', reason));
    out.actions.push(a);
  }
  return out;
}
