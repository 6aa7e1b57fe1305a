import type { DesiredScvm } from '../desired/desired-types';
import type { ScvmObserved } from '../observe/observed-types';
import { planSessionClients } from './plan-zbs-session';

const D: DesiredScvm = { node: 'node-2', address: '10.10.0.102', authorizedKey: 'ssh-ed25519 AAAA zbs-reroute:c', sessionClientIps: ['10.10.0.12', '10.20.0.12'] };
const obs = (zbsSession: ScvmObserved['zbsSession']): ScvmObserved => ({ kind: 'scvm', node: 'node-2', reachable: true, managedKeys: [], foreignKeyCount: 1, ...(zbsSession ? { zbsSession } : {}) });
const ID = '7bc26e9b-17d3-47fa-b1ba-1527fd4974c9';

describe('registering the ESXi client IPs in the local SCVM session', () => {
  it('registers them in a fresh session (no clients yet), naming the session id', () => {
    const p = planSessionClients(D, obs({ sessionId: ID, localClientsIps: [] }));
    expect(p.actions).toEqual([{ op: 'register-session-clients', sessionId: ID, clientIps: ['10.10.0.12', '10.20.0.12'], before: [], reason: 'ZBS session 7bc26e9b lists no ESXi client IPs' }]);
    expect(p.reasons).toEqual(['ZBS session 7bc26e9b lists no ESXi client IPs']);
  });

  it('corrects a session listing other addresses', () => {
    const p = planSessionClients(D, obs({ sessionId: ID, localClientsIps: ['10.20.0.99'] }));
    expect(p.actions).toHaveLength(1);
    expect(p.reasons[0]).toBe('ZBS session 7bc26e9b lists 10.20.0.99, not 10.10.0.12,10.20.0.12');
  });

  it('plans nothing when the session already lists them, in any order', () => {
    expect(planSessionClients(D, obs({ sessionId: ID, localClientsIps: ['10.20.0.12', '10.10.0.12'] }))).toEqual({ actions: [], reasons: [] });
  });

  it('plans nothing but warns when the session could not be read', () => {
    expect(planSessionClients(D, obs({ problem: 'zbs-meta session list failed (exit 1)' }))).toEqual({ actions: [], reasons: [], warning: 'node-2: ZBS session client IPs not checked: zbs-meta session list failed (exit 1)' });
  });

  it('plans nothing for an observation from an older release (no session read) or a desired state without client IPs', () => {
    expect(planSessionClients(D, obs(undefined))).toEqual({ actions: [], reasons: [] });
    expect(planSessionClients({ ...D, sessionClientIps: undefined }, obs({ sessionId: ID, localClientsIps: [] }))).toEqual({ actions: [], reasons: [] });
  });

  it('never plans a route action', () => {
    const p = planSessionClients(D, obs({ sessionId: ID, localClientsIps: [] }));
    expect(p.actions.every((a) => a.op === 'register-session-clients')).toBe(true);
  });
});
