import { NODE1_CURRENT, NODE1_GATEWAYS, NODE1_ROTATED, NODE2_LOG } from '../../test/support/agent-log-fixtures';
import { agentLogLines, agentTimeMs, parseAgentLog, routeSuffix } from './agent-log';

const node1 = () => parseAgentLog(NODE1_ROTATED + NODE1_CURRENT, { host: 'node-1' });
const routes = (text: string, gatewayKinds?: Record<string, never> | typeof NODE1_GATEWAYS) =>
  parseAgentLog(text, { host: 'node-1', gatewayKinds }).events.filter((e) => e.route);

describe('agent log lines', () => {
  test('the zone-less agent time is read as UTC (ESXi runs in UTC), whatever the zone of the machine reading it', () => {
    const [first] = node1().events;
    expect(first?.at).toBe('2026-12-01T23:59:58.000Z');
    expect(first?.atMs).toBe(Date.UTC(2026, 11, 1, 23, 59, 58));
  });

  test('a line that is not an agent line, or names an impossible time, is counted and skipped', () => {
    const r = agentLogLines(
      'garbage\n2026-02-30 10:00:00 n reroute[1] x\n2026-12-02 24:00:00 n reroute[1] x\n2026-12-02 10:00:00 n reroute[1] ok\n',
    );
    expect(r.lines.map((l) => l.message)).toEqual(['ok']);
    expect(r.malformed).toBe(3);
    expect(agentTimeMs(2026, 2, 29, 0, 0, 0)).toBeUndefined();
  });

  test('across a rotation every decision is read in order; heartbeat lines are not shown', () => {
    const p = node1();
    expect(p.events.map((e) => e.type)).toEqual(['start', 'local-down', 'route', 'route', 'local-unlisted', 'route', 'route']);
    expect(p.lines).toBe(8);
    expect(p.malformed).toBe(1);
  });

  test('the suffix [decision=… reason=…] is the agent’s word; old lines get a derived decision and reason', () => {
    const [failover, failback, failover2, sw] = node1()
      .events.filter((e) => e.route)
      .map((e) => e.route);
    expect(failover).toMatchObject({
      decision: 'failover',
      reason: 'local-ping',
      logged: false,
      fromKind: 'local',
      kind: 'remote-storage',
      oldGatewayDown: true,
    });
    expect(failback).toMatchObject({ decision: 'failback', reason: 'failback-delay-passed', logged: false, kind: 'local' });
    expect(failover2).toMatchObject({ decision: 'failover', reason: 'local-unlisted', logged: true });
    expect(sw).toMatchObject({
      decision: 'switch',
      reason: 'gateway-down',
      fromKind: 'remote-storage',
      kind: 'remote-management',
      logged: false,
    });
  });

  test('the reason of an old-format failover is the nearest line before it since the last route change, never an older one', () => {
    const text = [
      '2026-12-02 01:00:00 node-1 reroute[1] start v1 (mode active): found route via 10.20.0.101 (local)',
      '2026-12-02 01:00:03 node-1 reroute[1] local access 10.20.0.101 does not answer ping (2 rounds of 4)',
      '2026-12-02 01:00:04 node-1 reroute[1] route 33.2: 10.20.0.101 -> 10.20.0.102 (remote-storage)',
      '2026-12-02 01:05:00 node-1 reroute[1] route 33.2: 10.20.0.102 -> 10.20.0.101 (local)',
      '2026-12-02 01:09:00 node-1 reroute[1] route 33.2: 10.20.0.101 -> 10.20.0.103 (remote-storage)',
    ].join('\n');
    expect(routes(text).map((e) => `${e.route?.decision}:${e.route?.reason}`)).toEqual([
      'failover:local-ping',
      'failback:failback-delay-passed',
      'failover:unknown',
    ]);
  });

  test('a drain: the move to the pin is a failover for a pin, the way back is for the drain', () => {
    const r = parseAgentLog(NODE2_LOG, { host: 'node-2' }).events;
    expect(r.filter((e) => e.route).map((e) => `${e.route?.decision}:${e.route?.reason}:${e.route?.kind}`)).toEqual([
      'failover:pin:pin',
      'failback:drain:local',
    ]);
    expect(r.at(-1)).toMatchObject({ type: 'stop', served: { kind: 'local', gateway: '10.20.0.102' } });
  });

  test('a log that starts mid-way: the gateway kinds of the manifest tell a switch from a failover', () => {
    const line =
      '2026-12-02 02:00:00 node-1 reroute[1] route 33.2: 10.20.0.102 -> 10.20.0.103 (remote-storage) (old gateway does not answer ping)';
    expect(routes(line, NODE1_GATEWAYS)[0]?.route).toMatchObject({
      decision: 'switch',
      fromKind: 'remote-storage',
      reason: 'gateway-down',
    });
    // Without them nothing says IO was remote already: counted as the failover it may have been.
    expect(routes(line)[0]?.route).toMatchObject({ decision: 'failover', fromKind: 'unknown' });
  });

  test('the first route of a host (from none) is a switch for no-route, as the agent says; a drift or failed change sets the kind learned from the log', () => {
    const text = [
      '2026-12-02 03:00:00 node-1 reroute[1] start v1 (mode active): found route via none (none)',
      '2026-12-02 03:00:01 node-1 reroute[1] route 33.2: none -> 10.20.0.101 (local)',
      '2026-12-02 03:00:30 node-1 reroute[1] route drift: 33.2 route is via 10.20.0.107, expected 10.20.0.101; adopting',
      '2026-12-02 03:01:00 node-1 reroute[1] route change 10.20.0.107 -> 10.20.0.101 failed (now via 10.20.0.101): esxcfg-route: busy',
    ].join('\n');
    const e = parseAgentLog(text, { host: 'node-1' }).events;
    expect(e.map((v) => [v.type, v.route?.decision, v.route?.reason, v.served?.kind])).toEqual([
      ['start', undefined, undefined, 'none'],
      ['route', 'switch', 'no-route', 'local'],
      ['drift', undefined, undefined, 'unknown'],
      ['route-failed', undefined, undefined, 'local'],
    ]);
  });

  test('RDMA: the access IP a route goes through is kept with the SCVM it belongs to', () => {
    const line =
      '2026-12-02 04:00:00 node-1 reroute[1] route 33.2: 10.0.85.121 -> 10.0.85.122 (remote-storage) via access IP of 10.20.0.102 (old gateway does not answer ping) [decision=failover reason=local-ping]';
    expect(routes(line)[0]?.route).toMatchObject({
      from: '10.0.85.121',
      to: '10.0.85.122',
      viaAccessOf: '10.20.0.102',
      oldGatewayDown: true,
      logged: true,
    });
  });

  test('a host-controlled message cannot reach the terminal raw: control characters are escaped', () => {
    const e = parseAgentLog('2026-12-02 05:00:00 node-1 reroute[1] blind: no session list \u001b[2J(x)\n', { host: 'node-1' }).events;
    expect(e[0]?.message).toBe('blind: no session list \\x1b[2J(x)');
  });

  test('the suffix parser takes key=value pairs at the end only', () => {
    expect(routeSuffix(' (old gateway does not answer ping) [decision=failover reason=local-ping]')).toEqual({
      decision: 'failover',
      reason: 'local-ping',
    });
    expect(routeSuffix(' [decision=failover] trailing')).toEqual({});
    expect(routeSuffix('')).toEqual({});
  });
});
