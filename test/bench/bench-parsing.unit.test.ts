import { stats } from '../../bench/bench-result';
import { sampleFrom, summarizeFailover } from '../../bench/failover';
import { countRoundTrips, failureLines } from '../../bench/reconcile-scaling';
import { renderFailoverSvg } from '../../bench/report';
import { parseCallSamples, parseTimes } from '../../bench/session-source';
import { summarizeHostLogText } from '../../lab/services/io-summary';

/** The pure parts of the benchmarks (no lab, no root): what turns raw measurements into figures. */
describe('bench parsing', () => {
  it('stats gives quantiles of a sample and zeros for an empty one', () => {
    expect(stats([4, 1, 3, 2])).toEqual({ n: 4, min: 1, p50: 2.5, p90: 3.7, max: 4, mean: 2.5 });
    expect(stats([NaN])).toEqual({ n: 0, min: 0, p50: 0, p90: 0, max: 0, mean: 0 });
  });

  it('rusage and /proc/net/dev lines become per-call samples in ms, KiB and bytes', () => {
    const [c] = parseCallSamples('1500 400 200 1476 0\n', '900 6 427 4 420\n');
    expect(c).toEqual({
      wallMs: 1.5,
      userMs: 0.4,
      sysMs: 0.2,
      cpuMs: 0.6,
      maxRssKb: 1476,
      exit: 0,
      wireBytes: 1327,
      wirePackets: 10,
      responseBytes: 420,
    });
  });

  it('ash `times` output sums shell and children user+sys seconds', () => {
    expect(parseTimes('0m0.050s 0m0.010s\n1m2.000s 0m0.500s\n')).toBeCloseTo(62.56, 6);
  });

  it('the exec log counts execs per host and connects, skipping junk lines', () => {
    const log = [
      '{"event":"connect","kind":"esxi","node":"node-1"}',
      '{"event":"exec","kind":"esxi","node":"node-1"}',
      'garbage',
      '{"event":"exec","kind":"scvm","node":"node-1"}',
      '{"event":"exec","kind":"esxi","node":"node-1"}',
    ].join('\n');
    expect(countRoundTrips(log)).toEqual({ execs: { 'esxi:node-1': 2, 'scvm:node-1': 1 }, connects: 1 });
  });

  it('failure lines drop table drawing and keep what went wrong', () => {
    expect(
      failureLines('┌──┐\n│ node-16 │ esxi │ applied │ cannot reach 10.20.0.103 │\n└──┘\nApply finished with problems: 0 host(s) failed\n'),
    ).toEqual(['node-16 esxi applied cannot reach 10.20.0.103', 'Apply finished with problems: 0 host(s) failed']);
  });

  it('a failover sample reads the route move, the gap before the heal and the failback from one host log', () => {
    const rec = (o: object) => JSON.stringify(o);
    const lines = [rec({ t: 0, type: 'start', host: 'esxi-1', periodMs: 50 })];
    for (let t = 50; t <= 20_000; t += 50) {
      const failing = t > 1_000 && t < 3_000;
      lines.push(
        rec({
          t,
          type: 'io',
          seq: t / 50,
          ok: !failing,
          node: t < 3_000 || t >= 15_000 ? 'scvm-1' : 'scvm-2',
          ...(failing ? { err: 'ETIMEDOUT' } : {}),
        }),
      );
    }
    lines.push(rec({ t: 3_000, type: 'route', line: '192.168.33.2 via 10.20.0.102 dev vmk1' }));
    lines.push(rec({ t: 15_000, type: 'route', line: '192.168.33.2 via 10.20.0.101 dev vmk1' }));
    const s = summarizeHostLogText(lines.join('\n'));
    const sample = sampleFrom(s, {
      scenario: 'scvm-storage-down',
      interval: 1,
      round: 1,
      local: '10.20.0.101',
      tFault: 1_000,
      tHeal: 4_000,
      failbackDelayS: 10,
      failedOverTo: 'remote-storage',
    });
    expect(sample).toMatchObject({ failoverMs: 2_000, failbackMs: 11_000, failbackErrorMs: 1_000, failbackGapMs: 0 });
    expect(sample.gapMs).toBeGreaterThan(1_800);
    const sum = summarizeFailover([sample], { intervals: [1], failbackDelay: 10, pingTimeout: 1 }) as Record<
      string,
      { target: Record<string, unknown> }
    >;
    expect(sum['scvm-storage-down@1s']?.target).toMatchObject({
      gapWithinBound: '1/1',
      failbackWithinOneInterval: '1/1',
      failbackStructuralOffsetMs: 0,
      failbackWithinExpected: '1/1',
    });
    // 10 s at a 3 s interval: the loop can only fail back at 12 s, a structural +2 s.
    const at3 = summarizeFailover([{ ...sample, interval: 3 }], { intervals: [3], failbackDelay: 10, pingTimeout: 1 }) as Record<
      string,
      { target: Record<string, unknown> }
    >;
    expect(at3['scvm-storage-down@3s']?.target.failbackStructuralOffsetMs).toBe(2_000);
  });

  it('the failover SVG has one row per host and marks gaps', () => {
    const svg = renderFailoverSvg({
      interval: 1,
      failbackDelay: 12,
      tFault: 10_000,
      tHeal: 15_000,
      tEnd: 30_000,
      hosts: [
        {
          host: 'esxi-1',
          segments: [
            { from: 8_000, to: 11_000, node: 'scvm-1' },
            { from: 12_000, to: 30_000, node: 'scvm-2' },
          ],
          gaps: [{ from: 11_000, to: 12_000, ms: 950 }],
          routes: [{ t: 12_000, action: 'add', via: '10.20.0.102' }],
        },
        { host: 'esxi-2', segments: [{ from: 8_000, to: 30_000, node: 'scvm-2' }], gaps: [], routes: [] },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('>esxi-1</text>');
    expect(svg).toContain('>esxi-2</text>');
    expect(svg).toContain('gap 950 ms');
  });
});
