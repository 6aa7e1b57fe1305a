import type { BenchResult } from '../../bench/bench-result';
import {
  countChanges,
  detectionBoundMs,
  detectionFrom,
  lossProfileMd,
  offLocalMs,
  summarizeConfig,
  type DetectionSample,
  type RouteEvent,
  type WindowSample,
} from '../../bench/loss-profile-summary';
import { lossProfileParams } from '../../bench/loss-profile';

/** The loss profile's arithmetic (no lab, no root): route changes, detection, the targets. */
describe('loss profile figures', () => {
  const L = '10.20.0.101';
  const R = '10.20.0.102';
  const ev = (t: number, action: 'add' | 'del', via: string | null): RouteEvent => ({ t, action, via });

  it('a switch away and back counts as two changes; deletes and re-adds of the same gateway do not count', () => {
    const events = [ev(100, 'del', L), ev(101, 'add', R), ev(200, 'del', R), ev(201, 'add', L), ev(300, 'del', L), ev(301, 'add', L)];
    expect(countChanges(events, L, 0, 1000)).toEqual({ changes: 2, vias: [R, L] });
    expect(countChanges(events, R, 150, 1000).changes).toBe(1);
  });

  it('time off the local SCVM runs from the move away to the move back, or to the end of the window', () => {
    expect(offLocalMs([ev(100, 'add', R), ev(300, 'add', L)], L, L, 0, 1000)).toBe(200);
    expect(offLocalMs([ev(100, 'add', R)], L, L, 0, 1000)).toBe(900);
    expect(offLocalMs([], L, R, 0, 1000)).toBe(1000);
  });

  it('detection is the first add away from the local SCVM after the fault, and none past the limit', () => {
    const events = [ev(50, 'add', R), ev(900, 'add', L), ev(1500, 'add', R)];
    expect(detectionFrom(events, L, 1000, 5000)).toBe(500);
    expect(detectionFrom(events, L, 1000, 1400)).toBeNull();
  });

  it('the bound is 2 intervals + ping timeout + 1 s: 8 s at 3 s, 4 s at 1 s', () => {
    expect(detectionBoundMs(3, 1)).toBe(8000);
    expect(detectionBoundMs(1, 1)).toBe(4000);
  });

  it('a failed run is never within the bound, and any route change at <= 5 % loss misses the no-false-failover target', () => {
    const c = { loss: 5, interval: 3 };
    const windows: WindowSample[] = [
      { ...c, phase: 'window', host: 'esxi-1', windowMs: 90_000, startVia: L, changes: 0, offLocalMs: 0 },
      { ...c, phase: 'window', host: 'esxi-2', windowMs: 90_000, startVia: L, changes: 1, offLocalMs: 4_000 },
      { ...c, phase: 'trial-spare', host: 'esxi-4', windowMs: 36_000, startVia: L, changes: 0, offLocalMs: 0 },
    ];
    const runs: DetectionSample[] = [
      { ...c, trial: 1, host: 'esxi-2', detectionMs: 5_000, source: 'monitor', pollMs: 5_050, faultApplyMs: 20, failure: null },
      {
        ...c,
        trial: 1,
        host: 'esxi-3',
        detectionMs: null,
        source: null,
        pollMs: null,
        faultApplyMs: 20,
        failure: 'no route move within 30 s',
      },
    ];
    const s = summarizeConfig(c, windows, runs, { pingTimeout: 1, probeLossPct: 18.5 });
    expect(s.detection).toMatchObject({ runs: 2, failedRuns: 1, withinBound: '1/2', met: false, boundMs: 8000 });
    expect(s.detection.ms.p50).toBe(5000);
    expect(s.window).toMatchObject({
      hosts: 2,
      changes: 1,
      windowS: 90,
      spareS: 36,
      spareChanges: 0,
      hostHours: 0.06,
      changesPerHostHour: 16.7,
      offLocalS: 4,
    });
    expect(s.noFalseFailovers).toBe(false);
    expect(summarizeConfig({ loss: 20, interval: 3 }, [], [], { pingTimeout: 1, probeLossPct: null }).noFalseFailovers).toBeNull();
  });

  it('the full profile has every loss and interval of the issue and at least 10 runs per configuration', () => {
    const p = lossProfileParams(false);
    expect(p.losses).toEqual([0, 1, 5, 20, 50]);
    expect(p.intervals).toEqual([3, 1]);
    expect(p.trials * (p.nodes - 1)).toBeGreaterThanOrEqual(10);
  });

  it('the docs section shows each configuration and the seed figure', () => {
    const c = { loss: 0, interval: 3 };
    const r = {
      benchmark: 'loss-profile',
      mode: 'smoke',
      date: '2026-12-01T16:00:00.000Z',
      lab: { nodes: 4, name: 'b' },
      source: { commit: 'abc', dirty: false },
      parameters: { ...lossProfileParams(true) },
      summary: { configs: { 'loss 0 % @ 3 s': summarizeConfig(c, [], [], { pingTimeout: 1, probeLossPct: 0 }) } },
      notes: [],
    } as unknown as BenchResult;
    const md = lossProfileMd(r, () => 'HEADER');
    expect(md).toContain('| 0 % | 0 % | 3 s | – |');
    expect(md).toContain('≈ 30 s');
  });
});
