import { NODE1_CURRENT, NODE1_ROTATED, NODE2_LOG } from '../../test/support/agent-log-fixtures';
import { parseAgentLog } from './agent-log';
import { pairEpisodes, servedSegments } from './episodes';
import { durationText, escapeXml, KIND_COLORS, renderTimelineSvg, type TimelineSvgInput } from './timeline-svg';

const NOW = Date.UTC(2026, 11, 2, 0, 40, 0);
const node1 = parseAgentLog(NODE1_ROTATED + NODE1_CURRENT, { host: 'node-1' }).events;
const node2 = parseAgentLog(NODE2_LOG, { host: 'node-2' }).events;

function input(over: Partial<TimelineSvgInput> = {}): TimelineSvgInput {
  return {
    title: 'cluster prod-a: agent decisions',
    hosts: ['node-1', 'node-2', 'node-3'],
    fromMs: Date.UTC(2026, 11, 1, 23, 50, 0),
    toMs: NOW,
    segments: [...servedSegments(node1, NOW), ...servedSegments(node2, NOW)],
    episodes: [...pairEpisodes(node1), ...pairEpisodes(node2)],
    events: [...node1, ...node2],
    unreadable: [{ host: 'node-3', reason: 'no answer within the host timeout (90 s)' }],
    ...over,
  };
}

const count = (svg: string, re: RegExp) => (svg.match(re) ?? []).length;

describe('the timeline SVG', () => {
  const svg = renderTimelineSvg(input());

  test('is one standalone SVG document with one lane per host, in the given order', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect([...svg.matchAll(/<g class="lane" data-host="([^"]+)">/g)].map((m) => m[1])).toEqual(['node-1', 'node-2', 'node-3']);
  });

  test('lanes are coloured by where IO was served: one rect per segment, in its kind’s colour', () => {
    const served = [...svg.matchAll(/<rect class="served" data-kind="([a-z-]+)"[^>]*fill="(#[0-9a-f]{6})"/g)].map((m) => [m[1], m[2]]);
    expect(served.map(([k]) => k)).toEqual([
      'local',
      'remote-storage',
      'local',
      'remote-storage',
      'remote-management',
      'local',
      'pin',
      'local',
    ]);
    for (const [k, c] of served) expect(c).toBe(KIND_COLORS[k as keyof typeof KIND_COLORS]);
    expect(new Set(Object.values(KIND_COLORS)).size).toBe(Object.keys(KIND_COLORS).length);
  });

  test('every route decision is a mark on its lane; episodes are labelled with reason and duration or "still open"', () => {
    expect(count(svg, /<line class="decision"/g)).toBe(6);
    expect(svg).toContain('>local-ping, 3m04s<');
    expect(svg).toContain('>local-unlisted, still open<');
    expect(svg).toContain('>pin, 4m00s<');
  });

  test('a host whose log could not be read has its lane, saying why', () => {
    expect(svg).toContain('log not read: no answer within the host timeout (90 s)');
  });

  test('the legend names the five kinds (and unknown) in their colours', () => {
    const legend = [...svg.matchAll(/<rect class="legend" data-kind="([a-z-]+)"[^>]*fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
    expect(legend).toEqual(['local', 'remote-storage', 'remote-management', 'pin', 'none', 'unknown']);
  });

  test('text from hosts and the manifest is escaped: no markup gets in', () => {
    const hostile = renderTimelineSvg(
      input({
        title: 'cluster <b>"x"</b> & co',
        hosts: ['node-1', `n<script>'`],
        unreadable: [{ host: `n<script>'`, reason: '<img src=x onerror=alert(1)>' }],
      }),
    );
    expect(hostile).not.toContain('<script>');
    expect(hostile).not.toContain('<img');
    expect(hostile).not.toContain('<b>');
    expect(hostile).toContain('data-host="n&lt;script&gt;&#39;"');
    expect(hostile).toContain('cluster &lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; co');
    expect(escapeXml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });

  test('durations read short: seconds, minutes and seconds, hours and minutes', () => {
    expect([42, 184, 3600, 7500].map(durationText)).toEqual(['42s', '3m04s', '1h00m', '2h05m']);
  });

  test('time ticks are labelled in UTC within the window', () => {
    const ticks = [...svg.matchAll(/<line class="tick" x1="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.length).toBeLessThanOrEqual(9);
    expect(svg).toContain('>00:00<');
    expect(svg).toContain('2026-12-01T23:50:00.000Z to 2026-12-02T00:40:00.000Z (UTC)');
  });
});
