import { planCluster } from '../plan/plan-cluster';
import type { EsxiObserved } from '../observe/observed-types';
import { ESXI_CRONTAB, PLAN_OPTS, convergedCluster, fixtureDesired, fixtureManifest, unreachable } from '../../test/support/plan-fixtures';
import type { Plan } from '../plan/plan-types';
import { observeOutcome } from './drift-items';

const nodeHostPlans = (p: Plan, node: string) => p.hosts.filter((h) => h.node === node);

const m = fixtureManifest(3);
const d = fixtureDesired(m);
const plan = (o: ReturnType<typeof convergedCluster>) => planCluster(d, o, { mode: 'apply', ...PLAN_OPTS });

describe('drift items: what the watch loop logs, one event per owned item', () => {
  test('each item comes from the plan reason itself (no parsing of its sentence)', () => {
    const o = convergedCluster(d, m);
    const e = o.esxi['node-2'] as EsxiObserved;
    e.crontab = ESXI_CRONTAB;
    e.agentProcesses = [];
    e.files['/vmfs/volumes/ds-2/zbs-reroute/reroute.conf']!.sha256 = 'c'.repeat(64);
    const out = observeOutcome(nodeHostPlans(plan(o), 'node-2'));
    expect(out.unreachable).toEqual([]);
    expect(out.drift).toEqual([
      { hostKind: 'esxi', item: 'reroute.conf', reason: 'reroute.conf differs' },
      { hostKind: 'esxi', item: 'crontab', reason: 'crontab line missing' },
      { hostKind: 'esxi', item: 'agent', reason: 'agent not running' },
    ]);
  });

  test('a converged node has no drift; an unreachable half is reported with its reason, not as drift', () => {
    const o = convergedCluster(d, m);
    expect(observeOutcome(nodeHostPlans(plan(o), 'node-1'))).toEqual({ unreachable: [], drift: [] });
    o.esxi['node-1'] = unreachable('esxi', 'node-1');
    expect(observeOutcome(nodeHostPlans(plan(o), 'node-1'))).toEqual({
      unreachable: [{ hostKind: 'esxi', reason: 'connect timeout after 10 s' }],
      drift: [],
    });
  });
});
