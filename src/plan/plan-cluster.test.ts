import { planCluster, planHasChanges } from './plan-cluster';
import { applyPlanToObserved } from '../../test/support/simulate-apply';
import type { Action, Plan } from './plan-types';
import type { DesiredCluster } from '../desired/desired-types';
import type { EsxiObserved, ObservedCluster, ScvmObserved } from '../observe/observed-types';
import {
  ESXI_CRONTAB,
  ESXI_LOCAL_SH,
  NOW,
  PLAN_OPTS,
  convergedCluster,
  fixtureDesired,
  fixtureManifest as restManifest,
  withSshSource,
  fixtureNode,
  freshEsxi,
  freshScvm,
  legacyEsxi,
  observedCluster,
  unreachable,
} from '../../test/support/plan-fixtures';

// These cases are about the cluster key too: the ssh session source is the one that installs it.
const fixtureManifest = (...a: Parameters<typeof restManifest>) => withSshSource(restManifest(...a));

const apply = (d: DesiredCluster, o: ObservedCluster, extra: Partial<Parameters<typeof planCluster>[2]> = {}) =>
  planCluster(d, o, { mode: 'apply', ...PLAN_OPTS, ...extra });
const destroy = (d: DesiredCluster, o: ObservedCluster, extra: Partial<Parameters<typeof planCluster>[2]> = {}) =>
  planCluster(d, o, { mode: 'destroy', ...PLAN_OPTS, ...extra });
const ops = (p: Plan, node: string, host: 'esxi' | 'scvm' = 'esxi') => host_(p, node, host).actions.map((a) => a.op);
function host_(p: Plan, node: string, host: 'esxi' | 'scvm' = 'esxi') {
  const h = p.hosts.find((x) => x.node === node && x.host === host);
  if (!h) throw new Error(`no ${host} plan for ${node}`);
  return h;
}
function esxiOf(o: ObservedCluster, node: string): EsxiObserved {
  const e = o.esxi[node];
  if (!e || !e.reachable) throw new Error('unreachable');
  return e;
}
function scvmOf(o: ObservedCluster, node: string): ScvmObserved {
  const e = o.scvm[node];
  if (!e || !e.reachable) throw new Error('unreachable');
  return e;
}
/** Planning again after a perfect apply must be a no-op. */
function expectConverges(d: DesiredCluster, o: ObservedCluster, p: Plan) {
  const after = applyPlanToObserved(p, o);
  const again = planCluster(d, after, { mode: p.mode, ...PLAN_OPTS });
  expect(again.hosts.filter((h) => h.actions.length > 0).map((h) => `${h.host}:${h.node} ${h.actions.map((a) => a.op).join(',')}`)).toEqual(
    [],
  );
  return after;
}

const m3 = fixtureManifest(3);
const d3 = fixtureDesired(m3);

describe('planCluster, apply mode', () => {
  test('a fresh cluster gets the full install on every host, keys first, in the documented order', () => {
    const o = observedCluster(
      { 'node-1': freshEsxi('node-1'), 'node-2': freshEsxi('node-2'), 'node-3': freshEsxi('node-3') },
      { 'node-1': freshScvm('node-1'), 'node-2': freshScvm('node-2'), 'node-3': freshScvm('node-3') },
    );
    const p = apply(d3, o);
    expect(p.hosts.map((h) => `${h.host}:${h.node}`)).toEqual([
      'scvm:node-1',
      'scvm:node-2',
      'scvm:node-3',
      'esxi:node-1',
      'esxi:node-2',
      'esxi:node-3',
    ]);
    expect(p.summary).toEqual({ add: 6, change: 0, destroy: 0, unreachable: 0 });
    expect(ops(p, 'node-1')).toEqual([
      'mkdir',
      'mkdir',
      'write-file',
      'write-file',
      'write-file',
      'write-file',
      'write-file',
      'edit-crontab',
      'reload-crond',
      'edit-local-sh',
      'auto-backup',
      'start-agent',
    ]);
    const writes = host_(p, 'node-1').actions.filter((a): a is Extract<Action, { op: 'write-file' }> => a.op === 'write-file');
    expect(writes.map((w) => w.path.split('/zbs-reroute/')[1])).toEqual([
      'keys/reroute_id_rsa',
      'keys/reroute_id_rsa.pub',
      'keys/known_hosts',
      'reroute.conf',
      'reroute-loop.sh',
    ]);
    expect(writes[0]?.content).toBeUndefined();
    expect(writes[0]?.contentRef).toBe('reroute-private-key');
    expect(host_(p, 'node-1').change).toBe('create');
    expect(host_(p, 'node-1').installDir).toBe('/vmfs/volumes/ds-1/zbs-reroute');
    expect(ops(p, 'node-2', 'scvm')).toEqual(['authorized-key-add']);
    expectConverges(d3, o, p);
  });

  test('a converged cluster plans nothing', () => {
    const o = convergedCluster(d3, m3);
    const p = apply(d3, o);
    expect(p.hosts.every((h) => h.change === 'noop' && h.actions.length === 0)).toBe(true);
    expect(planHasChanges(p)).toBe(false);
    expect(p.summary).toEqual({ add: 0, change: 0, destroy: 0, unreachable: 0 });
  });

  test('joining node-4 installs node-4 only and updates every SCVM key entry (from= gains its IPs), no route action', () => {
    const o = convergedCluster(d3, m3);
    const m4 = fixtureManifest(4);
    const d4 = fixtureDesired(m4);
    o.esxi['node-4'] = freshEsxi('node-4');
    o.scvm['node-4'] = freshScvm('node-4');
    const p = apply(d4, o);
    for (const n of ['node-1', 'node-2', 'node-3']) {
      expect(host_(p, n).change).toBe('update');
      // Peers and known_hosts grew: both rewritten; the loop re-reads its conf, so no restart.
      expect(ops(p, n)).toEqual(['write-file', 'write-file']);
      expect(ops(p, n, 'scvm')).toEqual(['authorized-key-add', 'authorized-key-remove']);
      expect(host_(p, n, 'scvm').reasons.map((r) => r.detail)).toEqual(['key entry from= gains 10.10.0.14, 10.20.0.14']);
    }
    expect(host_(p, 'node-4').change).toBe('create');
    expect(host_(p, 'node-4', 'scvm').change).toBe('create');
    expect(p.hosts.flatMap((h) => h.actions).some((a) => a.op === 'delete-route')).toBe(false);
    expectConverges(d4, o, p);
  });

  test('a version upgrade is an atomic script swap plus an agent restart and nothing else', () => {
    const o = convergedCluster(d3, m3);
    const m = fixtureManifest(3, { version: '1.1.0' });
    const d = fixtureDesired(m);
    const p = apply(d, o);
    for (const n of ['node-1', 'node-2', 'node-3']) {
      const h = host_(p, n);
      expect(h.actions.map((a) => a.op)).toEqual(['write-file', 'restart-agent']);
      const w = h.actions[0] as Extract<Action, { op: 'write-file' }>;
      expect(w.path).toBe(`/vmfs/volumes/ds-${n.slice(-1)}/zbs-reroute/reroute-loop.sh`);
      expect(w.version).toBe('1.1.0');
      expect(w.before?.version).toBe('1.0.0');
      expect(h.reasons.map((r) => r.detail)).toEqual(['agent 1.0.0 → 1.1.0']);
      expect(ops(p, n, 'scvm')).toEqual([]);
    }
    expect(p.summary).toEqual({ add: 0, change: 3, destroy: 0, unreachable: 0 });
    expectConverges(d, o, p);
  });

  describe('drift in one owned item plans that item only', () => {
    const base = () => convergedCluster(d3, m3);
    const dir = '/vmfs/volumes/ds-2/zbs-reroute';
    const cases: [string, (e: EsxiObserved) => void, string[], string[]][] = [
      [
        'private key changed',
        (e) => {
          e.files[`${dir}/keys/reroute_id_rsa`]!.sha256 = 'a'.repeat(64);
        },
        ['write-file'],
        ['keys/reroute_id_rsa:file-differs'],
      ],
      [
        'public key missing',
        (e) => {
          delete e.files[`${dir}/keys/reroute_id_rsa.pub`];
        },
        ['write-file'],
        ['keys/reroute_id_rsa.pub:file-missing'],
      ],
      [
        'known_hosts changed',
        (e) => {
          e.files[`${dir}/keys/known_hosts`]!.sha256 = 'b'.repeat(64);
        },
        ['write-file'],
        ['keys/known_hosts:file-differs'],
      ],
      [
        'reroute.conf changed (the loop re-reads it, no restart)',
        (e) => {
          e.files[`${dir}/reroute.conf`]!.sha256 = 'c'.repeat(64);
        },
        ['write-file'],
        ['reroute.conf:file-differs'],
      ],
      [
        'reroute.conf mode loosened',
        (e) => {
          e.files[`${dir}/reroute.conf`]!.mode = '0644';
        },
        ['write-file'],
        ['reroute.conf:file-mode'],
      ],
      [
        'agent script edited in place',
        (e) => {
          e.files[`${dir}/reroute-loop.sh`]!.sha256 = 'd'.repeat(64);
        },
        ['write-file', 'restart-agent'],
        ['reroute-loop.sh:file-differs'],
      ],
      [
        'all keys gone (keys dir recreated)',
        (e) => {
          for (const k of Object.keys(e.files)) if (k.includes('/keys/')) delete e.files[k];
        },
        ['mkdir', 'write-file', 'write-file', 'write-file'],
        ['keys/reroute_id_rsa:file-missing', 'keys/reroute_id_rsa.pub:file-missing', 'keys/known_hosts:file-missing'],
      ],
      [
        'crontab line missing',
        (e) => {
          e.crontab = ESXI_CRONTAB;
        },
        ['edit-crontab', 'reload-crond'],
        ['crontab:crontab-missing'],
      ],
      [
        'crontab line duplicated',
        (e) => {
          e.crontab += `* * * * * /bin/sh ${dir}/reroute-loop.sh &\n`;
        },
        ['edit-crontab', 'reload-crond'],
        ['crontab:crontab-duplicated'],
      ],
      [
        'crontab points at an old datastore',
        (e) => {
          e.crontab = ESXI_CRONTAB + '* * * * * /bin/sh /vmfs/volumes/None/zbs-reroute/reroute-loop.sh &\n';
        },
        ['edit-crontab', 'reload-crond'],
        ['crontab:crontab-missing', 'crontab:crontab-stale'],
      ],
      [
        'crond not running',
        (e) => {
          e.crondRunning = false;
        },
        ['reload-crond'],
        ['crond:crond-stopped'],
      ],
      [
        'local.sh block missing',
        (e) => {
          e.localSh = ESXI_LOCAL_SH;
        },
        ['edit-local-sh', 'auto-backup'],
        ['local.sh:local-sh-drift'],
      ],
      [
        'local.sh block edited by hand',
        (e) => {
          e.localSh = e.localSh.replace(' crond\n', ' crond # tweaked\n');
        },
        ['edit-local-sh', 'auto-backup'],
        ['local.sh:local-sh-drift'],
      ],
      [
        'local.sh block after exit 0',
        (e) => {
          e.localSh = ESXI_LOCAL_SH + d3.esxi[1]!.localShBlock;
        },
        ['edit-local-sh', 'auto-backup'],
        ['local.sh:local-sh-drift'],
      ],
      [
        'agent not running',
        (e) => {
          e.agentProcesses = [];
        },
        ['start-agent'],
        ['agent:agent-not-running'],
      ],
      [
        'heartbeat stale (agent hung)',
        (e) => {
          e.heartbeat!.updated = NOW - 600;
        },
        ['restart-agent'],
        ['agent:agent-stale'],
      ],
      [
        'heartbeat missing while the loop runs',
        (e) => {
          delete e.heartbeat;
        },
        ['restart-agent'],
        ['agent:agent-stale'],
      ],
      [
        'old agent still running after a swap',
        (e) => {
          e.heartbeat!.version = '0.9.0';
        },
        ['restart-agent'],
        ['agent:agent-stale'],
      ],
    ];
    test.each(cases)('%s', (_name, mutate, expected, items) => {
      const o = base();
      mutate(esxiOf(o, 'node-2'));
      const p = apply(d3, o);
      expect(ops(p, 'node-2')).toEqual(expected);
      expect(host_(p, 'node-2').change).toBe('update');
      // Reasons are data: the item each one is about and the kind of drift, for watch logs and --json.
      expect(host_(p, 'node-2').reasons.map((r) => `${r.item}:${r.code}`)).toEqual(items);
      expect(p.hosts.filter((h) => h.actions.length > 0).map((h) => h.node)).toEqual(['node-2']);
      expectConverges(d3, o, p);
    });

    test('authorized key missing on one SCVM: add it there only', () => {
      const o = base();
      scvmOf(o, 'node-3').managedKeys = [];
      const p = apply(d3, o);
      expect(ops(p, 'node-3', 'scvm')).toEqual(['authorized-key-add']);
      expect(host_(p, 'node-3', 'scvm').change).toBe('create');
      expect(p.hosts.filter((h) => h.actions.length > 0)).toHaveLength(1);
      expectConverges(d3, o, p);
    });

    test('authorized key of this cluster with another key: new one added before the stale one goes; other clusters untouched', () => {
      const o = base();
      const other = 'ssh-rsa AAAAother zbs-reroute:other-cluster';
      const stale = 'from="10.10.0.11",no-pty ssh-rsa AAAAold zbs-reroute:prod-a';
      scvmOf(o, 'node-1').managedKeys = [other, stale];
      const p = apply(d3, o);
      expect(host_(p, 'node-1', 'scvm').actions).toEqual([
        { op: 'authorized-key-add', entry: d3.scvm[0]!.authorizedKey },
        { op: 'authorized-key-remove', entry: stale },
      ]);
      const after = expectConverges(d3, o, p);
      expect(scvmOf(after, 'node-1').managedKeys).toContain(other);
    });

    test("upgrade from a release that put the key in root's authorized_keys: the operator user's entry first, then root's goes; destroy removes a leftover too", () => {
      const o = base();
      const oldRoot = d3.scvm[0]!.authorizedKey!;
      scvmOf(o, 'node-1').managedKeys = [];
      scvmOf(o, 'node-1').rootManagedKeys = [oldRoot, 'ssh-rsa AAAAother zbs-reroute:other-cluster'];
      const p = apply(d3, o);
      expect(host_(p, 'node-1', 'scvm').actions).toEqual([
        { op: 'authorized-key-add', entry: d3.scvm[0]!.authorizedKey },
        { op: 'authorized-key-remove', entry: oldRoot, file: 'root' },
      ]);
      expect(host_(p, 'node-1', 'scvm').reasons.map((r) => r.detail)).toContain(
        "old key entry in root's authorized_keys (the agent logs in as the operator user now)",
      );
      const after = expectConverges(d3, o, p);
      expect(scvmOf(after, 'node-1').rootManagedKeys).toEqual(['ssh-rsa AAAAother zbs-reroute:other-cluster']); // never another cluster's
      const o2 = base();
      scvmOf(o2, 'node-2').rootManagedKeys = [d3.scvm[1]!.authorizedKey!];
      expect(host_(destroy(d3, o2), 'node-2', 'scvm').actions).toEqual([
        { op: 'authorized-key-remove', entry: d3.scvm[1]!.authorizedKey },
        { op: 'authorized-key-remove', entry: d3.scvm[1]!.authorizedKey, file: 'root' },
      ]);
    });
  });

  test('foreign crontab and local.sh lines survive byte for byte (CRLF, comments, lookalikes)', () => {
    const o = convergedCluster(d3, m3);
    const e = esxiOf(o, 'node-1');
    const foreignCron = [
      '# old: * * * * * /bin/sh /x/reroute-loop.sh &',
      '*/2 * * * * /opt/other.sh\r',
      '5 5 * * * echo reroute-loop.sh.bak',
    ];
    e.crontab = ESXI_CRONTAB + foreignCron.join('\n'); // no final newline
    e.localSh =
      '#!/bin/sh\r\necho "custom"\n' +
      d3.esxi[0]!.localShBlock.replace('crond\n', 'crond --changed\n') +
      'if true; then\n  exit 0\nfi\nexit 0';
    const p = apply(d3, o);
    expect(ops(p, 'node-1')).toEqual(['edit-crontab', 'reload-crond', 'edit-local-sh', 'auto-backup']);
    const after = esxiOf(applyPlanToObserved(p, o), 'node-1');
    expect(after.crontab).toBe(ESXI_CRONTAB + foreignCron.join('\n') + '\n' + d3.esxi[0]!.crontabLine + '\n');
    expect(after.localSh).toBe('#!/bin/sh\r\necho "custom"\nif true; then\n  exit 0\nfi\n' + d3.esxi[0]!.localShBlock + 'exit 0');
    expectConverges(d3, o, p);
  });

  test('a legacy (seed tooling) install is taken over without touching its route; its folder goes last', () => {
    const o = convergedCluster(d3, m3);
    o.esxi['node-1'] = legacyEsxi('node-1', '10.20.0.102'); // the seed loop had failed over to node-2
    const p = apply(d3, o);
    const h = host_(p, 'node-1');
    expect(h.change).toBe('takeover');
    expect(h.actions.map((a) => a.op)).toEqual([
      'mkdir',
      'mkdir',
      'write-file',
      'write-file',
      'write-file',
      'write-file',
      'write-file',
      'edit-crontab',
      'reload-crond',
      'edit-local-sh',
      'auto-backup',
      'stop-agent',
      'start-agent',
      'verify-agent',
      'remove-dir',
    ]);
    const legacy = esxiOf(o, 'node-1').legacy!;
    expect(h.actions).toContainEqual({
      op: 'edit-crontab',
      remove: [legacy.crontabLine],
      add: [d3.esxi[0]!.crontabLine],
      before: esxiOf(o, 'node-1').crontab,
    });
    expect(h.actions).toContainEqual({ op: 'stop-agent', match: ['scvm_failure_loop.sh'] });
    expect(h.actions.at(-1)).toEqual({ op: 'remove-dir', path: legacy.dir, recursive: true });
    expect(h.reasons.map((r) => r.detail)[0]).toMatch(/legacy install 0\.9\.3 .*route adopted/);
    expect(p.summary.change).toBe(1);
    const after = expectConverges(d3, o, p);
    const e = esxiOf(after, 'node-1');
    expect(e.nfsRoute?.gateway).toBe('10.20.0.102');
    expect(e.crontab).not.toMatch(/scvm_failure/);
    expect(e.localSh).not.toMatch(/scvm_failure/);
  });

  test('legacy traces without a usable folder path: lines removed and loop stopped, but no rm -rf of a guessed path', () => {
    const o = convergedCluster(d3, m3);
    const l = legacyEsxi('node-1', '10.20.0.101');
    l.legacy = { ...l.legacy!, dir: '', keyDir: '/vmfs/volumes/uuid-1' };
    o.esxi['node-1'] = l;
    const p = apply(d3, o);
    expect(host_(p, 'node-1').change).toBe('takeover');
    expect(ops(p, 'node-1')).not.toContain('remove-dir');
    expect(ops(p, 'node-1')).toContain('stop-agent');
    expectConverges(d3, o, p);
    l.legacy = { ...l.legacy, dir: '/vmfs/volumes/../vmware_scvm_failure' };
    expect(ops(apply(d3, o), 'node-1')).not.toContain('remove-dir');
    expect(ops(destroy(d3, o), 'node-1')).not.toContain('remove-dir');
  });

  test('a loop still running from an old datastore folder is stopped and ours started', () => {
    const o = convergedCluster(d3, m3);
    const e = esxiOf(o, 'node-1');
    e.agentProcesses = [{ pid: 55, command: '/bin/sh /vmfs/volumes/old-ds/zbs-reroute/reroute-loop.sh' }];
    const p = apply(d3, o);
    expect(host_(p, 'node-1').actions).toEqual([
      { op: 'stop-agent', match: ['/vmfs/volumes/old-ds/zbs-reroute/reroute-loop.sh'] },
      { op: 'start-agent' },
    ]);
    expectConverges(d3, o, p);
  });

  test('an unreachable host is listed with its reason and no actions; the others still plan', () => {
    const o = convergedCluster(d3, m3);
    o.esxi['node-2'] = unreachable('esxi', 'node-2', 'connect ECONNREFUSED 10.10.0.12:22');
    delete o.scvm['node-3'];
    esxiOf(o, 'node-1').agentProcesses = [];
    const p = apply(d3, o);
    expect(host_(p, 'node-2')).toMatchObject({
      change: 'unreachable',
      actions: [],
      unreachableReason: 'connect ECONNREFUSED 10.10.0.12:22',
    });
    expect(host_(p, 'node-3', 'scvm')).toMatchObject({ change: 'unreachable', unreachableReason: 'not in the observation' });
    expect(ops(p, 'node-1')).toEqual(['start-agent']);
    expect(p.summary).toEqual({ add: 0, change: 1, destroy: 0, unreachable: 2 });
  });

  test('--target plans the target, every SCVM whose entry lists its ESXi IPs and every peer whose files name it (src/plan/plan-targets.test.ts)', () => {
    const o = convergedCluster(d3, m3);
    const m4 = fixtureManifest(4);
    const d4 = fixtureDesired(m4);
    o.esxi['node-4'] = freshEsxi('node-4');
    o.scvm['node-4'] = freshScvm('node-4');
    const p = apply(d4, o, { targets: ['node-4'] });
    expect(p.hosts.map((h) => `${h.host}:${h.node}:${h.change}`)).toEqual([
      'scvm:node-1:update',
      'scvm:node-2:update',
      'scvm:node-3:update',
      'scvm:node-4:create',
      'esxi:node-1:update',
      'esxi:node-2:update',
      'esxi:node-3:update',
      'esxi:node-4:create',
    ]);
    expect(() => apply(d4, o, { targets: ['node-9'] })).toThrow(/node-9/);
  });

  test('drain writes the pin to the named node (the one deliberate IO move) and removing drain removes the pin', () => {
    const m = fixtureManifest(3);
    m.nodes[1] = fixtureNode(2, { drain: { to: 'node-3' } });
    const d = fixtureDesired(m);
    const o = convergedCluster(d3, m3);
    const p = apply(d, o);
    expect(host_(p, 'node-2').actions).toEqual([
      { op: 'write-pin', target: '10.20.0.103', targetNode: 'node-3', path: '/vmfs/volumes/ds-2/zbs-reroute/pin' },
    ]);
    expect(host_(p, 'node-2').reasons.map((r) => r.detail)).toEqual(['IO drained to node-3']);
    const drained = expectConverges(d, o, p);
    const undo = apply(d3, drained);
    expect(host_(undo, 'node-2').actions).toEqual([{ op: 'remove-pin', path: '/vmfs/volumes/ds-2/zbs-reroute/pin' }]);
    expectConverges(d3, drained, undo);
  });

  test('drain without a target picks the next node in manifest order that is not drained itself', () => {
    const m = fixtureManifest(3);
    m.nodes[2] = fixtureNode(3, { drain: {} });
    m.nodes[0] = fixtureNode(1, { drain: {} });
    const d = fixtureDesired(m);
    expect(d.esxi[2]?.pinTargetNode).toBe('node-2'); // node-1 (wrapping) is drained too
    expect(d.esxi[0]?.pinTargetNode).toBe('node-2');
  });

  test('prune deletes stray files in our folder but never the pin or a lease', () => {
    const o = convergedCluster(d3, m3);
    const e = esxiOf(o, 'node-1');
    const dir = '/vmfs/volumes/ds-1/zbs-reroute';
    for (const f of ['.reroute-loop.sh.tmp.99', 'lease/owner'])
      e.files[`${dir}/${f}`] = { path: `${dir}/${f}`, sha256: 'e'.repeat(64), size: 1, mode: '0600' };
    expect(ops(apply(d3, o), 'node-1')).toEqual([]);
    const p = apply(d3, o, { prune: true });
    expect(host_(p, 'node-1').actions).toEqual([{ op: 'delete-file', path: `${dir}/.reroute-loop.sh.tmp.99` }]);
  });
});

describe('planCluster, destroy mode', () => {
  test('teardown with --remove-routes removes everything we own, stops cron first, and deletes only cluster routes', () => {
    const m = fixtureManifest(3);
    m.nodes[0] = fixtureNode(1, { storageGateway: '10.20.0.254' });
    const d = fixtureDesired(m);
    const o = convergedCluster(d, m);
    const e = esxiOf(o, 'node-1');
    e.otherHostRoutes = [
      { network: '10.20.0.102', prefixLength: 32, gateway: '10.20.0.254' }, // RDMA leftover via our storage gateway
      { network: '10.20.0.103', prefixLength: 32, gateway: '10.20.0.1' }, // someone else's gateway: never
    ];
    esxiOf(o, 'node-2').nfsRoute = { network: '192.168.33.2', prefixLength: 32, gateway: '172.16.9.9' }; // foreign gateway: never
    const p = destroy(d, o, { destroy: { removeRoutes: true } });
    expect(p.hosts.map((h) => `${h.host}:${h.node}`)).toEqual([
      'esxi:node-1',
      'esxi:node-2',
      'esxi:node-3',
      'scvm:node-1',
      'scvm:node-2',
      'scvm:node-3',
    ]);
    expect(ops(p, 'node-1')).toEqual([
      'edit-crontab',
      'reload-crond',
      'stop-agent',
      'edit-local-sh',
      'auto-backup',
      'delete-file',
      'delete-file',
      'delete-file',
      'delete-file',
      'delete-file',
      'remove-dir',
      'delete-route',
      'delete-route',
    ]);
    expect(host_(p, 'node-1').actions.filter((a) => a.op === 'delete-route')).toEqual([
      // Deleted only because it is local (and healthy); no other gateway is named: a route that
      // moved to a peer after it was observed (a failover during the stop) is never deleted.
      { op: 'delete-route', network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.101' },
      { op: 'delete-route', network: '10.20.0.102', prefixLength: 32, gateway: '10.20.0.254' },
    ]);
    expect(host_(p, 'node-2').actions.some((a) => a.op === 'delete-route')).toBe(false);
    expect(ops(p, 'node-1', 'scvm')).toEqual(['authorized-key-remove']);
    expect(p.summary).toEqual({ add: 0, change: 0, destroy: 6, unreachable: 0 });
    const after = expectConverges(d, o, p);
    const e1 = esxiOf(after, 'node-1');
    expect(e1.crontab).toBe(ESXI_CRONTAB);
    expect(e1.localSh).toBe(ESXI_LOCAL_SH);
    expect(e1.otherHostRoutes).toEqual([{ network: '10.20.0.103', prefixLength: 32, gateway: '10.20.0.1' }]);
    expect(esxiOf(after, 'node-2').nfsRoute?.gateway).toBe('172.16.9.9');
  });

  test('teardown also clears a legacy install (the seed post-clear checks print nothing)', () => {
    const o = convergedCluster(d3, m3);
    o.esxi['node-1'] = legacyEsxi('node-1', '10.20.0.101');
    const p = destroy(d3, o, { destroy: { removeRoutes: true } });
    expect(ops(p, 'node-1')).toEqual([
      'edit-crontab',
      'reload-crond',
      'stop-agent',
      'edit-local-sh',
      'auto-backup',
      'remove-dir',
      'delete-route',
    ]);
    const after = esxiOf(expectConverges(d3, o, p), 'node-1');
    expect(after.crontab).not.toMatch(/scvm_failure/);
    expect(after.agentProcesses).toEqual([]);
    expect(after.nfsRoute).toBeUndefined();
  });

  test('a targeted teardown touches that node and its SCVM only', () => {
    const o = convergedCluster(d3, m3);
    const p = destroy(d3, o, { targets: ['node-3'] });
    expect(p.hosts.map((h) => `${h.host}:${h.node}`)).toEqual(['esxi:node-3', 'scvm:node-3']);
  });

  test('teardown of a clean host plans nothing', () => {
    const o = observedCluster({ 'node-1': freshEsxi('node-1') }, { 'node-1': freshScvm('node-1') });
    const d1 = fixtureDesired(fixtureManifest(1));
    const p = destroy(d1, o);
    expect(planHasChanges(p)).toBe(false);
  });
});

describe('observedFingerprint', () => {
  test('is stable under key order and changes with the observation', () => {
    const o = convergedCluster(d3, m3);
    const a = apply(d3, o);
    const reverseKeys = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reverseKeys)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reverseKeys(x)]),
            )
          : v;
    const reordered = reverseKeys(o) as ObservedCluster;
    expect(apply(d3, reordered).hosts.map((h) => h.observedFingerprint)).toEqual(a.hosts.map((h) => h.observedFingerprint));
    esxiOf(o, 'node-1').crontab += '# x\n';
    const b = apply(d3, o);
    expect(host_(b, 'node-1').observedFingerprint).not.toBe(host_(a, 'node-1').observedFingerprint);
    expect(host_(b, 'node-2').observedFingerprint).toBe(host_(a, 'node-2').observedFingerprint);
  });
});
