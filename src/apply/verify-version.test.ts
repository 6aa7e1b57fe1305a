import type { Manifest } from '../manifest/manifest-types';
import { convergedEsxi, fixtureDesired, fixtureManifest, NOW } from '../../test/support/plan-fixtures';
import { judgeHost, wantedAgentVersion } from './verify-host';

const LOOP = '/vmfs/volumes/ds1/zbs-reroute/reroute-loop.sh';

describe('the agent version apply verifies', () => {
  test('where apply wrote the agent script or (re)started the loop: the manifest version', () => {
    expect(wantedAgentVersion('2.0.0', [{ op: 'write-file', path: LOOP }], LOOP, '1.0.0')).toBe('2.0.0');
    expect(wantedAgentVersion('2.0.0', [{ op: 'restart-agent' }], LOOP, '1.0.0')).toBe('2.0.0');
    expect(wantedAgentVersion('2.0.0', [{ op: 'start-agent' }], LOOP, undefined)).toBe('2.0.0');
  });

  test('a peer of a --target join, whose files only were written: the version its agent runs', () => {
    const peerFiles = [
      { op: 'write-file', path: '/vmfs/volumes/ds1/zbs-reroute/reroute.conf' },
      { op: 'write-file', path: '/vmfs/volumes/ds1/zbs-reroute/keys/known_hosts' },
      { op: 'firewall-ruleset' },
    ];
    expect(wantedAgentVersion('2.0.0', peerFiles, LOOP, '1.0.0')).toBe('1.0.0');
  });

  test('with no running agent seen, the manifest version (nothing else is known to be wanted)', () => {
    expect(wantedAgentVersion('2.0.0', [{ op: 'write-file', path: '/x/reroute.conf' }], LOOP, undefined)).toBe('2.0.0');
  });

  test('judgeHost holds the agent to the wanted version it is given, and to the manifest version without one', () => {
    const m: Manifest = fixtureManifest(3);
    const node = m.nodes[0] as Manifest['nodes'][number];
    const d = fixtureDesired(m).esxi[0];
    if (!d) throw new Error('fixture has no node-1');
    const o = convergedEsxi(d, node.scvm.storageIp);
    if (!o.heartbeat) throw new Error('fixture has no heartbeat');
    o.heartbeat.version = '0.9.0';
    const pings = Object.fromEntries(m.nodes.flatMap((n) => [[n.scvm.storageIp, true] as const, [n.scvm.managementIp, true] as const]));
    expect(judgeHost({ manifest: m, node, observed: o, since: NOW - 10, pings }).problems).toEqual([
      `agent reports version 0.9.0, wanted ${m.version}`,
    ]);
    expect(judgeHost({ manifest: m, node, observed: o, since: NOW - 10, pings, wantedVersion: '0.9.0' })).toMatchObject({
      ok: true,
      problems: [],
    });
  });
});
