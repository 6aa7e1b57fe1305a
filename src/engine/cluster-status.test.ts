import { fixtureManifest } from '../../test/support/plan-fixtures';
import type { ObservedCluster } from '../observe/observed-types';
import { clusterStatus } from './cluster-status';

/** `reroute status` beside the agent version: each SCVM's SMTX OS version, and whether it breaks the agent (status --check exits 2). */
describe('status: SMTX OS version per SCVM', () => {
  const observed: ObservedCluster = { format: 'zbs-reroute/observed-v1', takenAt: '2026-12-01T12:00:00.000Z', esxi: {}, scvm: {} };

  test('shows the version read from /etc/smtxos-release; nothing breaks with the rest session source', () => {
    const m = fixtureManifest(2);
    const rows = clusterStatus(m, observed, { releases: { 'node-1': 'SMTX OS 5.1.2', 'node-2': undefined }, agentSshUser: 'smartx' });
    expect(rows.map((r) => [r.node, r.scvmVersion, r.zbsProblems])).toEqual([
      ['node-1', '5.1.2', []],
      ['node-2', undefined, []],
    ]);
  });

  test('SMTX OS 5.1.2 with an agent that would ssh in as root is a problem named with its fix', () => {
    const m = fixtureManifest(1);
    const ssh = { ...m, routing: { ...m.routing, sessionSource: 'ssh' as const } };
    const [row] = clusterStatus(ssh, observed, { releases: { 'node-1': 'SMTX OS 5.1.2' }, agentSshUser: 'root' });
    expect(row?.zbsProblems).toEqual([expect.stringContaining('refuses root ssh login')]);
    const [older] = clusterStatus(ssh, observed, { releases: { 'node-1': 'SMTX OS 5.0.4' }, agentSshUser: 'root' });
    expect(older?.zbsProblems).toEqual([]);
  });
});
