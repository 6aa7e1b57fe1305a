import type { Manifest } from '../manifest/manifest-types';
import type { EsxiObserved } from '../observe/observed-types';
import { convergedEsxi, fixtureDesired, fixtureManifest, fixtureNode, NOW } from '../../test/support/plan-fixtures';
import { drainGateway, judgeHost } from './verify-host';

const drained: Manifest = fixtureManifest(3, { nodes: [fixtureNode(1), fixtureNode(2, { drain: { to: 'node-3' } }), fixtureNode(3)] });
const node2 = drained.nodes[1] as Manifest['nodes'][number];

function host(gateway: string, kind: 'local' | 'pin' | 'remote-storage'): EsxiObserved {
  const d = fixtureDesired(drained).esxi[1];
  if (!d) throw new Error('fixture has no node-2');
  const o = convergedEsxi(d, gateway);
  if (o.heartbeat) Object.assign(o.heartbeat, { target: gateway, targetKind: kind });
  return o;
}

const pings = Object.fromEntries(
  drained.nodes.flatMap((n) => [
    [n.scvm.storageIp, true],
    [n.scvm.managementIp, true],
  ]),
);

describe('judgeHost for a drained host', () => {
  it('wants the route on the drain target', () => {
    expect(drainGateway(drained, node2)).toBe('10.20.0.103');
    expect(drainGateway(drained, drained.nodes[0] as Manifest['nodes'][number])).toBeUndefined();
  });

  it('passes once the agent has followed the pin to the drain target', () => {
    const v = judgeHost({ manifest: drained, node: node2, observed: host('10.20.0.103', 'pin'), since: NOW - 10, pings });
    expect(v).toMatchObject({ ok: true, problems: [], route: { gateway: '10.20.0.103', local: false } });
  });

  it('fails while IO is still served locally (a drain that did not happen is no success)', () => {
    const v = judgeHost({ manifest: drained, node: node2, observed: host('10.20.0.102', 'local'), since: NOW - 10, pings });
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual(['IO is not drained: 192.168.33.2 is routed via 10.20.0.102, the drain wants 10.20.0.103']);
  });

  it('fails when the agent went to another SCVM than the drain target', () => {
    const v = judgeHost({ manifest: drained, node: node2, observed: host('10.20.0.101', 'remote-storage'), since: NOW - 10, pings });
    expect(v.problems).toContain('IO is not drained: 192.168.33.2 is routed via 10.20.0.101, the drain wants 10.20.0.103');
  });
});

describe('judgeHost and the agent singleton', () => {
  const plain: Manifest = fixtureManifest(3);
  const node1 = plain.nodes[0] as Manifest['nodes'][number];
  const allPings = Object.fromEntries(
    plain.nodes.flatMap((n) => [
      [n.scvm.storageIp, true],
      [n.scvm.managementIp, true],
    ]),
  );
  function local(): EsxiObserved {
    const d = fixtureDesired(plain).esxi[0];
    if (!d) throw new Error('fixture has no node-1');
    return convergedEsxi(d, node1.scvm.storageIp);
  }

  it('passes while the loop has forks (parallel pings) that show its command line', () => {
    const o = local();
    const loop = o.agentProcesses[0];
    if (!loop || !o.heartbeat) throw new Error('fixture has no running agent');
    o.heartbeat.pid = loop.pid;
    o.agentProcesses = [loop, { pid: loop.pid + 1, command: loop.command }, { pid: loop.pid + 2, command: loop.command }];
    expect(judgeHost({ manifest: plain, node: node1, observed: o, since: NOW - 10, pings: allPings })).toMatchObject({
      ok: true,
      problems: [],
    });
  });

  it('fails when the heartbeat names a pid that is not running', () => {
    const o = local();
    if (!o.heartbeat) throw new Error('fixture has no heartbeat');
    o.heartbeat.pid = 999_999;
    expect(judgeHost({ manifest: plain, node: node1, observed: o, since: NOW - 10, pings: allPings }).problems).toEqual([
      'the heartbeat names pid 999999, which is not running',
    ]);
  });
});

describe('judgeHost on an RDMA cluster (SCVMs reached through access IPs)', () => {
  const rdma: Manifest = fixtureManifest(3, {
    nodes: [1, 2, 3].map((i) => {
      const n = fixtureNode(i, i === 3 ? { drain: { to: 'node-1' } } : {});
      n.scvm.accessIp = `10.20.0.${150 + i}`;
      return n;
    }),
  });
  const rdmaPings = Object.fromEntries(
    rdma.nodes.flatMap((n) => [
      [n.scvm.storageIp, true],
      [n.scvm.managementIp, true],
      [n.scvm.accessIp as string, true],
    ]),
  );
  const observed = (i: number, gateway: string, kind: 'local' | 'pin' | 'remote-storage'): EsxiObserved => {
    const o = convergedEsxi(fixtureDesired(rdma).esxi[i]!, gateway);
    if (o.heartbeat) Object.assign(o.heartbeat, { target: gateway, targetKind: kind });
    return o;
  };

  it('33.2 via the local access IP is the local steady state', () => {
    const v = judgeHost({
      manifest: rdma,
      node: rdma.nodes[0]!,
      observed: observed(0, '10.20.0.151', 'local'),
      since: NOW - 10,
      pings: rdmaPings,
    });
    expect(v).toMatchObject({ ok: true, problems: [], route: { gateway: '10.20.0.151', local: true } });
  });

  it("via a peer's access IP is the cluster's (remote), and a drain wants the target's access IP", () => {
    const v = judgeHost({
      manifest: rdma,
      node: rdma.nodes[1]!,
      observed: observed(1, '10.20.0.153', 'remote-storage'),
      since: NOW - 10,
      pings: rdmaPings,
    });
    expect(v.problems).toEqual([]);
    expect(v.route).toEqual({ gateway: '10.20.0.153', local: false });
    expect(drainGateway(rdma, rdma.nodes[2]!)).toBe('10.20.0.151');
    const d = judgeHost({
      manifest: rdma,
      node: rdma.nodes[2]!,
      observed: observed(2, '10.20.0.151', 'pin'),
      since: NOW - 10,
      pings: rdmaPings,
    });
    expect(d.ok).toBe(true);
  });
});

describe('judgeHost and the session fetch (issue 11)', () => {
  const plain: Manifest = fixtureManifest(3);
  const node1 = plain.nodes[0] as Manifest['nodes'][number];
  const allPings = Object.fromEntries(
    plain.nodes.flatMap((n) => [
      [n.scvm.storageIp, true],
      [n.scvm.managementIp, true],
    ]),
  );

  it('fails when the agent cannot fetch the session list (it would never fail over), naming the firewall ruleset', () => {
    const d = fixtureDesired(plain).esxi[0];
    if (!d) throw new Error('fixture has no node-1');
    const o = convergedEsxi(d, node1.scvm.storageIp);
    if (!o.heartbeat) throw new Error('fixture has no heartbeat');
    o.heartbeat.pid = o.agentProcesses[0]?.pid ?? 0;
    o.heartbeat.fetch = 'fail';
    const v = judgeHost({ manifest: plain, node: node1, observed: o, since: NOW - 10, pings: allPings });
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([
      'the agent cannot fetch the session list, so it would never fail over (is the httpClient firewall ruleset open to the SCVMs? `reroute preflight` checks it)',
    ]);
  });
});
