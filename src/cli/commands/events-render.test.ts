import { NODE1_CURRENT, NODE1_ROTATED } from '../../../test/support/agent-log-fixtures';
import type { EventsReport } from '../../engine/cluster-events';
import { parseAgentLog } from '../../timeline/agent-log';
import { pairEpisodes } from '../../timeline/episodes';
import { eventsText } from './events-render';

const events = parseAgentLog(NODE1_ROTATED + NODE1_CURRENT, { host: 'node-1' }).events;
const report: EventsReport = {
  cluster: 'prod-a',
  since: '2026-12-01T00:40:00.000Z',
  until: '2026-12-02T00:40:00.000Z',
  nodes: ['node-1', 'node-2'],
  hosts: [
    { node: 'node-1', address: '10.10.0.11', logFile: '/var/log/scvm_failure.log', read: true, lines: 8, malformed: 1, truncated: false },
    {
      node: 'node-2',
      address: '10.10.0.12',
      logFile: '/var/log/scvm_failure.log',
      read: false,
      reason: 'connect ETIMEDOUT',
      lines: 0,
      malformed: 0,
      truncated: false,
    },
  ],
  events,
  episodes: pairEpisodes(events),
  segments: [],
};

describe('reroute events as text', () => {
  const text = eventsText(report);

  test('one row per decision, in time order, with its reason and where IO went', () => {
    const rows = text.split('\n').filter((l) => /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/.test(l) && l.includes('node-1'));
    expect(rows[0]).toContain('2026-12-01 23:59:58');
    const failover = rows.find((l) => l.includes('failover') && l.includes('local-ping'));
    expect(failover).toContain('10.20.0.101 -> 10.20.0.102');
    expect(failover).toContain('local -> remote-storage');
  });

  test('the episodes: duration of the closed one, the open one said to be still failed over', () => {
    expect(text).toContain('Failovers: 2, 1 still open');
    expect(text).toMatch(/2026-12-02 00:10:01.*2026-12-02 00:13:05.*3m04s.*local-ping.*remote-storage/);
    expect(text).toMatch(/2026-12-02 00:20:00.*still failed over.*local-unlisted.*remote-storage -> remote-management/);
  });

  test('a host whose log was not read is named with why, under the tables', () => {
    expect(text).toContain('Log not read on 1 host(s); their decisions are missing above:\n  node-2 (10.10.0.12): connect ETIMEDOUT');
  });

  test('an empty window says so instead of printing empty tables', () => {
    const empty = eventsText({ ...report, events: [], episodes: [], hosts: [report.hosts[0]!] });
    expect(empty).toContain('No agent decisions in this window.');
    expect(empty).toContain('No failovers in this window.');
    expect(empty).not.toContain('Log not read');
  });
});
