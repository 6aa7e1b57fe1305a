import { convergedCluster, fixtureDesired, fixtureManifest } from '../../test/support/plan-fixtures';
import { parseHeartbeat } from './esxi-command-output';
import type { EsxiObserved } from './observed-types';
import { parseSnapshot, renderSnapshot } from './snapshot';

const BASE = 'version=1.1.0\npid=9\nupdated=100\ntarget=10.20.0.101\ntarget_kind=local\nsince=50\nfetch=ok\nfetch_ms=12\n';

describe('heartbeat keys of agents since issue 12', () => {
  test('an old agent without them still gives a valid heartbeat, and none of the new fields', () => {
    const r = parseHeartbeat(BASE);
    expect(r.invalid).toEqual([]);
    expect(r.heartbeat).toEqual({
      version: '1.1.0',
      pid: 9,
      target: '10.20.0.101',
      targetKind: 'local',
      since: 50,
      updated: 100,
      fetch: 'ok',
      fetchMs: 12,
    });
  });

  test('a blind active agent: mode, blind, fetch_fails and list_age; empty shadow keys say nothing', () => {
    const r = parseHeartbeat(
      `${BASE}mode=active\nblind=1\nfetch_fails=7\nlist_age=21\nshadow_target=\nshadow_kind=\nshadow_changes=0\ndisagree=0\ndisagree_since=\n`,
    );
    expect(r.invalid).toEqual([]);
    expect(r.heartbeat).toMatchObject({
      mode: 'active',
      blind: true,
      fetchFails: 7,
      listAgeSeconds: 21,
      shadowChanges: 0,
      disagree: false,
    });
    expect(r.heartbeat).not.toHaveProperty('shadowTarget');
    expect(r.heartbeat).not.toHaveProperty('disagreeSince');
  });

  test('an agent that never had a session list writes list_age empty: no age, not zero', () => {
    const r = parseHeartbeat(`${BASE}mode=active\nblind=1\nfetch_fails=5\nlist_age=\n`);
    expect(r.heartbeat?.blind).toBe(true);
    expect(r.heartbeat).not.toHaveProperty('listAgeSeconds');
  });

  test('a shadow agent that disagrees with the real route', () => {
    const r = parseHeartbeat(
      `${BASE}mode=shadow\nblind=0\nfetch_fails=0\nlist_age=2\nshadow_target=10.20.0.102\nshadow_kind=remote-storage\nshadow_changes=3\ndisagree=1\ndisagree_since=90\n`,
    );
    expect(r.invalid).toEqual([]);
    expect(r.heartbeat).toMatchObject({
      target: '10.20.0.101',
      targetKind: 'local',
      mode: 'shadow',
      blind: false,
      shadowTarget: '10.20.0.102',
      shadowKind: 'remote-storage',
      shadowChanges: 3,
      disagree: true,
      disagreeSince: 90,
    });
  });

  test('unreadable values are named and left out, the heartbeat itself stays usable', () => {
    const r = parseHeartbeat(
      `${BASE}mode=$(reboot)\nblind=yes\nfetch_fails=-1\nshadow_target=evil.example\nshadow_kind=teleport\ndisagree_since=soon\n`,
    );
    expect(r.invalid).toEqual(['mode', 'blind', 'fetch_fails', 'shadow_target', 'shadow_kind', 'disagree_since']);
    expect(r.heartbeat).toEqual({
      version: '1.1.0',
      pid: 9,
      target: '10.20.0.101',
      targetKind: 'local',
      since: 50,
      updated: 100,
      fetch: 'ok',
      fetchMs: 12,
    });
  });
});

describe('saved snapshots keep the new heartbeat keys', () => {
  test('a shadow, blind heartbeat survives render → parse (schemas/observed-snapshot.schema.json)', () => {
    const m = fixtureManifest(1);
    const o = convergedCluster(fixtureDesired(m), m);
    const hb = parseHeartbeat(
      `${BASE}mode=shadow\nblind=1\nfetch_fails=6\nlist_age=30\nshadow_target=10.20.0.102\nshadow_kind=remote-storage\nshadow_changes=2\ndisagree=1\ndisagree_since=70\n`,
    ).heartbeat!;
    (o.esxi['node-1'] as EsxiObserved).heartbeat = hb;
    expect((parseSnapshot(renderSnapshot(o), 'x').esxi['node-1'] as EsxiObserved).heartbeat).toEqual(hb);
  });
});
