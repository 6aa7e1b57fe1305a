import { statusExitCode, checkFails, statusTable, summaryLines } from '../cli/commands/status-render';
import type { EsxiObserved } from '../observe/observed-types';
import { convergedCluster, fixtureDesired, fixtureManifest, freshEsxi, unreachable } from '../../test/support/plan-fixtures';
import { clusterStatus } from './cluster-status';

/** `status` tells the truth (issue 13): unreachable is unknown, stale peer lists are shown. */
const m2 = fixtureManifest(2);
const m3 = fixtureManifest(3);
const d2 = fixtureDesired(m2);
const d3 = fixtureDesired(m3);

describe('status: a host that cannot be observed is unknown', () => {
  const o = convergedCluster(d3, m3);
  o.esxi['node-2'] = unreachable('esxi', 'node-2', 'connect timeout after 10 s');
  const rows = clusterStatus(m3, o, { peerView: d3.peerView });
  const row = rows[1]!;

  test('never "not running" nor "off version": agentAlive and versionOk are null, state unknown', () => {
    expect(row).toMatchObject({
      node: 'node-2',
      reachable: false,
      state: 'unknown',
      agentAlive: null,
      versionOk: null,
      reason: 'connect timeout after 10 s',
      degraded: [],
    });
    expect(rows.map((r) => r.state)).toEqual(['ok', 'unknown', 'ok']);
    const text = statusTable(rows, false);
    expect(text).toContain('unknown (unreachable)');
    expect(text).not.toContain('not running');
    const summary = summaryLines(rows, m3.version);
    expect(summary).not.toContain('not on agent');
    expect(summary).toContain('All 2 observed host(s) run agent 1.0.0.');
    expect(summary).toContain('1 host(s) could not be observed, so their agent, version and route are UNKNOWN (not stopped');
    expect(summary).toContain('node-2 (connect timeout after 10 s)');
  });

  test('exit codes: status 0; --check 3 (unknown), 2 when another host definitely fails', () => {
    expect(checkFails(rows)).toBe(false);
    expect(statusExitCode(rows, false)).toBe(0);
    expect(statusExitCode(rows, true)).toBe(3);
    const blind = convergedCluster(d3, m3);
    blind.esxi['node-2'] = unreachable('esxi', 'node-2');
    Object.assign((blind.esxi['node-1'] as EsxiObserved).heartbeat!, { blind: true, fetchFails: 9 });
    expect(statusExitCode(clusterStatus(m3, blind), true)).toBe(2);
    expect(statusExitCode(clusterStatus(m3, convergedCluster(d3, m3), { peerView: d3.peerView }), true)).toBe(0);
  });
});

describe('status: stale peer lists', () => {
  test('a host deployed from the 2-node manifest lacks node-3: shown, named with its fix, fails --check', () => {
    const o = convergedCluster(d2, m2);
    o.esxi['node-3'] = freshEsxi('node-3');
    const rows = clusterStatus(m3, o, { peerView: d3.peerView });
    // known_hosts too where the agent logs in by ssh (the session source decides whether it exists).
    expect(rows[0]?.peerList).toEqual({
      state: 'stale',
      lacks: ['node-3'],
      details: expect.arrayContaining(['reroute.conf lacks node-3']),
    });
    expect(rows[0]?.degraded).toEqual([
      expect.stringMatching(
        /^peer list stale \(reroute\.conf lacks node-3[^)]*\): it cannot fail over to the SCVM of node-3\. Fix: run `reroute apply` \(or `reroute apply --target node-3`\)/,
      ),
    ]);
    expect(rows[0]?.state).toBe('failing');
    // No agent of ours on node-3 yet: no peer list to judge.
    expect(rows[2]?.peerList).toBeUndefined();
    expect(statusTable(rows, false)).toContain('STALE (lacks node-3)');
    expect(statusExitCode(rows, true)).toBe(2);
  });

  test('a host that still lists a removed node is stale too (its files differ from the manifest)', () => {
    const rows = clusterStatus(m2, convergedCluster(d3, m3), { peerView: d2.peerView });
    expect(rows[0]?.peerList?.state).toBe('stale');
    expect(rows[0]?.peerList?.lacks).toEqual([]);
    expect(rows[0]?.peerList?.details).toContain(
      "reroute.conf differs from the manifest's (a peer added or removed, changed addresses or host keys, or other settings)",
    );
  });

  test('up to date: ok; without a desired state: not judged', () => {
    expect(clusterStatus(m3, convergedCluster(d3, m3), { peerView: d3.peerView })[0]?.peerList).toEqual({
      state: 'ok',
      lacks: [],
      details: [],
    });
    expect(clusterStatus(m3, convergedCluster(d3, m3))[0]?.peerList).toBeUndefined();
  });
});
