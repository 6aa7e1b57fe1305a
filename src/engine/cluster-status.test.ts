import { clusterStatus } from './cluster-status';
import { convergedEsxi, fixtureDesired, fixtureManifest, fixtureNode, observedCluster } from '../plan/test-fixtures';

describe('clusterStatus on an RDMA cluster (33.2 routed via SCVM access IPs)', () => {
  const m = fixtureManifest(2, {
    nodes: [1, 2].map((i) => {
      const n = fixtureNode(i);
      n.scvm.accessIp = `10.20.0.${150 + i}`;
      return n;
    }),
  });
  const d = fixtureDesired(m);

  test('a route via the local access IP is local; via a peer access IP names that peer', () => {
    const rows = clusterStatus(m, observedCluster({ 'node-1': convergedEsxi(d.esxi[0]!, '10.20.0.151'), 'node-2': convergedEsxi(d.esxi[1]!, '10.20.0.151') }, {}));
    expect(rows[0]).toMatchObject({ node: 'node-1', routeGateway: '10.20.0.151', routeLocal: true, routeTargetNode: 'node-1' });
    expect(rows[1]).toMatchObject({ node: 'node-2', routeGateway: '10.20.0.151', routeLocal: false, routeTargetNode: 'node-1' });
  });
});
