import type { EsxiObserved } from '../observe/observed-types';
import { convergedEsxi, fixtureDesired, fixtureManifest, NOW } from '../../test/support/plan-fixtures';
import { inconclusive, judgeHost } from './verify-host';
import { pingTargets } from './verify-targets';

const m = fixtureManifest(4);
const node1 = m.nodes[0]!;

function routedVia(gateway: string, kind: 'local' | 'remote-storage'): EsxiObserved {
  const o = convergedEsxi(fixtureDesired(m).esxi[0]!, gateway);
  Object.assign(o.heartbeat!, { target: gateway, targetKind: kind });
  return o;
}

/** Every address node-1 pings, answering except `silent`. */
function pings(gateway: string, silent: string[] = []): Record<string, boolean> {
  const t = pingTargets(m, node1, gateway);
  return Object.fromEntries([...t.decisive, ...t.peers.map((p) => p.ip)].map((ip) => [ip, !silent.includes(ip)]));
}

const judge = (gateway: string, silent: string[], kind: 'local' | 'remote-storage' = 'local') =>
  judgeHost({ manifest: m, node: node1, observed: routedVia(gateway, kind), since: NOW - 10, pings: pings(gateway, silent) });

describe('verification verdicts (issue 14)', () => {
  const local = node1.scvm.storageIp;
  const peer2 = m.nodes[1]!.scvm.storageIp;

  test('everything answers: ok', () => {
    expect(judge(local, [])).toMatchObject({ verdict: 'ok', ok: true, problems: [], warnings: [] });
  });

  test('a sampled peer SCVM that does not answer is a warning naming it, not a failure', () => {
    const v = judge(local, [peer2]);
    expect(v).toMatchObject({ verdict: 'warning', ok: true, problems: [], unreachableIps: [peer2] });
    expect(v.warnings).toEqual([`peer node-2 (${peer2}) does not answer pings from node-1: a failover could not use it`]);
  });

  test('the local SCVM not answering fails the host', () => {
    const v = judge(local, [node1.scvm.managementIp]);
    expect(v).toMatchObject({ verdict: 'failed', ok: false, problems: [`cannot reach ${node1.scvm.managementIp}`] });
  });

  test('the current gateway (a peer this host failed over to) not answering fails the host: its IO goes there', () => {
    const gw = m.nodes[2]!.scvm.storageIp;
    const v = judge(gw, [gw], 'remote-storage');
    expect(v.verdict).toBe('failed');
    expect(v.problems).toContain(`cannot reach ${gw}`);
  });

  test('a failure wins over a warning', () => {
    expect(judge(local, [peer2, node1.scvm.managementIp]).verdict).toBe('failed');
  });

  test('an unreachable host has no verdict: inconclusive, with the reason, neither ok nor failed', () => {
    expect(inconclusive('node-3', 'REMOTE_TIMEOUT')).toEqual({
      node: 'node-3',
      verdict: 'inconclusive',
      ok: false,
      problems: [],
      warnings: [],
      reason: 'REMOTE_TIMEOUT',
      unreachableIps: [],
    });
  });
});
