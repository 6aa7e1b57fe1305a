import type { Manifest } from '../manifest/manifest-types';
import type { AgentHeartbeat, EsxiObserved } from '../observe/observed-types';
import { convergedEsxi, fixtureDesired, fixtureManifest, fixtureNode, NOW } from '../../test/support/plan-fixtures';
import { judgeHost } from './verify-host';

const active = fixtureManifest(3);
const shadow: Manifest = { ...active, routing: { ...active.routing, mode: 'shadow' } };
const pings = Object.fromEntries(
  active.nodes.flatMap((n) => [
    [n.scvm.storageIp, true],
    [n.scvm.managementIp, true],
  ]),
);

function host(m: Manifest, gateway: string | undefined, beat: Partial<AgentHeartbeat>): EsxiObserved {
  const o = convergedEsxi(fixtureDesired(m).esxi[0]!, gateway ?? '10.20.0.101');
  if (gateway === undefined) delete o.nfsRoute;
  Object.assign(o.heartbeat!, { target: gateway ?? '' }, beat);
  return o;
}
const judge = (m: Manifest, o: EsxiObserved) => judgeHost({ manifest: m, node: m.nodes[0]!, observed: o, since: NOW - 10, pings });

describe('verification fails on a blind agent', () => {
  test('with the AGENT_BLIND code, what it means and what to check', () => {
    const v = judge(active, host(active, '10.20.0.101', { mode: 'active', blind: true, fetch: 'fail', fetchFails: 6, listAgeSeconds: 18 }));
    expect(v.ok).toBe(false);
    expect(v.findings).toEqual([
      {
        code: 'AGENT_BLIND',
        message:
          'the agent is blind: no session list for 6 iterations (the last one is 18 s old), so it cannot see an SCVM fail and keeps the route',
        fix: 'meta unreachable from this host: check the httpClient firewall ruleset, the REST port 80 on the SCVMs (/api/v2/zbs_session/session), and run `reroute preflight`',
      },
    ]);
    // One finding, not also the generic "cannot fetch" line.
    expect(v.problems).toEqual([expect.stringMatching(/^\[AGENT_BLIND\] the agent is blind/)]);
  });

  test('in shadow mode too', () => {
    const v = judge(shadow, host(shadow, '10.20.0.101', { mode: 'shadow', blind: true, fetch: 'fail', fetchFails: 5 }));
    expect(v.ok).toBe(false);
    expect(v.findings?.map((f) => f.code)).toEqual(['AGENT_BLIND']);
  });

  test('a healthy agent has no findings', () => {
    const v = judge(active, host(active, '10.20.0.101', { mode: 'active', blind: false, fetchFails: 0 }));
    expect(v).toMatchObject({ ok: true, problems: [] });
    expect(v.findings).toBeUndefined();
  });
});

describe('verification in shadow mode checks the agent, not the route', () => {
  test('the route stays where a legacy agent put it (remote, local answering): passes', () => {
    const v = judge(
      shadow,
      host(shadow, '10.20.0.102', {
        mode: 'shadow',
        blind: false,
        shadowTarget: '10.20.0.101',
        shadowKind: 'local',
        disagree: true,
        disagreeSince: NOW - 60,
      }),
    );
    expect(v).toMatchObject({ ok: true, problems: [] });
  });

  test('no 33.2 route at all: the shadow agent would not add one, so it is not its failure', () => {
    expect(judge(shadow, host(shadow, undefined, { mode: 'shadow', blind: false })).ok).toBe(true);
    expect(judge(active, host(active, undefined, { mode: 'active', blind: false })).problems).toEqual(['no 192.168.33.2/32 route']);
  });

  test('a drain is not followed in shadow mode: not asked of the route', () => {
    const m: Manifest = { ...shadow, nodes: [fixtureNode(1, { drain: { to: 'node-2' } }), fixtureNode(2), fixtureNode(3)] };
    const o = convergedEsxi(fixtureDesired(m).esxi[0]!, '10.20.0.101');
    Object.assign(o.heartbeat!, { mode: 'shadow', blind: false });
    expect(judgeHost({ manifest: m, node: m.nodes[0]!, observed: o, since: NOW - 10, pings })).toMatchObject({ ok: true, problems: [] });
  });

  test('the heartbeat must say mode=shadow (an agent still active, or too old to know the key, fails)', () => {
    expect(judge(shadow, host(shadow, '10.20.0.101', { mode: 'active' })).problems).toEqual([
      expect.stringMatching(/^the agent runs in active mode, the manifest wants shadow/),
    ]);
    expect(judge(shadow, host(shadow, '10.20.0.101', {})).ok).toBe(false);
  });

  test('going active: an agent still reporting shadow fails until it has re-read its conf', () => {
    expect(judge(active, host(active, '10.20.0.101', { mode: 'shadow' })).problems).toEqual([
      expect.stringMatching(/^the agent runs in shadow mode, the manifest wants active/),
    ]);
  });
});
