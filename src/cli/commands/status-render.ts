/**
 * Text parts of `reroute status`: the main table, the summary (hosts off version, hosts not
 * observed), the degraded hosts with their fix, the shadow-mode table, and the exit status.
 */
import Table from 'cli-table3';
import { describeSight } from '../../observe/agent-health';
import type { HostStatus } from '../../engine/cluster-status';
import { sanitizeForDisplay } from '../../observe/sanitize';
import { EXIT_CHANGES, EXIT_OK, EXIT_UNKNOWN } from '../exit-codes';

const line = (text: string): string => sanitizeForDisplay(text, { multiline: false, maxLength: 400 });

/**
 * Does `status --check` fail (exit 2)? On a host off the wanted version, an SCVM whose SMTX OS
 * breaks the agent, or a degraded host (a blind agent, in either mode; an agent in the wrong mode;
 * a stale peer list). A shadow disagreement is not a failure: showing it is what shadow mode is
 * for. A host that could not be observed is not a failure either: it is unknown (exit 3).
 */
export function checkFails(rows: HostStatus[]): boolean {
  return rows.some((r) => r.versionOk === false || r.zbsProblems.length > 0 || r.degraded.length > 0);
}

/**
 * `reroute status` exits 0 whenever it printed its report (whatever the report shows) and 1 when
 * it could not run (thrown errors). `--check` makes the findings the exit status: 2 when a host
 * fails a check (definite evidence wins), else 3 when a host could not be observed, else 0.
 */
export function statusExitCode(rows: HostStatus[], check: boolean): number {
  if (!check) return EXIT_OK;
  if (checkFails(rows)) return EXIT_CHANGES;
  return rows.some((r) => !r.reachable) ? EXIT_UNKNOWN : EXIT_OK;
}

const UNKNOWN = '?';

/** The "session list" cell: ok, a few fails, or BLIND with its counters. */
export function sightCell(r: HostStatus): string {
  return r.reachable ? describeSight(r.sight) : UNKNOWN;
}

function aliveCell(r: HostStatus): string {
  if (r.agentAlive === null) return 'unknown (unreachable)';
  return r.agentAlive ? 'yes' : r.agentProcesses === 0 ? 'no (not running)' : 'no (heartbeat stale)';
}

function peersCell(r: HostStatus): string {
  if (!r.reachable) return UNKNOWN;
  if (r.peerList === undefined) return '-';
  return r.peerList.state === 'ok' ? 'ok' : `STALE${r.peerList.lacks.length > 0 ? ` (lacks ${r.peerList.lacks.join(', ')})` : ''}`;
}

const via = (r: HostStatus) => (r.routeGateway ? `${r.routeGateway}${r.routeTargetNode ? ` (${r.routeTargetNode})` : ''}` : '-');

/** The main table: one row per node; what could not be observed is `?`, never a guess. */
export function statusTable(rows: HostStatus[], color: boolean): string {
  const table = new Table({
    head: [
      'node',
      'reachable',
      'agent version',
      'wanted',
      'SMTX OS',
      'agent alive',
      'route 192.168.33.2 via',
      'local',
      'session list',
      'peers',
      'heartbeat',
    ],
    style: { head: color ? ['bold'] : [], border: [] },
  });
  for (const r of rows) {
    const seen = r.reachable;
    table.push([
      r.node,
      seen ? 'yes' : `NO: ${sanitizeForDisplay(r.reason ?? '', { multiline: false, maxLength: 60 })}`,
      seen ? (r.installedVersion ?? '-') : UNKNOWN,
      r.wantedVersion + (r.versionOk === false ? ' (!)' : ''),
      (r.scvmVersion ?? '-') + (r.zbsProblems.length > 0 ? ' (!)' : ''),
      aliveCell(r),
      seen ? via(r) : UNKNOWN,
      !seen ? UNKNOWN : r.routeLocal === undefined ? '-' : r.routeLocal ? 'yes' : 'NO',
      sightCell(r),
      peersCell(r),
      !seen ? UNKNOWN : r.heartbeatAgeSeconds === undefined ? '-' : `${r.heartbeatAgeSeconds}s ago`,
    ]);
  }
  return table.toString();
}

/** The lines under the table: versions, hosts not observed (unknown, not stopped). */
export function summaryLines(rows: HostStatus[], wanted: string): string {
  const seen = rows.filter((r) => r.reachable);
  const off = rows.filter((r) => r.versionOk === false);
  const lines = [
    off.length > 0
      ? `${off.length} of ${rows.length} host(s) are not on agent ${wanted}: ${off.map((r) => r.node).join(', ')}. Run \`reroute apply\` to upgrade.`
      : seen.length === rows.length
        ? `All ${rows.length} host(s) run agent ${wanted}.`
        : `All ${seen.length} observed host(s) run agent ${wanted}.`,
  ];
  const unseen = rows.filter((r) => !r.reachable);
  if (unseen.length > 0) {
    lines.push(
      `${unseen.length} host(s) could not be observed, so their agent, version and route are UNKNOWN (not stopped: the agent runs on its own without us): ${unseen.map((r) => line(`${r.node} (${r.reason ?? 'not observed'})`)).join(', ')}. Check the management network to them and run status again.`,
    );
  }
  return lines.join('\n');
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
  const table = new Table({
    head: ['node', 'real route via', 'agent would route via', 'agrees', 'would-be changes'],
    style: { head: color ? ['bold'] : [], border: [] },
  });
  for (const r of shadow) {
    const s = r.sight.shadow!;
    const would = s.target === '' ? '(none)' : `${s.target}${s.targetNode ? ` (${s.targetNode})` : ''}${s.kind ? ` ${s.kind}` : ''}`;
    const agrees = s.disagree
      ? `NO${s.disagreeForSeconds !== undefined ? `, for ${s.disagreeForSeconds}s (since ${s.disagreeSince})` : ''}`
      : 'yes';
    table.push([r.node, via(r), line(would), agrees, String(s.changes)]);
  }
  const disagreeing = shadow.filter((r) => r.sight.shadow?.disagree).length;
  const note = `${shadow.length} agent(s) in shadow mode: they decide and log but never move the route. ${disagreeing === 0 ? 'Every one agrees with the real route.' : `${disagreeing} of them disagree with the real route now (information, not a failure of --check).`}`;
  return `\nShadow decisions:\n${table.toString()}\n${note}`;
}
