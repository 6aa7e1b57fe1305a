import type { DesiredScvm } from '../desired/desired-types';
import type { ScvmObserved } from '../observe/observed-types';
import { planCluster } from './plan-cluster';
import { planSessionClients } from './plan-zbs-session';
import { applyPlanToObserved } from '../../test/support/simulate-apply';
import * as fx from '../../test/support/plan-fixtures';

const D: DesiredScvm = {
  node: 'node-2',
  address: '10.10.0.102',
  authorizedKey: 'ssh-ed25519 AAAA zbs-reroute:c',
  sessionClientIps: ['10.10.0.12', '10.20.0.12'],
};
const obs = (zbsSession: ScvmObserved['zbsSession']): ScvmObserved => ({
  kind: 'scvm',
  node: 'node-2',
  reachable: true,
  managedKeys: [],
  foreignKeyCount: 1,
  ...(zbsSession ? { zbsSession } : {}),
});
const ID = '7bc26e9b-17d3-47fa-b1ba-1527fd4974c9';

describe('registering the ESXi client IPs in the local SCVM session', () => {
  it('registers them in a fresh session (no clients yet), naming the session id', () => {
    const p = planSessionClients(D, obs({ sessionId: ID, localClientsIps: [] }));
    expect(p.actions).toEqual([
      {
        op: 'register-session-clients',
        sessionId: ID,
        clientIps: ['10.10.0.12', '10.20.0.12'],
        before: [],
        reason: 'ZBS session 7bc26e9b lists no ESXi client IPs',
      },
    ]);
    expect(p.reasons.map((r) => r.detail)).toEqual(['ZBS session 7bc26e9b lists no ESXi client IPs']);
  });

  it('corrects a session listing other addresses', () => {
    const p = planSessionClients(D, obs({ sessionId: ID, localClientsIps: ['10.20.0.99'] }));
    expect(p.actions).toHaveLength(1);
    expect(p.reasons.map((r) => r.detail)[0]).toBe('ZBS session 7bc26e9b lists 10.20.0.99, not 10.10.0.12,10.20.0.12');
  });

  it('plans nothing when the session already lists them, in any order', () => {
    expect(planSessionClients(D, obs({ sessionId: ID, localClientsIps: ['10.20.0.12', '10.10.0.12'] }))).toEqual({
      actions: [],
      reasons: [],
    });
  });

  it('plans nothing but warns when the session could not be read', () => {
    expect(planSessionClients(D, obs({ problem: 'zbs-meta session list failed (exit 1)' }))).toEqual({
      actions: [],
      reasons: [],
      warning: 'node-2: ZBS session client IPs not checked: zbs-meta session list failed (exit 1)',
    });
  });

  it('plans nothing for an observation from an older release (no session read) or a desired state without client IPs', () => {
    expect(planSessionClients(D, obs(undefined))).toEqual({ actions: [], reasons: [] });
    expect(planSessionClients({ ...D, sessionClientIps: undefined }, obs({ sessionId: ID, localClientsIps: [] }))).toEqual({
      actions: [],
      reasons: [],
    });
  });

  it('never plans a route action', () => {
    const p = planSessionClients(D, obs({ sessionId: ID, localClientsIps: [] }));
    expect(p.actions.every((a) => a.op === 'register-session-clients')).toBe(true);
  });
});

describe('in a whole-cluster plan', () => {
  it('a converged cluster whose SCVM-2 session was renewed gets one update on that SCVM only, and converges', () => {
    const m = fx.fixtureManifest(3);
    const d = fx.fixtureDesired(m);
    const o = fx.convergedCluster(d, m);
    for (const s of d.scvm) {
      const obs = o.scvm[s.node];
      if (obs?.reachable) obs.zbsSession = { sessionId: `${s.node}-old`, localClientsIps: [...(s.sessionClientIps ?? [])] };
    }
    const s2 = o.scvm['node-2'];
    if (!s2?.reachable) throw new Error('fixture');
    s2.zbsSession = { sessionId: 'node-2-new', localClientsIps: [] };
    const plan = planCluster(d, o, { mode: 'apply', ...fx.PLAN_OPTS });
    const changed = plan.hosts.filter((h) => h.actions.length > 0);
    expect(changed.map((h) => [h.node, h.host, h.change, h.actions.map((a) => a.op)])).toEqual([
      ['node-2', 'scvm', 'update', ['register-session-clients']],
    ]);
    expect(plan.hosts.flatMap((h) => h.actions).some((a) => a.op === 'delete-route')).toBe(false);
    const again = planCluster(d, applyPlanToObserved(plan, o), { mode: 'apply', ...fx.PLAN_OPTS });
    expect(again.hosts.every((h) => h.actions.length === 0)).toBe(true);
  });

  it('an unreadable session adds a plan warning and no action', () => {
    const m = fx.fixtureManifest(2);
    const d = fx.fixtureDesired(m);
    const o = fx.convergedCluster(d, m);
    const s1 = o.scvm['node-1'];
    if (!s1?.reachable) throw new Error('fixture');
    s1.zbsSession = { problem: 'zbs-meta session list failed (exit 1)' };
    const plan = planCluster(d, o, { mode: 'apply', ...fx.PLAN_OPTS });
    expect(plan.hosts.every((h) => h.actions.length === 0)).toBe(true);
    expect(plan.warnings).toContain('node-1: ZBS session client IPs not checked: zbs-meta session list failed (exit 1)');
  });
});
