import type { Manifest } from '../manifest/manifest-types';
import type { AgentHeartbeat, EsxiObserved, ObservedCluster } from '../observe/observed-types';
import { convergedCluster, fixtureDesired, fixtureManifest, NOW } from '../../test/support/plan-fixtures';
import { clusterStatus } from './cluster-status';

function cluster(m: Manifest, beat: Partial<AgentHeartbeat>): ObservedCluster {
  const o = convergedCluster(fixtureDesired(m), m);
  Object.assign((o.esxi['node-1'] as EsxiObserved).heartbeat!, beat);
  return o;
}

describe('status: a blind agent is degraded', () => {
  const m = fixtureManifest(2);

  test('blind=1 is shown with fetch_fails and list_age, and named with the fix', () => {
    const [row, other] = clusterStatus(m, cluster(m, { mode: 'active', blind: true, fetchFails: 7, listAgeSeconds: 21, fetch: 'fail' }));
    expect(row?.sight).toEqual({ mode: 'active', blind: true, fetchFails: 7, listAgeSeconds: 21 });
    expect(row?.degraded).toEqual([
      expect.stringMatching(
        /^the agent is blind: no session list for 7 iterations \(the last one is 21 s old\).*Fix: meta unreachable from this host: check the httpClient firewall ruleset, the REST port 80/,
      ),
    ]);
    expect(other?.degraded).toEqual([]);
  });

  test('an agent that is not blind, and an agent before issue 12 (no such keys), are not degraded', () => {
    expect(clusterStatus(m, cluster(m, { mode: 'active', blind: false, fetchFails: 2, listAgeSeconds: 6 }))[0]?.degraded).toEqual([]);
    const [old] = clusterStatus(m, cluster(m, {}));
    expect(old?.sight).toEqual({ blind: false });
    expect(old?.degraded).toEqual([]);
  });

  test('blind is degraded in shadow mode too', () => {
    const shadow: Manifest = { ...m, routing: { ...m.routing, mode: 'shadow' } };
    const [row] = clusterStatus(
      shadow,
      cluster(shadow, { mode: 'shadow', blind: true, fetchFails: 5, shadowTarget: '10.20.0.101', shadowKind: 'local' }),
    );
    expect(row?.degraded).toEqual([expect.stringContaining('never had one')]);
  });

  test('an agent in another mode than the manifest asks is degraded until apply updates its conf', () => {
    const [row] = clusterStatus(m, cluster(m, { mode: 'shadow', blind: false }));
    expect(row?.degraded).toEqual([
      expect.stringMatching(/^the agent runs in shadow mode, the manifest wants active \(it does not move the route\)/),
    ]);
  });
});

describe('status: shadow decisions beside the real route', () => {
  const m: Manifest = { ...fixtureManifest(3), routing: { ...fixtureManifest(3).routing, mode: 'shadow' } };

  test('the agent would fail over while the real route stays local: disagreement, since when, not degraded', () => {
    const [row] = clusterStatus(
      m,
      cluster(m, {
        mode: 'shadow',
        blind: false,
        fetchFails: 0,
        listAgeSeconds: 1,
        shadowTarget: '10.20.0.103',
        shadowKind: 'remote-storage',
        shadowChanges: 1,
        disagree: true,
        disagreeSince: NOW - 40,
      }),
    );
    expect(row?.routeGateway).toBe('10.20.0.101');
    expect(row?.sight.shadow).toEqual({
      target: '10.20.0.103',
      targetNode: 'node-3',
      kind: 'remote-storage',
      changes: 1,
      disagree: true,
      disagreeSince: NOW - 40,
      disagreeForSeconds: 40,
    });
    expect(row?.degraded).toEqual([]);
  });

  test('agreement: no since', () => {
    const [row] = clusterStatus(
      m,
      cluster(m, { mode: 'shadow', shadowTarget: '10.20.0.101', shadowKind: 'local', shadowChanges: 0, disagree: false }),
    );
    expect(row?.sight.shadow).toEqual({ target: '10.20.0.101', targetNode: 'node-1', kind: 'local', changes: 0, disagree: false });
  });

  test('an active agent has no shadow view even if the keys are there', () => {
    const active = fixtureManifest(3);
    const [row] = clusterStatus(active, cluster(active, { mode: 'active', shadowTarget: '', shadowChanges: 0 }));
    expect(row?.sight.shadow).toBeUndefined();
  });
});
