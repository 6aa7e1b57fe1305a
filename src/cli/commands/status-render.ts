/**
 * Text parts of `reroute status` beyond the main table: the session-list column, the blind
 * hosts, and the shadow-mode table (what each agent would do beside the real route).
 */
import Table from 'cli-table3';
import { describeSight } from '../../engine/agent-health';
import type { HostStatus } from '../../engine/cluster-status';
import { sanitizeForDisplay } from '../../observe/sanitize';

const line = (text: string): string => sanitizeForDisplay(text, { multiline: false, maxLength: 400 });

/**
 * Does `status --check` fail (exit 2)? On a host off the wanted version, an SCVM whose SMTX OS
 * breaks the agent, or a degraded host (a blind agent, in either mode; an agent in the wrong mode).
 * A shadow disagreement is not a failure: showing it is what shadow mode is for.
 */
export function checkFails(rows: HostStatus[]): boolean {
  return rows.some((r) => !r.versionOk || r.zbsProblems.length > 0 || r.degraded.length > 0);
}

/** The "session list" cell: ok, a few fails, or BLIND with its counters. */
export function sightCell(r: HostStatus): string {
  return r.reachable ? describeSight(r.sight) : '-';
}

/** Hosts degraded beyond their version (a blind agent), each with its fix; '' when none. */
export function degradedLines(rows: HostStatus[]): string {
  const bad = rows.filter((r) => r.degraded.length > 0);
  if (bad.length === 0) return '';
  return `\nDegraded: ${bad.length} host(s):\n  ${bad.map((r) => line(`${r.node}: ${r.degraded.join(' ')}`)).join('\n  ')}`;
}

/** Shadow mode: per host, the real route beside what the agent would do; '' when no agent runs in shadow. */
export function shadowTable(rows: HostStatus[], color: boolean): string {
  const shadow = rows.filter((r) => r.sight.shadow !== undefined);
  if (shadow.length === 0) return '';
  const table = new Table({ head: ['node', 'real route via', 'agent would route via', 'agrees', 'would-be changes'], style: { head: color ? ['bold'] : [], border: [] } });
  for (const r of shadow) {
    const s = r.sight.shadow!;
    const would = s.target === '' ? '(none)' : `${s.target}${s.targetNode ? ` (${s.targetNode})` : ''}${s.kind ? ` ${s.kind}` : ''}`;
    const agrees = s.disagree ? `NO${s.disagreeForSeconds !== undefined ? `, for ${s.disagreeForSeconds}s (since ${s.disagreeSince})` : ''}` : 'yes';
    table.push([r.node, r.routeGateway ? `${r.routeGateway}${r.routeTargetNode ? ` (${r.routeTargetNode})` : ''}` : '-', line(would), agrees, String(s.changes)]);
  }
  const disagreeing = shadow.filter((r) => r.sight.shadow?.disagree).length;
  const note = `${shadow.length} agent(s) in shadow mode: they decide and log but never move the route. ${disagreeing === 0 ? 'Every one agrees with the real route.' : `${disagreeing} of them disagree with the real route now (information, not a failure of --check).`}`;
  return `\nShadow decisions:\n${table.toString()}\n${note}`;
}
