/**
 * The agent against issue 12's hostile faults, one 3-node lab (INTERVAL=1 s, FAILBACK_DELAY=4 s,
 * PING_TIMEOUT=1 s). Scenarios that cannot disturb each other run at the same time:
 *   phase A  node-1  SCVM storage link down: IO still moves within a bounded time
 *            node-2  meta unreachable from this host (REST refused to every SCVM): blind, route kept
 *            node-3  every meta answers a 50 MB session list: refused, iterations bounded, no orphans
 *   phase B  node-2  still blind, its SCVM dies while peers answer: IO moves within a bounded time
 *   phase C  node-1  drain to scvm-2, then scvm-2 dies: IO to scvm-3, not back to scvm-1
 *   then     node-3  kill -9 of the loop during a route switch (route tool hung): a route again
 *                    within one iteration of the next start; same from a state with no route at all
 *   phase D  all     every meta hangs (accepts, never answers): all blind, no route moves
 * (phase B kills scvm-2 only once node-1 is home again, the drain once node-2 is home again; the
 * kill -9 follows node-3's own scenario.)
 */
import { Lab, type LabNode } from '../../lab/lab';
import { agentLog, installAgent, installDir, loopPids, rewriteConf, routeVia, sleep, status, until, type AgentTiming } from './agent-lab';
import { updateScvm } from '../../lab/services/cluster-state';
import {
  blockMeta,
  hugeSessionBody,
  longestRoutelessMs,
  nfsRouteAdds,
  result,
  settle,
  startHugeMeta,
  unblockMeta,
  workerProcs,
  writePin,
  type Outcome,
} from './agent-lab-probes';
import { describeLab } from '../support/describe-lab';
import { useAgentLab } from './use-agent-lab';

jest.setTimeout(300_000);

const T: AgentTiming = { interval: 1, failbackDelay: 4, pingTimeout: 1 };
const BLIND_AFTER = 5; // the agent's default
const HUGE_PORT = 8080;
const HUGE_BYTES = 50 * 1024 * 1024;
/** Longest any one iteration (or one of its children) may take, with a loaded 2-core CI box's margin. */
const ITERATION_BOUND_MS = 20_000;

const measured: Record<string, number | string> = {};

const node = (i: number): LabNode => agentLab.node(i);
const L = (): Lab => agentLab.lab;
const peersStorage = (n: LabNode): string[] =>
  L()
    .nodes.filter((m) => m !== n)
    .map((m) => m.scvm.storageIp);

async function startLoop(n: LabNode): Promise<void> {
  await L().execOk(n.esxi.target, `/bin/sh ${installDir(n)}/reroute-loop.sh </dev/null >/dev/null 2>&1 &`);
}

/** kill -9 of the loop named by the heartbeat; returns that pid. */
async function killLoop(n: LabNode): Promise<string> {
  const pid = status(n).pid ?? '';
  if (pid) await L().exec(n.esxi.target, `kill -9 ${pid}`);
  return pid;
}

/** The route when a loop other than `oldPid` writes its first heartbeat (the end of its first iteration). */
async function firstHeartbeat(n: LabNode, oldPid: string, since: number): Promise<{ route: string; ms: number }> {
  await until(
    "the new loop's first heartbeat",
    60_000,
    () => status(n).pid !== oldPid && Number(status(n).updated) * 1000 >= since - 1_000,
    20,
  );
  return { route: routeVia(n), ms: Date.now() - since };
}

function home(n: LabNode, what: string, ms: number): Promise<true> {
  return until(`${n.esxi.target} ${what}`, ms, () => routeVia(n) === n.scvm.storageIp, 200);
}

// ------------------------------------------------------------------ phase A

async function storageLinkDown(n: LabNode) {
  const tFault = Date.now();
  await L().fault('storage-down', n.scvm.target);
  // From the link being down (the lab's own command takes seconds on a loaded machine).
  const t0 = Date.now();
  try {
    await until('failover away from the dead storage link', 30_000, () => peersStorage(n).includes(routeVia(n)), 100);
    const movedMs = Date.now() - t0;
    await sleep(1_500);
    const io = L().io(tFault)[n.esxi.target];
    return { movedMs, servedBy: io?.servedBy, ioGapMs: io?.longestGapMs ?? -1, kind: status(n).target_kind };
  } finally {
    await L().heal('storage-down', n.scvm.target);
    await home(n, 'back home after the link healed', 60_000);
  }
}

async function metaBlind(n: LabNode) {
  const t0 = Date.now();
  blockMeta(n);
  const st = await until('heartbeat blind=1', 60_000, () => (status(n).blind === '1' ? status(n) : undefined), 200);
  const blindMs = Date.now() - t0;
  await sleep(3 * T.interval * 1000);
  return { blindMs, st, kept: routeVia(n), changes: nfsRouteAdds(L(), n, t0).length, log: agentLog(n), later: status(n) };
}

async function hugeBody(n: LabNode, body: Buffer) {
  const huge = await startHugeMeta(L(), body, HUGE_PORT);
  try {
    rewriteConf(L(), n, T, 'rest', { REST_PORT: String(HUGE_PORT) });
    const t0 = Date.now();
    let staleMs = 0;
    let oldest = { ageS: 0, what: '' };
    const fetches = new Set<string>();
    while (Date.now() - t0 < 20_000) {
      const st = status(n);
      staleMs = Math.max(staleMs, Date.now() - Number(st.updated ?? 0) * 1000);
      // Heartbeats written since the big body is served (whole seconds; one iteration for the new conf).
      if (st.fetch && Number(st.updated) * 1000 > t0 + 2_000) fetches.add(st.fetch);
      for (const p of workerProcs(n, loopPids(n))) {
        if (p.ageS > oldest.ageS) oldest = { ageS: p.ageS, what: `${p.comm}: ${p.cmdline}` };
      }
      await sleep(500);
    }
    const during = {
      staleMs,
      oldest,
      fetches: [...fetches],
      st: status(n),
      route: routeVia(n),
      changes: nfsRouteAdds(L(), n, t0).length,
      log: agentLog(n),
    };
    // The loop dies (kill -9) in the middle of this: whatever it had started must not live on.
    const killedAt = Date.now();
    await killLoop(n);
    await sleep(12_000);
    const orphans = workerProcs(n, loopPids(n)).filter((p) => p.ageS * 1000 > Date.now() - killedAt);
    return { during, orphans: orphans.map((p) => `${p.comm}: ${p.cmdline}`) };
  } finally {
    rewriteConf(L(), n, T, 'rest');
    huge.stop();
    if (loopPids(n).length === 0) await startLoop(n);
    await until('fetch ok from the real meta again', 30_000, () => status(n).fetch === 'ok', 200);
  }
}

// ------------------------------------------------------------------ phase B

async function blindThenLocalDies(n: LabNode) {
  await L().fault('scvm-down', n.scvm.target);
  // From the links going down: the lab stops the SCVM's services first, its links last.
  const t0 = Date.now();
  let r;
  try {
    await until('IO moved to a peer while blind', 60_000, () => peersStorage(n).includes(routeVia(n)), 100);
    const movedMs = Date.now() - t0;
    await sleep(1_500);
    r = { movedMs, route: routeVia(n), st: status(n), servedBy: L().io(Date.now() - 800)[n.esxi.target]?.servedBy };
  } finally {
    unblockMeta(n);
    await L().heal('scvm-down', n.scvm.target);
  }
  await until('sight back logged', 60_000, () => /sight back: session list from/.test(agentLog(n)), 200);
  await home(n, 'back home after its SCVM booted', 90_000);
  return { ...r, sightBack: status(n), log: agentLog(n) };
}

// ------------------------------------------------------------------ phase C

async function drainTargetDies(n: LabNode, drainTo: LabNode, third: LabNode) {
  writePin(n, drainTo.scvm.storageIp);
  try {
    await until('drained to the pin', 20_000, () => routeVia(n) === drainTo.scvm.storageIp, 100);
    await L().fault('scvm-down', drainTo.scvm.target);
    const t0 = Date.now();
    await until('off the dead drain target', 30_000, () => routeVia(n) !== drainTo.scvm.storageIp && routeVia(n) !== '', 100);
    const movedMs = Date.now() - t0;
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      seen.add(routeVia(n));
      await sleep(250);
    }
    return { movedMs, seen: [...seen], third: third.scvm.storageIp, log: agentLog(n) };
  } finally {
    writePin(n, null);
    await L().heal('scvm-down', drainTo.scvm.target);
    await home(n, 'home after the pin was removed', 30_000);
  }
}

async function killDuringSwitch(n: LabNode, pinTo: LabNode) {
  const l = L();
  await l.fault('route-tool-hang', n.esxi.target);
  writePin(n, pinTo.scvm.storageIp);
  try {
    return await killDuringSwitchSteps(n, pinTo);
  } finally {
    await l.heal('route-tool-hang', n.esxi.target);
    writePin(n, null);
    if (loopPids(n).length === 0) await startLoop(n);
    await home(n, 'home after the pin was removed', 30_000);
  }
}

async function killDuringSwitchSteps(n: LabNode, pinTo: LabNode) {
  const l = L();
  const hung = await until(
    'the agent inside a (hung) route tool',
    20_000,
    () => workerProcs(n, loopPids(n)).find((p) => /esxcfg-route|esxcli/.test(p.cmdline)),
    100,
  );
  const tKill = Date.now();
  const killed = await killLoop(n);
  await l.heal('route-tool-hang', n.esxi.target);
  // Cron would start the next loop within a minute; start it now, as cron does.
  const tStart = Date.now();
  await startLoop(n);
  const first = await firstHeartbeat(n, killed, tStart);
  await until('33.2 via the pin after the restart', 30_000, () => routeVia(n) === pinTo.scvm.storageIp, 50);
  const afterStartMs = Date.now() - tStart;
  await sleep(1_000);
  const routelessMs = longestRoutelessMs(l, n, tKill, Date.now());

  // The worst point of a switch: the old route deleted, the new one not added, the loop dead.
  const killed2 = await killLoop(n);
  const gw = routeVia(n);
  await l.execOk(n.esxi.target, `esxcfg-route -d 192.168.33.2/32 ${gw}`);
  const noRoute = routeVia(n);
  const t2 = Date.now();
  await startLoop(n);
  const first2 = await firstHeartbeat(n, killed2, t2);
  await until('a 33.2 route from a start that found none', 30_000, () => routeVia(n) !== '', 50);
  const restoredMs = Date.now() - t2;
  const restoredVia = routeVia(n);
  // Forks of the killed loop (watchdogs) look like loops until they end: one loop must remain.
  const loops = await until('one loop', 20_000, () => (loopPids(n).length === 1 ? 1 : undefined), 250).catch(() => loopPids(n).length);
  return { hung: hung.cmdline, first, afterStartMs, routelessMs, noRoute, first2, restoredMs, restoredVia, loops, log: agentLog(n) };
}

// ------------------------------------------------------------------ phase D

/** Every SCVM's meta accepts and never answers (the cluster file's `hung`): timeouts, not refusals. */
async function metaHungEverywhere() {
  const l = L();
  await until('every host home before metas hang', 60_000, () => l.nodes.every((n) => routeVia(n) === n.scvm.storageIp), 200);
  const logAt = l.nodes.map((n) => agentLog(n).length);
  const t0 = Date.now();
  for (const n of l.nodes) updateScvm(l.clusterFile, n.scvm.target, { hung: true });
  try {
    let staleMs = 0;
    await until(
      'every host blind',
      120_000,
      () => {
        for (const n of l.nodes) staleMs = Math.max(staleMs, Date.now() - Number(status(n).updated ?? 0) * 1000);
        return l.nodes.every((n) => status(n).blind === '1');
      },
      200,
    );
    const blindMs = Date.now() - t0;
    await sleep(3_000);
    return {
      blindMs,
      staleMs,
      hosts: l.nodes.map((n, i) => ({
        host: n.esxi.target,
        route: routeVia(n),
        changes: nfsRouteAdds(l, n, t0).length,
        blindLines: agentLog(n)
          .slice(logAt[i])
          .match(/blind: no session list for \d+ iterations/g),
      })),
    };
  } finally {
    for (const n of l.nodes) updateScvm(l.clusterFile, n.scvm.target, { hung: false });
    await until('sight back everywhere', 60_000, () => l.nodes.every((n) => status(n).blind === '0'), 200);
  }
}

// ------------------------------------------------------------------ setup

const s: {
  storage?: Promise<Outcome<Awaited<ReturnType<typeof storageLinkDown>>>>;
  blind?: Promise<Outcome<Awaited<ReturnType<typeof metaBlind>>>>;
  huge?: Promise<Outcome<Awaited<ReturnType<typeof hugeBody>>>>;
  blindDies?: Promise<Outcome<Awaited<ReturnType<typeof blindThenLocalDies>>>>;
  drain?: Promise<Outcome<Awaited<ReturnType<typeof drainTargetDies>>>>;
  kill?: Promise<Outcome<Awaited<ReturnType<typeof killDuringSwitch>>>>;
  hung?: Promise<Outcome<Awaited<ReturnType<typeof metaHungEverywhere>>>>;
} = {};

const agentLab = useAgentLab('thostile', { lab: { nodes: 3 }, beforeStop: reportScenarios });

/** Runs while the lab is still up: every scenario settled, its measurements printed, meta unblocked. */
async function reportScenarios(): Promise<void> {
  await Promise.all(Object.values(s));
  console.log(`hostile-fault measurements: ${JSON.stringify(measured)}`);
  for (const n of agentLab.lab.nodes) unblockMeta(n);
}

describeLab('agent under hostile faults (issue 12)', () => {
  beforeAll(async () => {
    const l = agentLab.lab;
    await Promise.all(l.nodes.map((n) => installAgent(l, n, agentLab.key, T, 'rest')));
    await until('every host routed via its own SCVM', 60_000, () =>
      l.nodes.every((n) => routeVia(n) === n.scvm.storageIp && status(n).target_kind === 'local'),
    );
    // Built before any scenario starts: 50 MB of JSON blocks this process (and its polling) for seconds.
    const body = hugeSessionBody(l, HUGE_BYTES);
    s.storage = settle(storageLinkDown(node(1)));
    s.blind = settle(metaBlind(node(2)));
    s.huge = settle(hugeBody(node(3), body));
    // scvm-2 dies only once node-1 is no longer failed over (it may have picked scvm-2).
    const phaseB = Promise.all([s.storage, s.blind]).then(() => blindThenLocalDies(node(2)));
    s.blindDies = settle(phaseB);
    s.drain = settle(s.blindDies.then(() => drainTargetDies(node(1), node(2), node(3))));
    s.kill = settle(s.huge.then(() => killDuringSwitch(node(3), node(1))));
    s.hung = settle(Promise.all([s.drain, s.kill]).then(() => metaHungEverywhere()));
  }, 120_000);

  test('a real SCVM storage link failure still moves IO to a peer within a bounded time', async () => {
    const r = await result(s.storage);
    measured.storageDownMovedMs = r.movedMs;
    measured.storageDownIoGapMs = r.ioGapMs;
    expect(r.kind).toBe('remote-storage');
    expect(r.servedBy).not.toBe(node(1).scvm.target);
    // The bound is 2×INTERVAL + PING_TIMEOUT + 1 s (4 s here); the benchmark measures it,
    // this only catches a failover that takes many iterations.
    expect(r.movedMs).toBeLessThan(20_000);
  });

  test('meta unreachable from the host: blind within BLIND_AFTER iterations, said once, route kept', async () => {
    const r = await result(s.blind);
    const n = node(2);
    measured.blindAfterMs = r.blindMs;
    // Iterations are counted in the log line below; the wall clock only as a generous bound
    // (iterations stretch on a loaded machine: 38 s for these 5 at load 30 on 2 cores).
    expect(r.blindMs).toBeLessThan(60_000);
    expect(r.st).toMatchObject({ blind: '1', fetch: 'fail', target: n.scvm.storageIp });
    expect(Number(r.later.fetch_fails)).toBeGreaterThanOrEqual(BLIND_AFTER);
    expect(r.later.list_age).toMatch(/^\d+$/);
    expect(r.kept).toBe(n.scvm.storageIp);
    expect(r.changes).toBe(0);
    // Said once, at exactly BLIND_AFTER iterations (the log counts them; heartbeat polling can lag).
    expect(r.log.match(/blind: no session list for \d+ iterations/g)).toEqual([`blind: no session list for ${BLIND_AFTER} iterations`]);
  });

  test('blind, then the local SCVM dies while peers answer: IO moves within a bounded time', async () => {
    const r = await result(s.blindDies);
    const n = node(2);
    measured.blindScvmDownMovedMs = r.movedMs;
    expect(peersStorage(n)).toContain(r.route);
    expect(r.servedBy).not.toBe(n.scvm.target);
    expect(r.movedMs).toBeLessThan(25_000);
    expect(r.sightBack.blind).toBe('0');
    expect(r.log).toMatch(/sight back: session list from \S+ after \d+ iterations/);
  });

  test('a 50 MB session list is refused; iterations stay bounded, the route stays, nothing outlives the loop', async () => {
    const r = await result(s.huge);
    const n = node(3);
    measured.hugeHeartbeatStaleMs = r.during.staleMs;
    measured.hugeOldestChildS = Math.round(r.during.oldest.ageS);
    measured.hugeOldestChild = r.during.oldest.what;
    expect(r.during.fetches).toEqual(['fail']);
    expect(r.during.log).toMatch(/more than \d+ bytes \(refused\)|too large/);
    expect(r.during.staleMs).toBeLessThan(ITERATION_BOUND_MS);
    expect(r.during.oldest.ageS * 1000).toBeLessThan(ITERATION_BOUND_MS);
    expect(r.during.route).toBe(n.scvm.storageIp);
    expect(r.during.changes).toBe(0);
    expect(r.orphans).toEqual([]);
  });

  test('drain target dies: IO goes to the third SCVM, not back to the one under maintenance', async () => {
    const r = await result(s.drain);
    measured.drainMovedMs = r.movedMs;
    expect(r.seen).toEqual([r.third]);
    expect(r.movedMs).toBeLessThan(25_000);
    expect(r.log).toMatch(/drain: pin \S+ unhealthy/);
  });

  test('kill -9 during a route switch: a 33.2 route again within one iteration of the next start', async () => {
    const r = await result(s.kill);
    const n = node(3);
    measured.killSwitchRouteAfterStartMs = r.afterStartMs;
    measured.killSwitchRoutelessMs = r.routelessMs;
    measured.noRouteRestoredMs = r.restoredMs;
    measured.firstHeartbeatMs = `${r.first.ms} / ${r.first2.ms}`;
    expect(r.hung).toMatch(/esxcfg-route|esxcli/);
    // "Within one iteration": the new loop's first heartbeat already sees the right route. On the
    // wall clock only generous bounds: one iteration took up to 8 s at load 30 on 2 cores.
    expect(r.first.route).toBe(node(1).scvm.storageIp);
    expect(r.first2.route).toBe(node(1).scvm.storageIp);
    expect(r.afterStartMs).toBeLessThan(20_000);
    expect(r.routelessMs).toBeLessThan(T.interval * 1000 + 5_000);
    expect(r.noRoute).toBe('');
    expect(r.restoredMs).toBeLessThan(20_000);
    expect(r.restoredVia).toBe(node(1).scvm.storageIp);
    expect(r.loops).toBe(1);
    expect(routeVia(n)).toBe(n.scvm.storageIp);
  });

  test('meta hung on every SCVM: every host blind within BLIND_AFTER iterations, heartbeats go on, no route moves', async () => {
    const r = await result(s.hung);
    measured.hungBlindMs = r.blindMs;
    measured.hungHeartbeatStaleMs = r.staleMs;
    for (const h of r.hosts) {
      const n = agentLab.lab.nodes.find((m) => m.esxi.target === h.host) as LabNode;
      expect(h).toEqual({
        host: h.host,
        route: n.scvm.storageIp,
        changes: 0,
        blindLines: [`blind: no session list for ${BLIND_AFTER} iterations`],
      });
    }
    // A hung source costs FETCH_TIMEOUT (2 s) per try, FETCH_TRIES (3) per iteration before blind:
    // 6 s by design, 19.6 s between heartbeats measured at load 51 on 2 cores.
    expect(r.staleMs).toBeLessThan(30_000);
    expect(r.blindMs).toBeLessThan(90_000);
  });
});
