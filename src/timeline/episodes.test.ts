import { NODE1_CURRENT, NODE1_ROTATED, NODE2_LOG } from '../../test/support/agent-log-fixtures';
import { parseAgentLog } from './agent-log';
import { inWindow, mergeTimeline, pairEpisodes, parseSince, servedSegments } from './episodes';

const node1 = parseAgentLog(NODE1_ROTATED + NODE1_CURRENT, { host: 'node-1' }).events;
const node2 = parseAgentLog(NODE2_LOG, { host: 'node-2' }).events;
const NOW = Date.UTC(2026, 11, 2, 0, 40, 0);

describe('episodes: each failover with its failback', () => {
  test('a failover is paired with its failback across the rotation, with its duration and reason', () => {
    const [first] = pairEpisodes(node1);
    expect(first).toMatchObject({
      host: 'node-1',
      start: '2026-12-02T00:10:01.000Z',
      end: '2026-12-02T00:13:05.000Z',
      durationSeconds: 184,
      open: false,
      reason: 'local-ping',
      kinds: ['remote-storage'],
      endedBy: 'failback',
      partial: false,
    });
  });

  test('a failover still unpaired at the end of the log is open; its switches are counted', () => {
    const last = pairEpisodes(node1).at(-1);
    expect(last).toMatchObject({
      start: '2026-12-02T00:20:00.000Z',
      end: null,
      durationSeconds: null,
      open: true,
      reason: 'local-unlisted',
      kinds: ['remote-storage', 'remote-management'],
      gateways: ['10.20.0.103', '10.10.0.102'],
      switches: 1,
    });
    expect(pairEpisodes(node1)).toHaveLength(2);
  });

  test('a drain to a pin is an episode too, ended by the way back', () => {
    expect(pairEpisodes(node2)).toEqual([
      expect.objectContaining({ reason: 'pin', kinds: ['pin'], durationSeconds: 240, endedBy: 'failback' }),
    ]);
  });

  test('an agent restarted on a remote route is inside an episode (partial); one that finds the local route ends it', () => {
    const text = [
      '2026-12-02 06:00:00 node-1 reroute[7] start v1 (mode active): found route via 10.20.0.102 (remote-storage)',
      '2026-12-02 06:01:00 node-1 reroute[7] SIGTERM: exiting; route left via 10.20.0.102 (remote-storage)',
      '2026-12-02 06:02:00 node-1 reroute[8] start v1 (mode active): found route via 10.20.0.101 (local)',
    ].join('\n');
    const episodes = pairEpisodes(parseAgentLog(text, { host: 'node-1' }).events);
    expect(episodes).toEqual([expect.objectContaining({ partial: true, reason: 'unknown', durationSeconds: 120, endedBy: 'adopted' })]);
  });
});

describe('served segments and the window', () => {
  test("a host's IO over time: one segment per change, the last one up to now", () => {
    const s = servedSegments(node1, NOW);
    expect(s.map((g) => [new Date(g.fromMs).toISOString().slice(11, 19), g.kind])).toEqual([
      ['23:59:58', 'local'],
      ['00:10:01', 'remote-storage'],
      ['00:13:05', 'local'],
      ['00:20:00', 'remote-storage'],
      ['00:21:00', 'remote-management'],
    ]);
    expect(s.at(-1)?.toMs).toBe(NOW);
    expect(s[0]?.toMs).toBe(s[1]?.fromMs);
  });

  test('all hosts in one time order; lines of one second keep their log order', () => {
    const merged = mergeTimeline([node1, node2]);
    expect(merged.map((e) => e.atMs)).toEqual([...merged.map((e) => e.atMs)].sort((a, b) => a - b));
    const sameSecond = merged.filter((e) => e.at === '2026-12-02T00:20:00.000Z').map((e) => e.type);
    expect(sameSecond).toEqual(['local-unlisted', 'route']);
    expect(new Set(merged.map((e) => e.host))).toEqual(new Set(['node-1', 'node-2']));
  });

  test('--since keeps what happened after it, and every episode still running or ended after it', () => {
    const all = { events: mergeTimeline([node1, node2]), episodes: [...pairEpisodes(node1), ...pairEpisodes(node2)], segments: [] };
    const w = inWindow({ sinceMs: Date.UTC(2026, 11, 2, 0, 12, 0), untilMs: NOW }, all);
    expect(w.events.every((e) => e.atMs >= Date.UTC(2026, 11, 2, 0, 12, 0))).toBe(true);
    expect(w.episodes.map((p) => `${p.host} ${p.start.slice(11, 19)}`)).toEqual(['node-1 00:10:01', 'node-1 00:20:00', 'node-2 00:11:00']);
    const later = inWindow({ sinceMs: Date.UTC(2026, 11, 2, 0, 16, 0), untilMs: NOW }, all);
    expect(later.episodes.map((p) => `${p.host} ${p.start.slice(11, 19)}`)).toEqual(['node-1 00:20:00']);
  });

  test('--node keeps that host alone; segments are cut to the window', () => {
    const all = { events: mergeTimeline([node1, node2]), episodes: pairEpisodes(node2), segments: servedSegments(node2, NOW) };
    const since = Date.UTC(2026, 11, 2, 0, 12, 0);
    const w = inWindow({ sinceMs: since, untilMs: NOW, nodes: ['node-2'] }, all);
    expect(new Set(w.events.map((e) => e.host))).toEqual(new Set(['node-2']));
    expect(w.segments[0]).toMatchObject({ fromMs: since, kind: 'pin' });
    expect(inWindow({ untilMs: NOW, nodes: ['node-9'] }, all)).toEqual({ events: [], episodes: [], segments: [] });
  });

  test('--since takes a duration, a UTC time, or all; anything else is refused with the fix', () => {
    expect(parseSince('24h', NOW)).toBe(NOW - 86_400_000);
    expect(parseSince('90s', NOW)).toBe(NOW - 90_000);
    expect(parseSince('7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseSince('2026-12-02T00:12:00', NOW)).toBe(Date.UTC(2026, 11, 2, 0, 12, 0));
    expect(parseSince('2026-12-02 00:12', NOW)).toBe(Date.UTC(2026, 11, 2, 0, 12, 0));
    expect(parseSince('2026-12-02T01:12:00+01:00', NOW)).toBe(Date.UTC(2026, 11, 2, 0, 12, 0));
    expect(parseSince('2026-12-02', NOW)).toBe(Date.UTC(2026, 11, 2));
    expect(parseSince('all', NOW)).toBeUndefined();
    expect(() => parseSince('yesterday', NOW)).toThrow(expect.objectContaining({ code: 'USAGE', fix: expect.stringContaining('24h') }));
  });
});
