/**
 * Text parts of `reroute events`: the decisions in time order, the failover episodes, and the
 * hosts whose log could not be read. Everything host-controlled was sanitized by the engine and is
 * cut to one line again here.
 */
import Table from 'cli-table3';
import type { EventsReport } from '../../engine/cluster-events';
import { sanitizeForDisplay } from '../../observe/sanitize';
import { durationText } from '../../timeline/timeline-svg';
import type { AgentEvent } from '../../timeline/timeline-types';

const cell = (text: string, max = 120): string => sanitizeForDisplay(text, { multiline: false, maxLength: max });
/** No rule between rows: a day of decisions stays one screen per page. */
const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
const when = (iso: string): string => iso.replace('T', ' ').replace(/\.\d{3}Z$/, '');

function what(e: AgentEvent): string {
  return e.route ? e.route.decision : e.type;
}

function detail(e: AgentEvent): string {
  const r = e.route;
  if (!r) return cell(e.message);
  const via = r.viaAccessOf ? ` (SCVM ${r.viaAccessOf})` : '';
  return cell(`${r.from} -> ${r.to}${via}  ${r.fromKind} -> ${r.kind}${r.oldGatewayDown ? ', old gateway silent' : ''}`);
}

export function eventsTable(report: EventsReport): string {
  if (report.events.length === 0) return 'No agent decisions in this window.';
  const table = new Table({ head: ['time (UTC)', 'host', 'event', 'reason', 'detail'], style: { head: [], border: [] }, chars: COMPACT });
  for (const e of report.events) table.push([when(e.at), e.host, what(e), e.route ? cell(e.route.reason, 40) : '', detail(e)]);
  return table.toString();
}

export function episodesTable(report: EventsReport): string {
  if (report.episodes.length === 0) return 'No failovers in this window.';
  const table = new Table({
    head: ['host', 'failover (UTC)', 'failback (UTC)', 'lasted', 'reason', 'IO went to'],
    style: { head: [], border: [] },
    chars: COMPACT,
  });
  for (const p of report.episodes) {
    table.push([
      p.host,
      `${when(p.start)}${p.partial ? ' (or earlier)' : ''}`,
      p.end === null ? 'still failed over' : `${when(p.end)}${p.endedBy === 'adopted' ? ' (agent restart)' : ''}`,
      p.durationSeconds === null ? '-' : durationText(p.durationSeconds),
      cell(p.reason, 40),
      cell(p.kinds.join(' -> '), 80),
    ]);
  }
  return table.toString();
}

/** The hosts whose log could not be read, each with why: their decisions are missing from the tables. */
export function unreadLines(report: EventsReport): string {
  const unread = report.hosts.filter((h) => !h.read);
  if (unread.length === 0) return '';
  return `\nLog not read on ${unread.length} host(s); their decisions are missing above:\n${unread
    .map((h) => `  ${h.node} (${h.address}): ${cell(h.reason ?? 'unknown', 300)}`)
    .join('\n')}`;
}

export function eventsText(report: EventsReport): string {
  const window = `${report.since === null ? 'everything the logs hold' : `${when(report.since)}`} to ${when(report.until)} UTC`;
  const open = report.episodes.filter((p) => p.open).length;
  return [
    `Agent decisions of cluster ${report.cluster}, ${window} (${report.nodes.length} host(s)):`,
    eventsTable(report),
    '',
    `Failovers: ${report.episodes.length}${open > 0 ? `, ${open} still open` : ''}`,
    episodesTable(report),
    unreadLines(report),
  ].join('\n');
}
