import type { NodeCheck } from '../engine/engine-io';
import type { HostStatus } from '../engine/cluster-status';
import type { AgentHeartbeat } from '../observe/observed-types';
import { parseListenAddress, startMetricsServer } from './metrics-server';
import { WatchMetrics } from './watch-metrics';

const status = (node: string, over: Partial<HostStatus> = {}): HostStatus => ({
  node,
  reachable: true,
  state: 'ok',
  wantedVersion: '2.1.0',
  installedVersion: '2.1.0',
  versionOk: true,
  agentAlive: true,
  agentProcesses: 1,
  routeGateway: '10.0.1.11',
  routeLocal: true,
  heartbeatAgeSeconds: 2,
  zbsProblems: [],
  sight: { blind: false },
  degraded: [],
  peerList: { state: 'ok', lacks: [], details: [] },
  ...over,
});

const heartbeat = (over: Partial<AgentHeartbeat> = {}): AgentHeartbeat => ({
  version: '2.1.0',
  pid: 100,
  target: '10.0.1.11',
  targetKind: 'local',
  since: 1_000,
  updated: 1_998,
  fetch: 'ok',
  fetchMs: 12,
  blind: false,
  listAgeSeconds: 3,
  ...over,
});

const check = (node: string, over: Partial<NodeCheck> = {}): NodeCheck => ({
  node,
  at: 2_000_000,
  durationMs: 180,
  esxiReachable: true,
  scvmReachable: true,
  status: status(node),
  heartbeat: heartbeat(),
  hostNow: 2_000,
  drift: [],
  ...over,
});

function watched(...nodes: string[]): WatchMetrics {
  const m = new WatchMetrics();
  m.emit({ code: 'NODES_WATCHED', nodes: nodes.map((node) => ({ node, failbackDelaySeconds: 180 })) });
  return m;
}

/** The sample lines of one metric, without HELP/TYPE. */
async function samples(m: WatchMetrics, name: string): Promise<string[]> {
  const { body } = await m.render();
  return body.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('watch metrics', () => {
  it('says per node whether its hosts were reached and its agent is up, with HELP and TYPE for every metric', async () => {
    const m = watched('node-1', 'node-2');
    m.emit({ code: 'NODE_CHECKED', check: check('node-1') });
    m.emit({
      code: 'NODE_CHECKED',
      check: check('node-2', { esxiReachable: false, scvmReachable: true, status: undefined, heartbeat: undefined, hostNow: undefined }),
    });
    expect(await samples(m, 'zbs_reroute_host_reachable')).toEqual([
      'zbs_reroute_host_reachable{node="node-1",host="esxi"} 1',
      'zbs_reroute_host_reachable{node="node-1",host="scvm"} 1',
      'zbs_reroute_host_reachable{node="node-2",host="esxi"} 0',
      'zbs_reroute_host_reachable{node="node-2",host="scvm"} 1',
    ]);
    // Unknown is absent, never "down": an unreached host's agent may well be routing.
    expect(await samples(m, 'zbs_reroute_agent_up')).toEqual(['zbs_reroute_agent_up{node="node-1"} 1']);
    const { body, contentType } = await m.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const names = [...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => x[1]);
    for (const n of names) expect(body).toMatch(new RegExp(`^# HELP ${n} \\S`, 'm'));
    expect(names.every((n) => /^zbs_reroute_[a-z_]+$/.test(n as string))).toBe(true);
  });

  it('shows where IO is served and for how long it has been off the local SCVM', async () => {
    const m = watched('node-1');
    m.emit({
      code: 'NODE_CHECKED',
      check: check('node-1', {
        heartbeat: heartbeat({ targetKind: 'remote-storage', target: '10.0.1.12', since: 1_700 }),
        status: status('node-1', { routeGateway: '10.0.1.12', routeLocal: false }),
      }),
    });
    expect(await samples(m, 'zbs_reroute_route_target')).toEqual([
      'zbs_reroute_route_target{node="node-1",kind="local"} 0',
      'zbs_reroute_route_target{node="node-1",kind="remote-storage"} 1',
      'zbs_reroute_route_target{node="node-1",kind="remote-management"} 0',
      'zbs_reroute_route_target{node="node-1",kind="pin"} 0',
      'zbs_reroute_route_target{node="node-1",kind="none"} 0',
    ]);
    expect(await samples(m, 'zbs_reroute_route_off_local_seconds')).toEqual(['zbs_reroute_route_off_local_seconds{node="node-1"} 300']);
    expect(await samples(m, 'zbs_reroute_failback_delay_seconds')).toEqual(['zbs_reroute_failback_delay_seconds{node="node-1"} 180']);
  });

  it('reports version drift as an info pair and a mismatch gauge', async () => {
    const m = watched('node-1');
    m.emit({
      code: 'NODE_CHECKED',
      check: check('node-1', { status: status('node-1', { installedVersion: '2.0.0', versionOk: false }) }),
    });
    expect(await samples(m, 'zbs_reroute_agent_info')).toEqual([
      'zbs_reroute_agent_info{node="node-1",version="2.0.0",wanted_version="2.1.0"} 1',
    ]);
    expect(await samples(m, 'zbs_reroute_agent_version_mismatch')).toEqual(['zbs_reroute_agent_version_mismatch{node="node-1"} 1']);
  });

  it("exposes the agent's own counters and last decision, and keeps them while the host is out of sight", async () => {
    const m = watched('node-1');
    const hb = heartbeat({
      failovers: 2,
      failbacks: 1,
      routeChanges: 3,
      fetchFailures: 7,
      blindIterations: 0,
      lastDecision: 'failback',
      lastReason: 'failback-delay-passed',
      lastDecisionAt: 1_900,
    });
    m.emit({ code: 'NODE_CHECKED', check: check('node-1', { heartbeat: hb }) });
    m.emit({
      code: 'NODE_CHECKED',
      check: check('node-1', { esxiReachable: false, status: undefined, heartbeat: undefined, hostNow: undefined }),
    });
    expect(await samples(m, 'zbs_reroute_agent_failovers_total')).toEqual(['zbs_reroute_agent_failovers_total{node="node-1"} 2']);
    expect(await samples(m, 'zbs_reroute_agent_session_fetch_failures_total')).toEqual([
      'zbs_reroute_agent_session_fetch_failures_total{node="node-1"} 7',
    ]);
    expect(await samples(m, 'zbs_reroute_agent_last_decision_timestamp_seconds')).toEqual([
      'zbs_reroute_agent_last_decision_timestamp_seconds{node="node-1",decision="failback",reason="failback-delay-passed"} 1900',
    ]);
    expect(await samples(m, 'zbs_reroute_agent_up')).toEqual([]);
  });

  it('counts drift found once per finding and corrected, and times checks', async () => {
    const m = watched('node-1');
    const record = (event: string, level: 'warn' | 'debug' | 'info') =>
      m.emit({ code: 'WATCH_RECORD', level, event, message: '', fields: { host: 'node-1', item: 'crontab' } });
    record('drift-found', 'warn');
    record('drift-found', 'debug');
    record('drift-corrected', 'info');
    m.emit({ code: 'NODE_CHECKED', check: check('node-1', { drift: ['crontab'] }) });
    expect(await samples(m, 'zbs_reroute_drift_items_found_total')).toEqual(['zbs_reroute_drift_items_found_total{node="node-1"} 1']);
    expect(await samples(m, 'zbs_reroute_drift_items_corrected_total')).toEqual([
      'zbs_reroute_drift_items_corrected_total{node="node-1"} 1',
    ]);
    expect(await samples(m, 'zbs_reroute_drift_items')).toEqual(['zbs_reroute_drift_items{node="node-1"} 1']);
    expect(await samples(m, 'zbs_reroute_check_duration_seconds_count')).toEqual(['zbs_reroute_check_duration_seconds_count 1']);
    expect(await samples(m, 'zbs_reroute_last_successful_check_timestamp_seconds')).toEqual([
      'zbs_reroute_last_successful_check_timestamp_seconds{node="node-1"} 2000',
    ]);
  });

  it('drops a node that left the manifest, so its series end', async () => {
    const m = watched('node-1', 'node-2');
    m.emit({ code: 'NODE_CHECKED', check: check('node-2') });
    m.emit({ code: 'NODES_WATCHED', nodes: [{ node: 'node-1', failbackDelaySeconds: 180 }] });
    const { body } = await m.render();
    expect(body).not.toContain('node-2');
  });
});

describe('--metrics-listen', () => {
  it('takes an IP literal and a port, and refuses anything else with the form to use', () => {
    expect(parseListenAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    for (const bad of ['localhost:9464', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '300.1.1.1:80', ':9464'])
      expect(() => parseListenAddress(bad)).toThrow(/--metrics-listen must be IP:PORT/);
  });

  it('serves the text format at /metrics, 404 elsewhere, and names a busy port', async () => {
    const m = watched('node-1');
    const server = await startMetricsServer(m, { host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${server.address.port}`;
      const ok = await fetch(`${base}/metrics`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('zbs_reroute_failback_delay_seconds{node="node-1"} 180');
      expect((await fetch(`${base}/`)).status).toBe(404);
      await expect(startMetricsServer(m, { host: '127.0.0.1', port: server.address.port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await server.close();
    }
  });
});
