import { AGENT_SESSION_COMMAND, authorizedKeyForcesCommand } from '../desired/authorized-key';
import { planCluster } from './plan-cluster';
import { PLAN_OPTS, convergedCluster, fixtureDesired, fixtureManifest, withSshSource } from '../../test/support/plan-fixtures';
import type { ObservedCluster, ScvmObserved } from '../observe/observed-types';

/**
 * Issue 13 item 4, least power for the cluster key: with the REST session source nothing on a
 * host uses it, so no keypair on ESXi and no entry on SCVMs (an earlier install's are removed,
 * with the reason); with the ssh source the entry forces the agent's one read-only command.
 */
const rest = fixtureManifest(2);
const ssh = withSshSource(fixtureManifest(2));
const dRest = fixtureDesired(rest);
const dSsh = fixtureDesired(ssh);

function scvmOf(o: ObservedCluster, node: string): ScvmObserved {
  return o.scvm[node] as ScvmObserved;
}

describe('cluster key: least power', () => {
  test('rest source: no key files, no known_hosts, no SCVM entry wanted', () => {
    for (const e of dRest.esxi) {
      expect(e.files.map((f) => f.path.split('/').slice(-2).join('/'))).toEqual([
        'zbs-reroute/reroute.conf',
        'zbs-reroute/reroute-loop.sh',
      ]);
      expect(e.files.some((f) => f.contentRef === 'reroute-private-key')).toBe(false);
    }
    for (const s of dRest.scvm) expect(s.authorizedKey).toBeUndefined();
    expect(dRest.warnings ?? []).not.toContainEqual(expect.stringMatching(/pinned host key/));
  });

  test('rest source, converged without keys: nothing to do', () => {
    const p = planCluster(dRest, convergedCluster(dRest, rest), { mode: 'apply', ...PLAN_OPTS });
    expect(p.hosts.filter((h) => h.actions.length > 0)).toEqual([]);
  });

  test('rest source over an install that has the keypair and SCVM entries: apply removes them, saying why', () => {
    // What an earlier release left: the ssh-source install (keys + entries), with the conf of rest.
    const o = convergedCluster(dSsh, ssh);
    const restConf = convergedCluster(dRest, rest);
    for (const n of ['node-1', 'node-2']) {
      const e = o.esxi[n]!;
      const r = restConf.esxi[n]!;
      if (e.reachable && r.reachable) {
        for (const f of Object.values(r.files)) e.files[f.path] = f;
      }
    }
    const p = planCluster(dRest, o, { mode: 'apply', ...PLAN_OPTS });
    const e1 = p.hosts.find((h) => h.host === 'esxi' && h.node === 'node-1')!;
    expect(e1.actions).toEqual([
      { op: 'delete-file', path: '/vmfs/volumes/ds-1/zbs-reroute/keys/reroute_id_rsa' },
      { op: 'delete-file', path: '/vmfs/volumes/ds-1/zbs-reroute/keys/reroute_id_rsa.pub' },
      { op: 'delete-file', path: '/vmfs/volumes/ds-1/zbs-reroute/keys/known_hosts' },
      { op: 'remove-dir', path: '/vmfs/volumes/ds-1/zbs-reroute/keys', recursive: false },
    ]);
    expect(e1.reasons.map((r) => r.detail).join(' ')).toMatch(/cluster keypair not needed: session source rest/);
    const s1 = p.hosts.find((h) => h.host === 'scvm' && h.node === 'node-1')!;
    expect(s1.actions).toEqual([{ op: 'authorized-key-remove', entry: dSsh.scvm[0]!.authorizedKey }]);
    expect(s1.reasons.map((r) => r.detail).join(' ')).toMatch(/key entry not needed: session source rest/);
  });

  test('ssh source: restrict + the one read-only command + from=, and nothing else', () => {
    const entry = dSsh.scvm[0]!.authorizedKey!;
    expect(entry).toMatch(
      new RegExp(
        `^restrict,command="${AGENT_SESSION_COMMAND}",from="10\\.10\\.0\\.11,10\\.20\\.0\\.11,10\\.10\\.0\\.12,10\\.20\\.0\\.12" ssh-rsa \\S+ zbs-reroute:prod-a$`,
      ),
    );
    expect(authorizedKeyForcesCommand(entry)).toBe(true);
  });

  test('ssh source over an old unrestricted entry: replaced as a key-entry change (new first), with why', () => {
    const o = convergedCluster(dSsh, ssh);
    const old = `from="10.10.0.11,10.20.0.11,10.10.0.12,10.20.0.12",no-port-forwarding,no-pty,no-agent-forwarding,no-X11-forwarding ${dSsh.scvm[0]!.authorizedKey!.split(' ').slice(1).join(' ')}`;
    scvmOf(o, 'node-1').managedKeys = [old];
    const p = planCluster(dSsh, o, { mode: 'apply', ...PLAN_OPTS });
    const s1 = p.hosts.find((h) => h.host === 'scvm' && h.node === 'node-1')!;
    expect(s1.actions).toEqual([
      { op: 'authorized-key-add', entry: dSsh.scvm[0]!.authorizedKey },
      { op: 'authorized-key-remove', entry: old },
    ]);
    expect(s1.reasons.map((r) => r.detail)).toEqual([
      'key entry gains restrict and a forced read-only command (the old one allowed any command)',
    ]);
  });
});
