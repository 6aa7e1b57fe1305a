import type { ObservedDatastore } from '../observe/observed-types';
import { planCluster } from './plan-cluster';
import type { Plan } from './plan-types';
import { PLAN_OPTS, fixtureDesired, fixtureManifest, freshEsxi, freshScvm, observedCluster } from '../../test/support/plan-fixtures';
import { datastoreVerdicts } from './datastore-guard';

const m = fixtureManifest(2);
const d = fixtureDesired(m);
const ds = (node: string, datastore?: ObservedDatastore) => ({ ...freshEsxi(node), ...(datastore ? { datastore } : {}) });
const cluster = (a?: ObservedDatastore, b?: ObservedDatastore) =>
  observedCluster(
    { 'node-1': ds('node-1', a), 'node-2': ds('node-2', b) },
    { 'node-1': freshScvm('node-1'), 'node-2': freshScvm('node-2') },
  );
const LOCAL: ObservedDatastore = { name: 'datastore1', type: 'VMFS-6', mounted: true, vmfs: ['datastore1', 'local-ssd'] };
const ZBS: ObservedDatastore = { name: 'datastore1', type: 'NFS', mounted: true, vmfs: ['local-ssd'] };
const esxi = (p: Plan, node: string) => p.hosts.find((h) => h.node === node && h.host === 'esxi');

describe('never an agent on an NFS datastore (issue 13)', () => {
  it("a host whose datastore is NFS gets no action at all, the plan lists the refusal with the host's VMFS datastores in the fix", () => {
    const plan = planCluster(d, cluster(ZBS, LOCAL), { mode: 'apply', ...PLAN_OPTS });
    expect(esxi(plan, 'node-1')).toMatchObject({
      change: 'noop',
      actions: [],
      notes: [expect.stringContaining('datastore ds-1 is NFS (NFS)')],
    });
    expect(esxi(plan, 'node-2')?.change).toBe('create');
    expect(plan.datastoreRefusals).toEqual([
      {
        node: 'node-1',
        datastore: 'ds-1',
        type: 'NFS',
        detail: expect.stringContaining('mounted over NFS'),
        fix: expect.stringContaining('local-ssd'),
      },
    ]);
    // The summary counts what is planned: node-1 is no longer an install.
    expect(plan.summary.add).toBe(plan.hosts.filter((h) => h.change === 'create').length);
  });

  it('NFS 4.1 too, and a plan with every datastore local has no refusal and no warning', () => {
    const v41 = planCluster(d, cluster({ ...ZBS, type: 'NFS41' }, { ...ZBS, type: 'NFS41' }), { mode: 'apply', ...PLAN_OPTS });
    expect(v41.datastoreRefusals?.map((r) => r.node)).toEqual(['node-1', 'node-2']);
    const fine = planCluster(d, cluster(LOCAL, LOCAL), { mode: 'apply', ...PLAN_OPTS });
    expect(fine.datastoreRefusals).toBeUndefined();
    expect(fine.warnings ?? []).toEqual([]);
  });

  it('unknown is a warning, never a refusal: the listing unreadable, the name not listed, a type neither VMFS nor NFS; an older snapshot says nothing', () => {
    const verdicts = datastoreVerdicts(
      d,
      cluster(
        {
          name: 'datastore1',
          vmfs: [],
          unreadable: '`esxcli storage filesystem list` could not be read: it did not answer within its time bound',
        },
        { name: 'datastore1', vmfs: ['other'] },
      ),
    );
    expect(verdicts).toEqual([
      { node: 'node-1', kind: 'warn', warning: expect.stringContaining('type of datastore ds-1 is unknown') },
      { node: 'node-2', kind: 'warn', warning: expect.stringMatching(/lists no datastore named ds-2.*other/) },
    ]);
    expect(datastoreVerdicts(d, cluster({ ...LOCAL, type: 'vsan' }))[0]).toMatchObject({
      kind: 'warn',
      warning: expect.stringContaining('is vsan, not VMFS'),
    });
    expect(datastoreVerdicts(d, cluster()).map((v) => v.kind)).toEqual(['ok', 'ok']);
    const plan = planCluster(d, cluster({ ...LOCAL, type: 'vsan' }, LOCAL), { mode: 'apply', ...PLAN_OPTS });
    expect(plan.datastoreRefusals).toBeUndefined();
    expect(plan.warnings).toEqual([expect.stringContaining('node-1: datastore ds-1 is vsan')]);
  });

  it('only targeted nodes are judged; a teardown is never refused (removing an agent from NFS is the cure)', () => {
    expect(planCluster(d, cluster(ZBS, LOCAL), { mode: 'apply', targets: ['node-2'], ...PLAN_OPTS }).datastoreRefusals).toBeUndefined();
    expect(planCluster(d, cluster(ZBS, ZBS), { mode: 'destroy', ...PLAN_OPTS }).datastoreRefusals).toBeUndefined();
  });
});
