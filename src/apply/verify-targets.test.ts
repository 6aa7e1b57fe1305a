import type { Manifest } from '../manifest/manifest-types';
import { fixtureManifest, fixtureNode } from '../../test/support/plan-fixtures';
import { PEER_SAMPLE, pingTargets, samplePeers } from './verify-targets';

const names = (m: Manifest, node: string) => samplePeers(m, node).map((n) => n.name);

describe('what a host pings to verify an apply', () => {
  const m16 = fixtureManifest(16);
  const node1 = m16.nodes[0]!;

  test('the local SCVM (storage and management) and a peer sample, never every SCVM address', () => {
    const t = pingTargets(m16, node1, node1.scvm.storageIp);
    expect(t.decisive).toEqual([node1.scvm.storageIp, node1.scvm.managementIp]);
    expect(t.peers).toEqual([
      { node: 'node-2', ip: m16.nodes[1]!.scvm.storageIp },
      { node: 'node-3', ip: m16.nodes[2]!.scvm.storageIp },
    ]);
    expect(t.decisive.length + t.peers.length).toBeLessThan(2 * m16.nodes.length);
  });

  test('a host failed over to a peer also pings that peer as decisive: its IO goes there now', () => {
    const gw = m16.nodes[9]!.scvm.storageIp;
    const t = pingTargets(m16, node1, gw);
    expect(t.decisive).toContain(gw);
    expect(t.peers.map((p) => p.ip)).not.toContain(gw);
  });

  test('the sample is the next nodes in manifest order, wrapping: the same on every run', () => {
    expect(names(m16, 'node-1')).toEqual(['node-2', 'node-3']);
    expect(names(m16, 'node-16')).toEqual(['node-1', 'node-2']);
    expect(names(m16, 'node-16')).toEqual(names(m16, 'node-16'));
  });

  test('every SCVM is sampled by the same number of hosts (the load is spread, none is left out)', () => {
    const hits: Record<string, number> = {};
    for (const n of m16.nodes) for (const p of samplePeers(m16, n.name)) hits[p.name] = (hits[p.name] ?? 0) + 1;
    expect(Object.keys(hits)).toHaveLength(16);
    expect(new Set(Object.values(hits))).toEqual(new Set([PEER_SAMPLE]));
  });

  test('small clusters: one node has no peer, two nodes have one, never the host itself', () => {
    expect(names(fixtureManifest(1), 'node-1')).toEqual([]);
    expect(names(fixtureManifest(2), 'node-2')).toEqual(['node-1']);
    expect(names(fixtureManifest(3), 'node-4')).toEqual([]);
  });

  test('RDMA: the local access IP is decisive, a peer is pinged at its access IP (where the agent routes)', () => {
    const rdma = fixtureManifest(3, {
      nodes: [1, 2, 3].map((i) => {
        const n = fixtureNode(i);
        n.scvm.accessIp = `10.20.0.${150 + i}`;
        return n;
      }),
    });
    const t = pingTargets(rdma, rdma.nodes[0]!, '10.20.0.151');
    expect(t.decisive).toEqual(['10.20.0.101', rdma.nodes[0]!.scvm.managementIp, '10.20.0.151']);
    expect(t.peers.map((p) => p.ip)).toEqual(['10.20.0.152', '10.20.0.153']);
  });
});
