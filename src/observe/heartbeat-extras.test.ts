import * as fs from 'node:fs';
import * as path from 'node:path';
import { convergedCluster, fixtureDesired, fixtureManifest } from '../../test/support/plan-fixtures';
import { parseHeartbeat } from './esxi-command-output';
import { AGENT_DECISION_REASONS, AGENT_DECISIONS } from './heartbeat-extras';
import type { EsxiObserved } from './observed-types';
import { parseSnapshot, renderSnapshot } from './snapshot';

const BASE = 'version=1.1.0\npid=9\nupdated=100\ntarget=10.20.0.101\ntarget_kind=local\nsince=50\nfetch=ok\nfetch_ms=12\n';

/** What BASE alone parses to. */
const BASE_HEARTBEAT = {
  version: '1.1.0',
  pid: 9,
  target: '10.20.0.101',
  targetKind: 'local',
  since: 50,
  updated: 100,
  fetch: 'ok',
  fetchMs: 12,
};

describe('heartbeat keys of agents since issue 12', () => {
  test('an old agent without them still gives a valid heartbeat, and none of the new fields', () => {
    const r = parseHeartbeat(BASE);
    expect(r.invalid).toEqual([]);
    expect(r.heartbeat).toEqual(BASE_HEARTBEAT);
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
    expect(r.heartbeat).toEqual(BASE_HEARTBEAT);
  });
});

describe('heartbeat counters and the last decision (issue 16)', () => {
  const COUNTERS =
    'failovers=3\nfailbacks=2\nroute_changes=6\nfetch_failures=41\nblind_iterations=12\n' +
    'last_decision=failover\nlast_reason=local-ping\nlast_decision_at=1764019300\n';

  test('an agent since issue 16: five counters, the last decision, its reason and time', () => {
    const r = parseHeartbeat(`${BASE}mode=active\nblind=0\n${COUNTERS}`);
    expect(r.invalid).toEqual([]);
    expect(r.heartbeat).toMatchObject({
      failovers: 3,
      failbacks: 2,
      routeChanges: 6,
      fetchFailures: 41,
      blindIterations: 12,
      lastDecision: 'failover',
      lastReason: 'local-ping',
      lastDecisionAt: 1764019300,
    });
  });

  test('before its first decision the agent writes the last_* keys empty: absent, not invalid', () => {
    const r = parseHeartbeat(
      `${BASE}failovers=0\nfailbacks=0\nroute_changes=0\nfetch_failures=0\nblind_iterations=0\nlast_decision=\nlast_reason=\nlast_decision_at=\n`,
    );
    expect(r.invalid).toEqual([]);
    expect(r.heartbeat).toMatchObject({ failovers: 0, failbacks: 0, routeChanges: 0, fetchFailures: 0, blindIterations: 0 });
    expect(r.heartbeat).not.toHaveProperty('lastDecision');
    expect(r.heartbeat).not.toHaveProperty('lastReason');
    expect(r.heartbeat).not.toHaveProperty('lastDecisionAt');
  });

  test('an agent before issue 16 writes none of them: no counter fields at all, nothing invalid', () => {
    const r = parseHeartbeat(`${BASE}mode=active\nblind=0\nfetch_fails=0\n`);
    expect(r.invalid).toEqual([]);
    for (const k of [
      'failovers',
      'failbacks',
      'routeChanges',
      'fetchFailures',
      'blindIterations',
      'lastDecision',
      'lastReason',
      'lastDecisionAt',
    ]) {
      expect(r.heartbeat).not.toHaveProperty(k);
    }
  });

  test('unreadable counters, a decision or reason outside the fixed sets: named in invalid and left out', () => {
    const r = parseHeartbeat(
      `${BASE}failovers=-1\nfailbacks=two\nroute_changes=1e3\nfetch_failures=12345678901234567\nblind_iterations= 4x\n` +
        'last_decision=panic\nlast_reason=Local-Ping\nlast_decision_at=yesterday\n',
    );
    expect(r.invalid).toEqual([
      'failovers',
      'failbacks',
      'route_changes',
      'fetch_failures',
      'blind_iterations',
      'last_decision',
      'last_reason',
      'last_decision_at',
    ]);
    expect(r.heartbeat).toEqual(BASE_HEARTBEAT);
  });

  test('every decision and reason code the shipped agent can write is one this side reads', () => {
    const script = fs.readFileSync(path.join(__dirname, '..', '..', 'esxi', 'agent', 'reroute-loop.sh'), 'utf8');
    const listed = (name: string): string[] => (new RegExp(`^${name}=' ([a-z -]+) '$`, 'm').exec(script)?.[1] ?? '').split(' ');
    expect(new Set(listed('DECISIONS'))).toEqual(AGENT_DECISIONS);
    expect(new Set(listed('DECISION_REASONS'))).toEqual(AGENT_DECISION_REASONS);
    // And the script uses no code outside its own lists.
    const reasons = [...script.matchAll(/\bREASON=([a-z-]+)/g), ...script.matchAll(/\bdecided ([a-z-]+) ([a-z-]+)/g)].map((m) => m.at(-1));
    const decisions = [...script.matchAll(/\b_dec=([a-z-]+)/g), ...script.matchAll(/\bdecided ([a-z-]+) /g)].map((m) => m[1]);
    expect(reasons.length).toBeGreaterThan(10);
    for (const r of reasons) expect(AGENT_DECISION_REASONS).toContain(r);
    for (const d of decisions) expect(AGENT_DECISIONS).toContain(d);
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

  test('counters and the last decision survive render → parse', () => {
    const m = fixtureManifest(1);
    const o = convergedCluster(fixtureDesired(m), m);
    const hb = parseHeartbeat(
      `${BASE}failovers=1\nfailbacks=1\nroute_changes=3\nfetch_failures=9\nblind_iterations=4\nlast_decision=change-failed\nlast_reason=gateway-unlisted\nlast_decision_at=99\n`,
    ).heartbeat!;
    expect(hb.lastDecision).toBe('change-failed');
    (o.esxi['node-1'] as EsxiObserved).heartbeat = hb;
    expect((parseSnapshot(renderSnapshot(o), 'x').esxi['node-1'] as EsxiObserved).heartbeat).toEqual(hb);
  });

  test('a snapshot with a decision outside the fixed set is refused by the schema', () => {
    const m = fixtureManifest(1);
    const o = convergedCluster(fixtureDesired(m), m);
    (o.esxi['node-1'] as EsxiObserved).heartbeat = { ...parseHeartbeat(BASE).heartbeat!, lastDecision: 'panic' as never };
    expect(() => parseSnapshot(renderSnapshot(o), 'x')).toThrow();
  });
});
