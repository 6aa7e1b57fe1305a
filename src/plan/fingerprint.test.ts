import type { EsxiObserved, ScvmObserved } from '../observe/observed-types';
import { observationFingerprint } from './fingerprint';
import { convergedEsxi, fixtureDesired, fixtureManifest, legacyEsxi, unreachable } from '../../test/support/plan-fixtures';

const m = fixtureManifest(3);
const d = fixtureDesired(m);
const host = (): EsxiObserved => {
  const e = d.esxi[0];
  if (!e) throw new Error('fixture has no node');
  return convergedEsxi(e, m.nodes[0]?.scvm.storageIp ?? '');
};

describe('observationFingerprint (what makes a saved plan stale)', () => {
  it('ignores what a live agent changes by itself: heartbeat time, probe time, pids, a failover of the NFS route', () => {
    const a = host();
    const b = host();
    b.now += 40;
    if (b.heartbeat)
      Object.assign(b.heartbeat, {
        updated: b.now - 1,
        since: b.now - 5,
        pid: 4321,
        fetchMs: 99,
        target: '10.20.0.102',
        targetKind: 'remote-storage',
      });
    b.agentProcesses = b.agentProcesses.map((p) => ({ ...p, pid: 4321 }));
    b.nfsRoute = { network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.102', iface: 'vmk1' };
    b.warnings = ['something transient'];
    expect(observationFingerprint(b)).toBe(observationFingerprint(a));
  });

  it('changes with anything on disk or in the shared files, with the agent version, and with which loops run', () => {
    const base = observationFingerprint(host());
    const edits: Array<(o: EsxiObserved) => void> = [
      (o) => (o.crontab += '# operator note\n'),
      (o) => (o.localSh = o.localSh.replace('exit 0', '# x\nexit 0')),
      (o) => {
        const f = Object.values(o.files)[0];
        if (f) f.sha256 = '0'.repeat(64);
      },
      (o) => {
        if (o.heartbeat) o.heartbeat.version = '0.0.1';
      },
      (o) => (o.agentProcesses = []),
      (o) => (o.agentProcesses = [...o.agentProcesses, { pid: 9, command: '/bin/sh /vmfs/volumes/ds2/zbs-reroute/reroute-loop.sh' }]),
      (o) => (o.lease = { owner: 'someone@else', pid: 1, expires: 2 }),
      (o) => (o.crondRunning = false),
    ];
    for (const [i, edit] of edits.entries()) {
      const o = host();
      edit(o);
      expect({ i, same: observationFingerprint(o) === base }).toEqual({ i, same: false });
    }
  });

  it('keeps a legacy install stable across legacy loop pids, but not across its files', () => {
    const a = legacyEsxi('node-1', '10.20.0.101');
    const b = legacyEsxi('node-1', '10.20.0.101');
    a.legacy = { ...(a.legacy as NonNullable<EsxiObserved['legacy']>), processes: [{ pid: 1, command: '/bin/sh x/scvm_failure_loop.sh' }] };
    b.legacy = { ...(b.legacy as NonNullable<EsxiObserved['legacy']>), processes: [{ pid: 2, command: '/bin/sh x/scvm_failure_loop.sh' }] };
    expect(observationFingerprint(b)).toBe(observationFingerprint(a));
    b.legacy.version = '0.9.4';
    expect(observationFingerprint(b)).not.toBe(observationFingerprint(a));
  });

  it('keeps an SCVM stable when its ZBS session moves by itself (new id, unreadable), but not when its key lines change', () => {
    const scvm = (zbsSession: ScvmObserved['zbsSession']): ScvmObserved => ({
      kind: 'scvm',
      node: 'node-1',
      reachable: true,
      managedKeys: ['k'],
      foreignKeyCount: 1,
      zbsSession,
    });
    const a = scvm({ sessionId: 'a1', localClientsIps: ['10.10.0.11'] });
    expect(observationFingerprint(scvm({ problem: 'meta did not answer' }))).toBe(observationFingerprint(a));
    expect(observationFingerprint(scvm({ sessionId: 'b2', localClientsIps: [] }))).toBe(observationFingerprint(a));
    expect(observationFingerprint({ ...a, managedKeys: [] })).not.toBe(observationFingerprint(a));
  });

  it('fingerprints unreachable hosts, SCVMs and a missing observation as they are', () => {
    expect(observationFingerprint(unreachable('esxi', 'node-1'))).not.toBe(
      observationFingerprint(unreachable('esxi', 'node-1', 'other reason')),
    );
    expect(observationFingerprint(undefined)).toBe(observationFingerprint(null));
  });
});
