import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRouteLine, summarizeHostLog, summarizeHostLogText } from './io-summary';

const T0 = 1_764_000_000_000;
const P = 50;

/** A synthetic host-monitor log: `plan` is one char per probe ('a'/'b' = served by scvm-a/b, 'x' = failed). */
function log(plan: string, extra: object[] = [], opts: { start?: boolean; t0?: number } = {}): string {
  const t0 = opts.t0 ?? T0;
  const recs: object[] = [];
  if (opts.start !== false)
    recs.push({ t: t0 - 1, type: 'start', host: 'esxi-1', target: '192.168.33.2:2049', periodMs: P, timeoutMs: 300, pid: 1 });
  [...plan].forEach((c, i) => {
    const t = t0 + i * P;
    recs.push(
      c === 'x'
        ? { t, type: 'io', seq: i + 1, ok: false, err: 'ETIMEDOUT', ms: 300 }
        : { t, type: 'io', seq: i + 1, ok: true, node: `scvm-${c}`, ms: 1 },
    );
  });
  recs.push(...extra);
  return recs.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

describe('served-by timeline', () => {
  it('is one segment when one SCVM serves throughout', () => {
    const s = summarizeHostLogText(log('aaaa'));
    expect(s.host).toBe('esxi-1');
    expect(s.timeline).toEqual([{ from: T0, to: T0 + 3 * P, node: 'scvm-a' }]);
    expect(s.servedBy).toBe('scvm-a');
    expect(s.switches).toBe(0);
    expect(s.gaps).toEqual([]);
    expect(s.longestGapMs).toBe(0);
    expect(s).toMatchObject({ probes: 4, ok: 4, failed: 0 });
  });

  it('starts a new segment when another SCVM answers, and a failure does not split a segment', () => {
    const s = summarizeHostLogText(log('aaxabb'));
    expect(s.timeline.map((g) => [g.node, g.from, g.to])).toEqual([
      ['scvm-a', T0, T0 + 3 * P],
      ['scvm-b', T0 + 4 * P, T0 + 5 * P],
    ]);
    expect(s.switches).toBe(1);
    expect(s.servedBy).toBe('scvm-b');
  });

  it('orders probes by start time even when they were logged out of order (overlapping probes)', () => {
    const lines = log('ab').trim().split('\n');
    const swapped = [lines[0], lines[2], lines[1]].join('\n');
    expect(summarizeHostLogText(swapped).timeline.map((g) => g.node)).toEqual(['scvm-a', 'scvm-b']);
  });
});

describe('gaps', () => {
  it('measures a run of failed probes as the silence between successes minus one period', () => {
    const s = summarizeHostLogText(log('aaxxxxbb'));
    // last success at 1P, next at 6P: 5 periods apart, 4 of them without IO.
    expect(s.gaps).toEqual([{ from: T0 + P, to: T0 + 6 * P, ms: 4 * P, failedProbes: 4, ongoing: false }]);
    expect(s.longestGapMs).toBe(200);
    expect(s.longestGap).toEqual(s.gaps[0]);
  });

  it('picks the longest of several gaps', () => {
    const s = summarizeHostLogText(log('axaxxxaxxa'));
    expect(s.gaps.map((g) => [g.failedProbes, g.ms])).toEqual([
      [1, 50],
      [3, 150],
      [2, 100],
    ]);
    expect(s.longestGapMs).toBe(150);
  });

  it('counts silence longer than two periods as a gap even without failed probes (monitor stalled)', () => {
    const text = log('a') + JSON.stringify({ t: T0 + 10 * P, type: 'io', seq: 2, ok: true, node: 'scvm-a', ms: 1 }) + '\n';
    const s = summarizeHostLogText(text);
    expect(s.gaps).toEqual([{ from: T0, to: T0 + 10 * P, ms: 9 * P, failedProbes: 0, ongoing: false }]);
  });

  it('ignores normal jitter up to two periods', () => {
    const text = log('a') + JSON.stringify({ t: T0 + 2 * P, type: 'io', seq: 2, ok: true, node: 'scvm-a', ms: 1 }) + '\n';
    expect(summarizeHostLogText(text).gaps).toEqual([]);
  });

  it('reports a gap still open at the end of the log as ongoing', () => {
    const s = summarizeHostLogText(log('aaxxx'));
    expect(s.gaps).toEqual([{ from: T0 + P, to: T0 + 4 * P, ms: 3 * P, failedProbes: 3, ongoing: true }]);
    expect(s.servedBy).toBe('scvm-a');
  });

  it('reports failures before the first success as a leading gap', () => {
    const s = summarizeHostLogText(log('xxa'));
    expect(s.gaps).toEqual([{ from: T0, to: T0 + 2 * P, ms: 2 * P, failedProbes: 2, ongoing: false }]);
  });

  it('with no success at all, the whole window is one ongoing gap and nobody serves', () => {
    const s = summarizeHostLogText(log('xxxx'));
    expect(s.servedBy).toBeNull();
    expect(s.timeline).toEqual([]);
    expect(s.gaps).toEqual([{ from: T0, to: T0 + 3 * P, ms: 3 * P, failedProbes: 4, ongoing: true }]);
  });

  it('uses the period from the start record', () => {
    const text = log('axa').replace('"periodMs":50', '"periodMs":25');
    expect(summarizeHostLogText(text).longestGapMs).toBe(2 * P - 25);
  });
});

describe('time window', () => {
  it('only considers records at or after sinceMs, keeping the host name from before it', () => {
    const s = summarizeHostLogText(log('axxxaabb'), T0 + 5 * P);
    expect(s.host).toBe('esxi-1');
    expect(s.gaps).toEqual([]);
    expect(s.probes).toBe(3);
    expect(s.timeline.map((g) => g.node)).toEqual(['scvm-a', 'scvm-b']);
    expect(s.window).toEqual({ from: T0 + 5 * P, to: T0 + 7 * P });
  });

  it('filters route changes by time too', () => {
    const extra = [
      { t: T0 + P, type: 'route', line: '192.168.33.2 via 10.20.0.101 dev vmk1 ' },
      { t: T0 + 3 * P, type: 'route', line: 'Deleted 192.168.33.2 via 10.20.0.101 dev vmk1 ' },
    ];
    const s = summarizeHostLogText(log('aaaa', extra), T0 + 2 * P);
    expect(s.routeChanges.map((r) => r.action)).toEqual(['del']);
  });

  it('has no window when nothing falls inside it', () => {
    expect(summarizeHostLogText(log('aa'), T0 + 100 * P).window).toBeNull();
  });
});

describe('route lines from ip monitor', () => {
  it('parses an added /32 via a gateway', () => {
    expect(parseRouteLine('192.168.33.2 via 10.20.0.102 dev vmk1 ')).toEqual({
      action: 'add',
      type: 'unicast',
      dst: '192.168.33.2',
      via: '10.20.0.102',
      dev: 'vmk1',
      table: null,
    });
  });

  it('parses a deletion', () => {
    expect(parseRouteLine('Deleted 192.168.33.2 via 10.20.0.101 dev vmk1 proto static')).toMatchObject({
      action: 'del',
      dst: '192.168.33.2',
      via: '10.20.0.101',
    });
  });

  it('parses typed routes in other tables, and -ts / [ROUTE] prefixes', () => {
    expect(
      parseRouteLine('[2026-11-24T21:00:00.123456] [ROUTE]local 10.99.1.1 dev e table local proto kernel scope host src 10.99.1.1'),
    ).toMatchObject({
      action: 'add',
      type: 'local',
      dst: '10.99.1.1',
      via: null,
      dev: 'e',
      table: 'local',
    });
    expect(parseRouteLine('Deleted broadcast 10.99.1.255 dev e table local')).toMatchObject({
      action: 'del',
      type: 'broadcast',
      dst: '10.99.1.255',
    });
    expect(parseRouteLine('default via inet 10.0.0.1 dev x')).toMatchObject({ dst: 'default', via: '10.0.0.1' });
  });

  it('folds multipath nexthop lines into their route', () => {
    const extra = [
      { t: T0, type: 'route', line: '192.168.33.2 proto static ' },
      { t: T0, type: 'route', line: '\tnexthop via 10.20.0.101 dev vmk1 weight 1 ' },
      { t: T0, type: 'route', line: '\tnexthop via 10.20.0.102 dev vmk1 weight 1 ' },
    ];
    const s = summarizeHostLogText(log('a', extra));
    expect(s.routeChanges).toHaveLength(1);
    expect(s.routeChanges[0]).toMatchObject({ dst: '192.168.33.2', via: '10.20.0.101' });
  });
});

describe('robustness', () => {
  it('counts a half-written last line and junk as bad lines instead of failing', () => {
    const s = summarizeHostLogText(log('aa') + '{"t":17640000001' + '\nnot json\n[1,2]\n');
    expect(s.badLines).toBe(3);
    expect(s.ok).toBe(2);
  });

  it('works without a start record (default period, unknown host)', () => {
    const s = summarizeHostLogText(log('axa', [], { start: false }));
    expect(s.host).toBeNull();
    expect(s.periodMs).toBe(50);
    expect(s.longestGapMs).toBe(50);
  });

  it('summarizeHostLog reads the file, and a missing file is an error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrs-io-summary-'));
    try {
      const file = path.join(dir, 'esxi-1.io.jsonl');
      fs.writeFileSync(file, log('ab'));
      expect(summarizeHostLog(file).switches).toBe(1);
      expect(() => summarizeHostLog(path.join(dir, 'missing'))).toThrow(/ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
