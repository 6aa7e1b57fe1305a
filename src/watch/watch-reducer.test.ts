import {
  backoffMs,
  defaultWatchConfig,
  initialWatchState,
  nextWakeAt,
  reduceWatch,
  type DriftItem,
  type WatchConfig,
  type WatchEffect,
  type WatchEvent,
  type WatchState,
} from './watch-reducer';

const CRON: DriftItem = { hostKind: 'esxi', item: 'crontab', reason: 'crontab line missing' };
const KEY: DriftItem = { hostKind: 'scvm', item: 'authorized_keys', reason: 'key entry missing' };

function cfg(over: Partial<WatchConfig> = {}): WatchConfig {
  return defaultWatchConfig({
    mode: 'correct',
    intervalMs: 10_000,
    jitter: 0,
    parallelism: 8,
    retryBaseMs: 1_000,
    backoffMaxMs: 60_000,
    confirmDelayMs: 2_000,
    ...over,
  });
}

/** Feeds events in order; collects every effect. */
class Sim {
  state: WatchState;
  effects: WatchEffect[] = [];
  constructor(config: WatchConfig, nodes = ['node-1', 'node-2', 'node-3']) {
    this.state = initialWatchState(config, 42);
    this.send({ type: 'manifest-loaded', now: 0, nodes, manifestSha: 'a', source: 'cluster.yaml' });
  }
  send(e: WatchEvent): WatchEffect[] {
    const r = reduceWatch(this.state, e);
    this.state = r.state;
    this.effects.push(...r.effects);
    return r.effects;
  }
  jobs(effects: WatchEffect[]): string[] {
    return effects
      .filter((e) => e.type === 'observe' || e.type === 'correct' || e.type === 'prune')
      .map((e) => `${e.type}:${(e as { node: string }).node}`);
  }
  logs(event: string): Extract<WatchEffect, { type: 'log' }>[] {
    return this.effects.filter((e): e is Extract<WatchEffect, { type: 'log' }> => e.type === 'log' && e.event === event);
  }
}

const inSync = { unreachable: [], drift: [] };

describe('watch reducer: scheduling', () => {
  it('observes every node at start, then again one period after each in-sync check', () => {
    const sim = new Sim(cfg());
    expect(sim.jobs(sim.effects)).toEqual(['observe:node-1', 'observe:node-2', 'observe:node-3']);
    expect(sim.logs('watch-started')).toHaveLength(1);
    sim.send({ type: 'observed', now: 500, node: 'node-1', outcome: inSync });
    expect(sim.state.hosts['node-1']?.dueAt).toBe(10_500);
    expect(sim.jobs(sim.send({ type: 'tick', now: 10_499 }))).toEqual([]);
    expect(sim.jobs(sim.send({ type: 'tick', now: 10_500 }))).toEqual(['observe:node-1']);
  });

  it('never has more jobs in flight than the parallelism allows', () => {
    const sim = new Sim(cfg({ parallelism: 2 }));
    expect(sim.jobs(sim.effects)).toEqual(['observe:node-1', 'observe:node-2']);
    const next = sim.send({ type: 'observed', now: 100, node: 'node-2', outcome: inSync });
    expect(sim.jobs(next)).toEqual(['observe:node-3']);
  });

  it('starts at most one job per host: a due host that is busy is not started again', () => {
    const sim = new Sim(cfg());
    sim.send({ type: 'observed', now: 100, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
    expect(sim.state.hosts['node-1']?.busy).toBe('correct');
    for (const now of [20_000, 40_000, 80_000])
      expect(sim.jobs(sim.send({ type: 'tick', now })).filter((j) => j.endsWith('node-1'))).toEqual([]);
  });

  it('spreads checks with jitter inside ± the configured fraction, deterministically from the seed', () => {
    const run = () => {
      const sim = new Sim(
        cfg({ jitter: 0.2 }),
        Array.from({ length: 20 }, (_, i) => `n-${i}`),
      );
      for (let i = 0; i < 20; i++) sim.send({ type: 'observed', now: 0, node: `n-${i}`, outcome: inSync });
      return Object.values(sim.state.hosts).map((h) => h.dueAt);
    };
    const dues = run();
    expect(run()).toEqual(dues);
    for (const d of dues) {
      expect(d).toBeGreaterThanOrEqual(8_000);
      expect(d).toBeLessThanOrEqual(12_000);
    }
    expect(new Set(dues).size).toBeGreaterThan(5);
  });

  it('nextWakeAt is the earliest due time of an idle host', () => {
    const sim = new Sim(cfg());
    expect(nextWakeAt(sim.state)).toBeUndefined();
    sim.send({ type: 'observed', now: 100, node: 'node-2', outcome: inSync });
    expect(nextWakeAt(sim.state)).toBe(10_100);
  });
});

describe('watch reducer: drift', () => {
  it('correct mode: a drift found is logged per item and corrected, then confirmed soon after', () => {
    const sim = new Sim(cfg());
    const eff = sim.send({ type: 'observed', now: 100, node: 'node-1', outcome: { unreachable: [], drift: [CRON, KEY] } });
    expect(sim.jobs(eff)).toEqual(['correct:node-1']);
    expect(sim.logs('drift-found').map((l) => l.fields)).toEqual([
      expect.objectContaining({ host: 'node-1', hostKind: 'esxi', item: 'crontab', reason: 'crontab line missing' }),
      expect.objectContaining({ host: 'node-1', hostKind: 'scvm', item: 'authorized_keys', reason: 'key entry missing' }),
    ]);
    sim.send({ type: 'corrected', now: 900, node: 'node-1', outcome: { kind: 'ok', items: [CRON, KEY] } });
    expect(sim.logs('drift-corrected')).toHaveLength(2);
    expect(sim.state.hosts['node-1']?.busy).toBeUndefined();
    expect(sim.state.hosts['node-1']).toMatchObject({ failures: 0, dueAt: 2_900 });
  });

  it('report mode: drift is logged, never corrected, and an unchanged drift is not re-announced as a warning', () => {
    const sim = new Sim(cfg({ mode: 'report' }));
    const eff = sim.send({ type: 'observed', now: 100, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
    expect(sim.jobs(eff)).toEqual([]);
    expect(sim.logs('drift-found')[0]?.level).toBe('warn');
    sim.send({ type: 'tick', now: 10_100 });
    sim.send({ type: 'observed', now: 10_200, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
    expect(sim.logs('drift-found').map((l) => l.level)).toEqual(['warn', 'debug']);
    expect(sim.effects.some((e) => e.type === 'correct')).toBe(false);
    sim.send({ type: 'tick', now: 20_200 });
    sim.send({ type: 'observed', now: 20_300, node: 'node-1', outcome: inSync });
    expect(sim.logs('in-sync')).toHaveLength(1);
  });

  it('a failed correction backs off exponentially up to the ceiling, and success resets it', () => {
    const sim = new Sim(cfg({ retryBaseMs: 1_000, backoffMaxMs: 5_000 }));
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      sim.send({ type: 'tick', now });
      sim.send({ type: 'observed', now, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
      sim.send({ type: 'corrected', now, node: 'node-1', outcome: { kind: 'failed', items: [CRON], reason: 'CAS mismatch' } });
      const due = sim.state.hosts['node-1']?.dueAt ?? 0;
      delays.push(due - now);
      now = due;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(
      sim
        .logs('drift-correction-failed')
        .every((l) => l.level === 'error' && l.fields.reason === 'CAS mismatch' && l.fields.item === 'crontab'),
    ).toBe(true);
    sim.send({ type: 'tick', now });
    sim.send({ type: 'observed', now, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
    sim.send({ type: 'corrected', now, node: 'node-1', outcome: { kind: 'ok', items: [CRON] } });
    expect(sim.state.hosts['node-1']?.failures).toBe(0);
  });

  it('a correction deferred by a held lock is retried soon and is not counted as a host failure', () => {
    const sim = new Sim(cfg());
    sim.send({ type: 'observed', now: 0, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
    sim.send({ type: 'corrected', now: 10, node: 'node-1', outcome: { kind: 'deferred', reason: 'state lock held by `reroute apply`' } });
    expect(sim.state.hosts['node-1']).toMatchObject({ failures: 0, dueAt: 1_010 });
    expect(sim.logs('correction-deferred')[0]?.fields.reason).toContain('reroute apply');
  });

  it('one failing host does not delay the others', () => {
    const sim = new Sim(cfg({ parallelism: 1 }), ['bad', 'good']);
    sim.send({
      type: 'observed',
      now: 0,
      node: 'bad',
      outcome: { unreachable: [{ hostKind: 'esxi', reason: 'connect timeout' }], drift: [] },
    });
    const eff = sim.effects.filter((e) => e.type === 'observe').map((e) => (e as { node: string }).node);
    expect(eff).toEqual(['bad', 'good']);
  });
});

describe('watch reducer: unreachable hosts', () => {
  it('retries an unreachable host with backoff capped at the period, logs only the transition as a warning, and re-checks soon after it returns', () => {
    const sim = new Sim(cfg({ intervalMs: 10_000, retryBaseMs: 1_000, confirmDelayMs: 2_000 }), ['node-1']);
    const down = { unreachable: [{ hostKind: 'esxi' as const, reason: 'connection refused' }], drift: [] };
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      sim.send({ type: 'tick', now });
      sim.send({ type: 'observed', now, node: 'node-1', outcome: down });
      const due = sim.state.hosts['node-1']?.dueAt ?? 0;
      delays.push(due - now);
      now = due;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(sim.logs('host-unreachable').map((l) => l.level)).toEqual(['warn', 'debug', 'debug', 'debug', 'debug', 'debug']);
    sim.send({ type: 'tick', now });
    sim.send({ type: 'observed', now, node: 'node-1', outcome: inSync });
    expect(sim.logs('host-returned')).toHaveLength(1);
    expect(sim.state.hosts['node-1']).toMatchObject({ reachable: true, failures: 0, dueAt: now + 2_000 });
  });

  it('a host back from unreachable with drift is corrected at once', () => {
    const sim = new Sim(cfg(), ['node-1']);
    sim.send({
      type: 'observed',
      now: 0,
      node: 'node-1',
      outcome: { unreachable: [{ hostKind: 'esxi', reason: 'rebooting' }], drift: [] },
    });
    sim.send({ type: 'tick', now: 1_000 });
    const eff = sim.send({
      type: 'observed',
      now: 1_100,
      node: 'node-1',
      outcome: { unreachable: [], drift: [{ hostKind: 'esxi', item: 'agent', reason: 'agent not running' }] },
    });
    expect(sim.jobs(eff)).toEqual(['correct:node-1']);
  });
});

describe('watch reducer: manifest changes', () => {
  it('an invalid manifest is reported with its problems and changes nothing', () => {
    const sim = new Sim(cfg());
    const before = sim.state;
    sim.send({ type: 'manifest-invalid', now: 5, problems: ['cluster.yaml:12:9: bad ip [schema.format]'], source: 'cluster.yaml' });
    expect(sim.state.hosts).toEqual(before.hosts);
    expect(sim.state.manifestSha).toBe('a');
    const log = sim.logs('manifest-invalid')[0];
    expect(log?.level).toBe('error');
    expect(log?.message).toContain('cluster.yaml:12:9');
    expect(log?.message).toContain('last good manifest stays in force');
  });

  it('a valid change re-plans every node now and adds new nodes', () => {
    const sim = new Sim(cfg(), ['node-1', 'node-2']);
    sim.send({ type: 'observed', now: 0, node: 'node-1', outcome: inSync });
    sim.send({ type: 'observed', now: 0, node: 'node-2', outcome: inSync });
    const eff = sim.send({
      type: 'manifest-loaded',
      now: 100,
      nodes: ['node-1', 'node-2', 'node-3'],
      manifestSha: 'b',
      source: 'cluster.yaml',
    });
    expect(sim.jobs(eff)).toEqual(['observe:node-1', 'observe:node-2', 'observe:node-3']);
    expect(sim.logs('manifest-reloaded')[0]?.fields.added).toEqual(['node-3']);
  });

  it('without --prune a removed node is only dropped from the watch, never torn down', () => {
    const sim = new Sim(cfg(), ['node-1', 'node-2']);
    sim.send({ type: 'observed', now: 0, node: 'node-2', outcome: inSync });
    const eff = sim.send({ type: 'manifest-loaded', now: 100, nodes: ['node-1'], manifestSha: 'b', source: 'cluster.yaml' });
    expect(eff.some((e) => e.type === 'prune')).toBe(false);
    expect(sim.state.hosts['node-2']).toBeUndefined();
    expect(sim.logs('node-removed')[0]?.fields).toEqual({ node: 'node-2', prune: false });
  });

  it('a removed node busy with a job is dropped when the job ends, and not corrected', () => {
    const sim = new Sim(cfg(), ['node-1', 'node-2']);
    sim.send({ type: 'manifest-loaded', now: 100, nodes: ['node-1'], manifestSha: 'b', source: 'cluster.yaml' });
    expect(sim.state.hosts['node-2']?.removed).toBe('drop');
    const eff = sim.send({ type: 'observed', now: 200, node: 'node-2', outcome: { unreachable: [], drift: [CRON] } });
    expect(sim.jobs(eff)).toEqual([]);
    expect(sim.state.hosts['node-2']).toBeUndefined();
  });

  it('with --prune a removed node is torn down once, then forgotten', () => {
    const sim = new Sim(cfg({ prune: true }), ['node-1', 'node-2']);
    sim.send({ type: 'observed', now: 0, node: 'node-2', outcome: inSync });
    const eff = sim.send({ type: 'manifest-loaded', now: 100, nodes: ['node-1'], manifestSha: 'b', source: 'cluster.yaml' });
    expect(sim.jobs(eff)).toEqual(['prune:node-2']);
    sim.send({ type: 'pruned', now: 200, node: 'node-2', ok: true });
    expect(sim.state.hosts['node-2']).toBeUndefined();
    expect(sim.logs('node-pruned')).toHaveLength(1);
  });
});

describe('watch reducer: stop', () => {
  it('stops at once when idle', () => {
    const sim = new Sim(cfg(), ['node-1']);
    sim.send({ type: 'observed', now: 0, node: 'node-1', outcome: inSync });
    const eff = sim.send({ type: 'stop', now: 10, signal: 'SIGTERM' });
    expect(eff.some((e) => e.type === 'done')).toBe(true);
  });

  it('finishes the correction in flight, starts nothing new, then is done', () => {
    const sim = new Sim(cfg(), ['node-1', 'node-2']);
    sim.send({ type: 'observed', now: 0, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
    sim.send({ type: 'observed', now: 0, node: 'node-2', outcome: inSync });
    let eff = sim.send({ type: 'stop', now: 10, signal: 'SIGINT' });
    expect(eff.some((e) => e.type === 'done')).toBe(false);
    expect(sim.logs('watch-stopping')[0]?.fields.inFlight).toEqual(['node-1']);
    expect(sim.jobs(sim.send({ type: 'tick', now: 100_000 }))).toEqual([]);
    eff = sim.send({ type: 'corrected', now: 100_100, node: 'node-1', outcome: { kind: 'ok', items: [CRON] } });
    expect(eff.some((e) => e.type === 'done')).toBe(true);
    expect(sim.jobs(eff)).toEqual([]);
  });

  it('a drift found while stopping is reported but not corrected', () => {
    const sim = new Sim(cfg(), ['node-1']);
    sim.send({ type: 'stop', now: 1, signal: 'SIGTERM' });
    const eff = sim.send({ type: 'observed', now: 2, node: 'node-1', outcome: { unreachable: [], drift: [CRON] } });
    expect(sim.jobs(eff)).toEqual([]);
    expect(eff.some((e) => e.type === 'done')).toBe(true);
  });
});

describe('backoffMs', () => {
  it('doubles from the base and stops at the ceiling', () => {
    expect([0, 1, 2, 3, 10, 1000].map((f) => backoffMs(f, 500, 3_000))).toEqual([0, 500, 1_000, 2_000, 3_000, 3_000]);
  });
});
