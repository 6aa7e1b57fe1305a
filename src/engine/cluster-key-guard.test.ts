import { keyLeaseTtlSeconds, planChangesClusterKey } from '../apply/cluster-key-lease';
import { planCluster } from '../plan/plan-cluster';
import {
  PLAN_OPTS,
  convergedCluster,
  fixtureDesired,
  fixtureManifest,
  observedCluster,
  freshEsxi,
  freshScvm,
  withSshSource,
} from '../../test/support/plan-fixtures';
import { clusterKeyChanges, clusterKeyState } from './cluster-key-guard';

describe('one cluster identity: when the cluster key lease is needed, and what a re-check compares', () => {
  const ssh = withSshSource(fixtureManifest(2));
  const d = fixtureDesired(ssh);

  it('a fresh ssh-source install and an SCVM key add need the lease; a converged cluster and a rest install do not', () => {
    const fresh = observedCluster(
      { 'node-1': freshEsxi('node-1'), 'node-2': freshEsxi('node-2') },
      { 'node-1': freshScvm('node-1'), 'node-2': freshScvm('node-2') },
    );
    expect(planChangesClusterKey(planCluster(d, fresh, { mode: 'apply', ...PLAN_OPTS }))).toBe(true);
    expect(planChangesClusterKey(planCluster(d, convergedCluster(d, ssh), { mode: 'apply', ...PLAN_OPTS }))).toBe(false);
    const rest = fixtureManifest(2);
    expect(planChangesClusterKey(planCluster(fixtureDesired(rest), fresh, { mode: 'apply', ...PLAN_OPTS }))).toBe(false);
  });

  it('the key state names each host; a change on a host seen both times is reported, an unseen host is not', () => {
    const o = convergedCluster(d, ssh);
    const before = clusterKeyState(ssh, o);
    expect(Object.keys(before)).toEqual(['node-1 (esxi)', 'node-1 (scvm)', 'node-2 (esxi)', 'node-2 (scvm)']);
    const after = { ...before, 'node-2 (esxi)': 'other', 'node-1 (scvm)': `${before['node-1 (scvm)']}\nsecond` };
    expect(clusterKeyChanges(before, after)).toEqual(['node-1 (scvm)', 'node-2 (esxi)']);
    const { 'node-2 (esxi)': _gone, ...unseen } = after;
    expect(clusterKeyChanges(before, unseen)).toEqual(['node-1 (scvm)']);
  });

  it('the lease outlives the whole apply: SCVMs, then ESXi hosts parallelism at a time', () => {
    expect(keyLeaseTtlSeconds(330, 16, 8)).toBe(330 * 4);
    expect(keyLeaseTtlSeconds(330, 1, 8)).toBe(330 * 3);
  });
});
