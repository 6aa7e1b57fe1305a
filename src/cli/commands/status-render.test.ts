import type { HostStatus } from '../../engine/cluster-status';
import { checkFails, degradedLines, shadowTable, sightCell } from './status-render';

function row(over: Partial<HostStatus> = {}): HostStatus {
  return {
    node: 'node-1',
    reachable: true,
    state: 'ok',
    wantedVersion: '1.1.0',
    installedVersion: '1.1.0',
    versionOk: true,
    agentAlive: true,
    agentProcesses: 1,
    routeGateway: '10.20.0.101',
    routeLocal: true,
    routeTargetNode: 'node-1',
    zbsProblems: [],
    sight: { mode: 'active', blind: false, fetchFails: 0, listAgeSeconds: 2 },
    degraded: [],
    ...over,
  };
}

describe('status --check', () => {
  test('passes on a healthy cluster', () => {
    expect(checkFails([row(), row({ node: 'node-2' })])).toBe(false);
  });

  test('fails on a blind agent, like on a host off the wanted version', () => {
    expect(checkFails([row(), row({ node: 'node-2', sight: { blind: true, fetchFails: 6 }, degraded: ['the agent is blind: …'] })])).toBe(
      true,
    );
    expect(checkFails([row({ versionOk: false })])).toBe(true);
  });

  test('a shadow disagreement alone does not fail it', () => {
    const shadow = row({
      sight: {
        mode: 'shadow',
        blind: false,
        shadow: {
          target: '10.20.0.102',
          targetNode: 'node-2',
          kind: 'remote-storage',
          changes: 1,
          disagree: true,
          disagreeSince: 100,
          disagreeForSeconds: 30,
        },
      },
    });
    expect(checkFails([shadow])).toBe(false);
  });
});

describe('status text', () => {
  test('session list cell: ok, some fails, BLIND with its counters', () => {
    expect(sightCell(row())).toBe('ok');
    expect(sightCell(row({ sight: { blind: false, fetchFails: 2, listAgeSeconds: 7 } }))).toBe('2 fail(s), last 7s ago');
    expect(sightCell(row({ sight: { blind: true, fetchFails: 9, listAgeSeconds: 30 } }))).toBe('BLIND (9 fails, last 30s ago)');
    expect(sightCell(row({ sight: { blind: true, fetchFails: 5 } }))).toBe('BLIND (5 fails, never had one)');
    expect(sightCell(row({ sight: { blind: false } }))).toBe('-'); // an agent before issue 12
  });

  test('degraded hosts are listed with their fix; none, nothing', () => {
    expect(degradedLines([row()])).toBe('');
    expect(degradedLines([row({ node: 'node-2', degraded: ['the agent is blind. Fix: check the firewall.'] })])).toBe(
      '\nDegraded: 1 host(s):\n  node-2: the agent is blind. Fix: check the firewall.',
    );
  });

  test('shadow table: real route, would-be route, disagreement and since when, would-be changes', () => {
    expect(shadowTable([row()], false)).toBe('');
    const out = shadowTable(
      [
        row({
          sight: {
            mode: 'shadow',
            blind: false,
            shadow: {
              target: '10.20.0.102',
              targetNode: 'node-2',
              kind: 'remote-storage',
              changes: 3,
              disagree: true,
              disagreeSince: 1800000000,
              disagreeForSeconds: 30,
            },
          },
        }),
        row({
          node: 'node-2',
          routeGateway: '10.20.0.102',
          routeTargetNode: 'node-2',
          sight: {
            mode: 'shadow',
            blind: false,
            shadow: { target: '10.20.0.102', targetNode: 'node-2', kind: 'local', changes: 0, disagree: false },
          },
        }),
      ],
      false,
    );
    expect(out).toContain('Shadow decisions:');
    expect(out).toMatch(
      /node-1[\s│]+10\.20\.0\.101 \(node-1\)[\s│]+10\.20\.0\.102 \(node-2\) remote-storage[\s│]+NO, for 30s \(since 1800000000\)[\s│]+3 /,
    );
    expect(out).toMatch(/node-2[\s│]+10\.20\.0\.102 \(node-2\)[\s│]+10\.20\.0\.102 \(node-2\) local[\s│]+yes[\s│]+0 /);
    expect(out).toContain('1 of them disagree with the real route now (information, not a failure of --check)');
  });
});
