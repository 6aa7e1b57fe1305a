import { peerFileDrift } from '../desired/peer-files';
import type { DesiredCluster } from '../desired/desired-types';
import type { EsxiObserved, FirewallRulesetState, ObservedCluster } from '../observe/observed-types';
import { planCluster } from './plan-cluster';
import type { Plan } from './plan-types';
import { renderPlanText } from './render-plan-text';
import { applyPlanToObserved } from '../../test/support/simulate-apply';
import {
  PLAN_OPTS,
  convergedCluster,
  fixtureDesired,
  fixtureManifest,
  freshEsxi,
  freshScvm,
  unreachable,
} from '../../test/support/plan-fixtures';

// The ssh session source: the agents also pin every SCVM's host key and log in with the cluster key.
const ssh = (n: number) => {
  const m = fixtureManifest(n);
  return fixtureManifest(n, { routing: { ...m.routing, sessionSource: 'ssh' } });
};
const m2 = ssh(2);
const d2 = fixtureDesired(m2);
const m3 = ssh(3);
const d3 = fixtureDesired(m3);
const CONF = (n: number) => `/vmfs/volumes/ds-${n}/zbs-reroute/reroute.conf`;
const KH = (n: number) => `/vmfs/volumes/ds-${n}/zbs-reroute/keys/known_hosts`;

const plan = (o: ObservedCluster, extra: { targets?: string[]; targetOnly?: boolean } = {}, d: DesiredCluster = d3) =>
  planCluster(d, o, { mode: 'apply', ...PLAN_OPTS, ...extra });
/** Other checks add their own warnings (e.g. a datastore's type not read): only ours here. */
const targetWarnings = (p: Plan) => (p.warnings ?? []).filter((w) => w.includes('--target'));
const hostsOf = (p: Plan) => p.hosts.map((h) => `${h.host}:${h.node}:${h.change}`);
function host(p: Plan, node: string, kind: 'esxi' | 'scvm' = 'esxi') {
  const h = p.hosts.find((x) => x.node === node && x.host === kind);
  if (h === undefined) throw new Error(`no ${kind} plan for ${node}`);
  return h;
}
const touched = (p: Plan, node: string) =>
  host(p, node).actions.map((a) => ('path' in a && a.path !== undefined ? `${a.op} ${a.path.split('/zbs-reroute/')[1]}` : a.op));
function esxi(o: ObservedCluster, node: string): EsxiObserved {
  const e = o.esxi[node];
  if (e === undefined || !e.reachable) throw new Error('unreachable');
  return e;
}

/** A running 2-node cluster (deployed from the 2-node manifest), node-3 new and empty. */
function twoNodeCluster(): ObservedCluster {
  const o = convergedCluster(d2, m2);
  o.esxi['node-3'] = freshEsxi('node-3');
  o.scvm['node-3'] = freshScvm('node-3');
  return o;
}

describe('--target: a join reaches every peer', () => {
  test('plans the new node plus, on every installed peer, its peer list and known_hosts and every SCVM key entry, and says why', () => {
    const o = twoNodeCluster();
    const p = plan(o, { targets: ['node-3'] });
    expect(hostsOf(p)).toEqual([
      'scvm:node-1:update',
      'scvm:node-2:update',
      'scvm:node-3:create',
      'esxi:node-1:update',
      'esxi:node-2:update',
      'esxi:node-3:create',
    ]);
    for (const n of ['node-1', 'node-2']) {
      expect(touched(p, n).sort()).toEqual(['write-file keys/known_hosts', 'write-file reroute.conf']);
      expect(host(p, n).reasons.map((r) => r.detail)).toEqual([
        'SCVM host keys (known_hosts) gains node-3',
        'peer list (reroute.conf) gains node-3',
      ]);
    }
    expect(p.targets).toEqual({
      requested: ['node-3'],
      only: false,
      included: [
        { node: 'node-1', host: 'esxi', because: ['SCVM host keys (known_hosts) gains node-3', 'peer list (reroute.conf) gains node-3'] },
        { node: 'node-2', host: 'esxi', because: ['SCVM host keys (known_hosts) gains node-3', 'peer list (reroute.conf) gains node-3'] },
        // Their key entry lists every ESXi IP (src/plan/plan-scvm.ts says what changes).
        { node: 'node-1', host: 'scvm', because: [expect.stringMatching(/key entry/)] },
        { node: 'node-2', host: 'scvm', because: [expect.stringMatching(/key entry/)] },
      ],
      leftOut: [],
    });
    expect(targetWarnings(p)).toEqual([]);
    const text = renderPlanText(p, { color: false });
    expect(text).toContain('Targets: node-3. Also planned, because their files name a target');
    expect(text).toContain('node-1 (esxi): SCVM host keys (known_hosts) gains node-3; peer list (reroute.conf) gains node-3');
    // After it, the whole cluster is converged: nothing is left for a full apply.
    const after = applyPlanToObserved(p, o);
    expect(
      plan(after)
        .hosts.filter((h) => h.actions.length > 0)
        .map((h) => `${h.host}:${h.node}`),
    ).toEqual([]);
  });

  test('a peer whose other items drifted (hung agent, stale crontab) gets only the peer files', () => {
    const o = twoNodeCluster();
    esxi(o, 'node-2').agentProcesses = [];
    esxi(o, 'node-2').crontab = '';
    const full = plan(o);
    expect(touched(full, 'node-2')).toEqual(expect.arrayContaining(['edit-crontab', 'start-agent']));
    const p = plan(o, { targets: ['node-3'] });
    expect(touched(p, 'node-2').sort()).toEqual(['write-file keys/known_hosts', 'write-file reroute.conf']);
  });

  test('a peer conf that also differs otherwise is written whole, and the plan says it cannot tell', () => {
    const o = twoNodeCluster();
    const f = esxi(o, 'node-1').files[CONF(1)];
    if (f === undefined) throw new Error('no conf');
    f.sha256 = 'e'.repeat(64);
    const p = plan(o, { targets: ['node-3'] });
    expect(host(p, 'node-1').reasons.map((r) => r.detail)).toContain(
      "peer list (reroute.conf) differs from the manifest's (the new one names node-3); written whole",
    );
  });

  test('a peer already up to date, a peer without our agent and an SCVM with only a session registration are left out', () => {
    const o = convergedCluster(d3, m3);
    o.esxi['node-3'] = freshEsxi('node-3');
    o.esxi['node-2'] = freshEsxi('node-2');
    const s1 = o.scvm['node-1'];
    if (s1 === undefined || !s1.reachable) throw new Error('x');
    s1.zbsSession = { sessionId: 'abcdef0123456789', localClientsIps: [] };
    const p = plan(o, { targets: ['node-3'] });
    expect(hostsOf(p)).toEqual(['scvm:node-3:noop', 'esxi:node-3:create']);
    expect(p.targets?.included).toEqual([]);
  });

  test('a peer that cannot be observed is reported unreachable, not skipped silently', () => {
    const o = twoNodeCluster();
    o.esxi['node-2'] = unreachable('esxi', 'node-2');
    const p = plan(o, { targets: ['node-3'] });
    expect(host(p, 'node-2').change).toBe('unreachable');
    expect(p.targets?.included).toContainEqual({
      node: 'node-2',
      host: 'esxi',
      because: ['could not be observed (connect timeout after 10 s): its peer list may lack node-3'],
    });
    expect(p.summary.unreachable).toBe(1);
  });

  test('with the rest session source the peer list is reached the same way', () => {
    const r2 = fixtureManifest(2);
    const r3 = fixtureManifest(3);
    const o = convergedCluster(fixtureDesired(r2), r2);
    o.esxi['node-3'] = freshEsxi('node-3');
    o.scvm['node-3'] = freshScvm('node-3');
    const p = plan(o, { targets: ['node-3'] }, fixtureDesired(r3));
    expect(hostsOf(p).filter((h) => h.startsWith('esxi:'))).toEqual(['esxi:node-1:update', 'esxi:node-2:update', 'esxi:node-3:create']);
    expect(touched(p, 'node-1')).toContain('write-file reroute.conf');
    expect(host(p, 'node-2').reasons.map((r) => r.detail)).toContain('peer list (reroute.conf) gains node-3');
  });

  test('the firewall allow-list step is carried to a peer when it adds the new SCVM, with its auto-backup', () => {
    const o = twoNodeCluster();
    const open: FirewallRulesetState = {
      enabled: true,
      allowedAll: false,
      allowedIps: ['10.20.0.101', '10.10.0.101', '10.20.0.102', '10.10.0.102'],
    };
    for (const n of ['node-1', 'node-2'])
      esxi(o, n).firewall = { httpClient: { enabled: false, allowedAll: true, allowedIps: [] }, sshClient: structuredClone(open) };
    const p = plan(o, { targets: ['node-3'] });
    expect(touched(p, 'node-1')).toEqual(['write-file keys/known_hosts', 'write-file reroute.conf', 'firewall-ruleset', 'auto-backup']);
    expect(host(p, 'node-1').reasons.map((r) => r.detail)).toContain('firewall ruleset sshClient allows 10.20.0.103, 10.10.0.103');
  });

  test('--target-only plans the named ESXi host and every SCVM, and warns naming the peers it leaves stale', () => {
    const o = twoNodeCluster();
    const p = plan(o, { targets: ['node-3'], targetOnly: true });
    expect(hostsOf(p).map((h) => h.split(':').slice(0, 2).join(':'))).toEqual(['scvm:node-1', 'scvm:node-2', 'scvm:node-3', 'esxi:node-3']);
    expect(p.targets?.leftOut.map((e) => e.node)).toEqual(['node-1', 'node-2']);
    expect(targetWarnings(p)).toEqual([
      expect.stringMatching(
        /^--target-only leaves 2 host\(s\) stale: node-1 \(.*peer list \(reroute\.conf\) gains node-3\), node-2 .*--target node-3/,
      ),
    ]);
  });

  test('targeting an installed node with nothing to do plans nothing and names no peer', () => {
    const o = convergedCluster(d3, m3);
    const p = plan(o, { targets: ['node-2'] });
    expect(p.hosts.filter((h) => h.actions.length > 0)).toEqual([]);
    expect(p.targets).toEqual({ requested: ['node-2'], only: false, included: [], leftOut: [] });
  });

  test('a teardown with --target stays narrow', () => {
    const o = convergedCluster(d3, m3);
    const p = planCluster(d3, o, { mode: 'destroy', ...PLAN_OPTS, targets: ['node-3'] });
    expect(p.hosts.map((h) => `${h.host}:${h.node}`)).toEqual(['esxi:node-3', 'scvm:node-3']);
    expect(p.targets).toBeUndefined();
  });
});

describe('peer files: which peer a stale file lacks, from hashes', () => {
  test('a 2-node conf and known_hosts are recognised as lacking node-3; a foreign hash is only "differs"', () => {
    const files = d3.peerView?.files['node-1'] ?? [];
    expect(files.map((f) => f.kind)).toEqual(['conf', 'known_hosts']);
    const old = Object.fromEntries((d2.peerView?.files['node-1'] ?? []).map((f) => [f.kind, f.sha256]));
    for (const f of files) expect(peerFileDrift(f, old[f.kind])).toEqual({ differs: true, missing: false, lacks: 'node-3' });
    expect(peerFileDrift(files[0]!, files[0]!.sha256)).toEqual({ differs: false, missing: false });
    expect(peerFileDrift(files[0]!, 'f'.repeat(64))).toEqual({ differs: true, missing: false });
    expect(d3.peerView?.nodes[2]).toEqual({
      node: 'node-3',
      scvmIps: ['10.20.0.103', '10.10.0.103'],
      esxiIps: ['10.10.0.13', '10.20.0.13'],
    });
    expect(KH(1)).toBe(files[1]!.path);
  });
});
