import { planCluster, planHasChanges } from './plan-cluster';
import { localGateways } from './plan-destroy';
import type { DestroyOptions } from './plan-destroy';
import type { Plan } from './plan-types';
import { renderPlanText } from './render-plan-text';
import { applyPlanToObserved } from '../../test/support/simulate-apply';
import type { DesiredCluster } from '../desired/desired-types';
import type { EsxiObserved, ObservedCluster } from '../observe/observed-types';
import { RerouteError } from '../errors/reroute-error';
import {
  NOW,
  PLAN_OPTS,
  convergedCluster,
  fixtureDesired,
  fixtureManifest as restManifest,
  fixtureNode,
  freshEsxi,
  withSshSource,
} from '../../test/support/plan-fixtures';

// With SCVM key entries to keep or remove: the ssh session source is the one that installs them.
const fixtureManifest = (...a: Parameters<typeof restManifest>) => withSshSource(restManifest(...a));

/**
 * Destroy never hurts IO (issue 13): per ESXi host the plan decides from observation whether the
 * host may be torn down and what happens to its routes, and says why.
 */
const m3 = fixtureManifest(3);
const d3 = fixtureDesired(m3);

const destroy = (d: DesiredCluster, o: ObservedCluster, opts: DestroyOptions = {}) =>
  planCluster(d, o, { mode: 'destroy', ...PLAN_OPTS, destroy: opts });
const esxiOf = (o: ObservedCluster, node: string) => o.esxi[node] as EsxiObserved;
const host = (p: Plan, node: string, kind: 'esxi' | 'scvm' = 'esxi') => {
  const h = p.hosts.find((x) => x.node === node && x.host === kind);
  if (h === undefined) throw new Error(`no ${kind} plan for ${node}`);
  return h;
};
const ops = (p: Plan, node: string, kind: 'esxi' | 'scvm' = 'esxi') => host(p, node, kind).actions.map((a) => a.op);
const routeOps = (p: Plan) => p.hosts.flatMap((h) => h.actions.filter((a) => a.op === 'delete-route').map(() => h.node));

/** node-1 failed over to node-2's SCVM: the route and the agent's heartbeat both say so. */
function failedOver(): ObservedCluster {
  const o = convergedCluster(d3, m3);
  const e = esxiOf(o, 'node-1');
  e.nfsRoute = { network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.102', iface: 'vmk1' };
  e.heartbeat = { ...e.heartbeat!, target: '10.20.0.102', targetKind: 'remote-storage', since: NOW - 30 };
  return o;
}

describe('destroy keeps IO safe', () => {
  test('a healthy cluster is torn down and every 33.2 route is left on its local SCVM', () => {
    const p = destroy(d3, convergedCluster(d3, m3));
    for (const n of ['node-1', 'node-2', 'node-3']) {
      expect(host(p, n).change).toBe('delete');
      expect(ops(p, n)).toContain('stop-agent');
      expect(host(p, n).routeDecision?.code).toBe('keep-local');
      expect(ops(p, n, 'scvm')).toEqual(['authorized-key-remove']);
    }
    expect(host(p, 'node-2').routeDecision?.detail).toMatch(/192\.168\.33\.2\/32 via 10\.20\.0\.102 left in place/);
    expect(routeOps(p)).toEqual([]);
    expect(p.summary).toEqual({ add: 0, change: 0, destroy: 6, unreachable: 0 });
  });

  test('--remove-routes deletes the 33.2 route on hosts their healthy local SCVM serves', () => {
    const p = destroy(d3, convergedCluster(d3, m3), { removeRoutes: true });
    expect(routeOps(p)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(host(p, 'node-3').routeDecision?.code).toBe('delete-local');
    expect(host(p, 'node-3').actions.at(-1)).toEqual({
      op: 'delete-route',
      network: '192.168.33.2',
      prefixLength: 32,
      gateway: '10.20.0.103',
    });
  });

  test('a failed-over host is refused: no action, the reason and the fix; the others are cleaned; keys stay', () => {
    for (const opts of [{}, { removeRoutes: true }]) {
      const p = destroy(d3, failedOver(), opts);
      const h = host(p, 'node-1');
      expect(h.change).toBe('refused');
      expect(h.actions).toEqual([]);
      expect(h.routeDecision).toEqual({
        code: 'refused-failed-over',
        detail: expect.stringMatching(/^failed over: 192\.168\.33\.2\/32 via 10\.20\.0\.102 \(node-2's SCVM\), not the local SCVM/),
        routes: ['192.168.33.2/32 via 10.20.0.102'],
        fix: expect.stringContaining('reroute destroy --force-host node-1'),
      });
      expect(host(p, 'node-2').change).toBe('delete');
      expect(host(p, 'node-3').change).toBe('delete');
      // The refused host's agent still logs in to every SCVM with the cluster key.
      for (const n of ['node-1', 'node-2', 'node-3']) {
        expect(host(p, n, 'scvm')).toMatchObject({
          change: 'noop',
          actions: [],
          notes: [expect.stringMatching(/key entry kept: the agent on node-1 \(refused\)/)],
        });
      }
      expect(p.summary).toEqual({ add: 0, change: 0, destroy: 2, unreachable: 0, refused: 1 });
      expect(routeOps(p)).toEqual(opts.removeRoutes ? ['node-2', 'node-3'] : []);
    }
  });

  test("the agent's fresh heartbeat counts too: it chose a peer though the route still looked local", () => {
    const o = convergedCluster(d3, m3);
    const e = esxiOf(o, 'node-2');
    e.heartbeat = { ...e.heartbeat!, target: '10.10.0.103', targetKind: 'remote-management' };
    expect(host(destroy(d3, o), 'node-2').routeDecision?.code).toBe('refused-failed-over');
    // A stale heartbeat (agent hung or dead) is no evidence: the route decides.
    e.heartbeat = { ...e.heartbeat, updated: NOW - 3600 };
    expect(host(destroy(d3, o), 'node-2').routeDecision?.code).toBe('keep-local');
  });

  test('a drained host (drain in the manifest, pin on the host) is refused with the un-drain fix', () => {
    const m = fixtureManifest(3);
    m.nodes[1] = fixtureNode(2, { drain: { to: 'node-3' } });
    const d = fixtureDesired(m);
    const o = convergedCluster(d, m);
    esxiOf(o, 'node-2').nfsRoute = { network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.103' };
    const h = host(destroy(d, o, { removeRoutes: true }), 'node-2');
    expect(h.change).toBe('refused');
    expect(h.routeDecision?.code).toBe('refused-drained');
    expect(h.routeDecision?.detail).toMatch(/^drained to node-3/);
    expect(h.routeDecision?.fix).toMatch(/remove `drain` from node-2 in the manifest and run `reroute apply`/);
    // A pin file left on the host counts the same, whatever the manifest says now.
    const o2 = convergedCluster(d3, m3);
    esxiOf(o2, 'node-3').pinTarget = '10.20.0.101';
    expect(host(destroy(d3, o2), 'node-3').routeDecision?.code).toBe('refused-drained');
  });

  test('shadow mode: the agent judging the local SCVM unhealthy refuses the host', () => {
    const o = convergedCluster(d3, m3);
    const e = esxiOf(o, 'node-3');
    e.heartbeat = { ...e.heartbeat!, mode: 'shadow', shadowTarget: '10.20.0.101', shadowKind: 'remote-storage' };
    const h = host(destroy(d3, o), 'node-3');
    expect(h.routeDecision?.code).toBe('refused-local-unhealthy');
    expect(h.routeDecision?.detail).toMatch(/would route via 10\.20\.0\.101 \(remote-storage\)/);
  });

  test('--force-host stops the agent and removes our files on a refused host, every route left as it is', () => {
    const p = destroy(d3, failedOver(), { removeRoutes: true, forceHosts: ['node-1'] });
    const h = host(p, 'node-1');
    expect(h.change).toBe('delete');
    expect(ops(p, 'node-1')).toEqual(expect.arrayContaining(['edit-crontab', 'stop-agent', 'edit-local-sh', 'remove-dir']));
    expect(ops(p, 'node-1')).not.toContain('delete-route');
    expect(h.routeDecision).toMatchObject({ code: 'forced-keep', detail: expect.stringContaining('192.168.33.2/32 via 10.20.0.102') });
    // No host is refused any more: the key entries go.
    expect(ops(p, 'node-1', 'scvm')).toEqual(['authorized-key-remove']);
    expect(p.summary.refused).toBeUndefined();
    const after = applyPlanToObserved(p, failedOver());
    expect(esxiOf(after, 'node-1').nfsRoute?.gateway).toBe('10.20.0.102');
  });

  test('--force-host must name a node of the manifest', () => {
    let err: unknown;
    try {
      destroy(d3, failedOver(), { forceHosts: ['node-9'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RerouteError);
    expect(err).toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('node-9'),
      fix: expect.stringContaining('node-1, node-2, node-3'),
    });
  });

  test("a host with nothing of ours left is not refused for its route: it is no teardown's business", () => {
    const o = failedOver();
    o.esxi['node-1'] = { ...freshEsxi('node-1'), nfsRoute: { network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.102' } };
    const p = destroy(d3, o);
    expect(host(p, 'node-1')).toMatchObject({ change: 'noop', actions: [], routeDecision: { code: 'keep-unmanaged' } });
    expect(p.summary.refused).toBeUndefined();
    // After a default destroy, `--remove-routes` alone deletes the routes left on healthy hosts.
    const after = applyPlanToObserved(destroy(d3, convergedCluster(d3, m3)), convergedCluster(d3, m3));
    expect(planHasChanges(destroy(d3, after))).toBe(false);
    const again = destroy(d3, after, { removeRoutes: true });
    expect(routeOps(again)).toEqual(['node-1', 'node-2', 'node-3']);
  });

  test('RDMA: 33.2 via the local access IP is local; a moved route is followed only to the other local address', () => {
    const m = fixtureManifest(2);
    m.nodes = m.nodes.map((n, i) => ({ ...n, scvm: { ...n.scvm, accessIp: `10.20.0.${151 + i}` } as typeof n.scvm }));
    const d = fixtureDesired(m);
    expect(localGateways(d.esxi[0]!)).toEqual(['10.20.0.101', '10.20.0.151']);
    const o = convergedCluster(d, m);
    esxiOf(o, 'node-1').nfsRoute = { network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.151' };
    const p = destroy(d, o, { removeRoutes: true });
    expect(host(p, 'node-1').actions.at(-1)).toEqual({
      op: 'delete-route',
      network: '192.168.33.2',
      prefixLength: 32,
      gateway: '10.20.0.151',
      orVia: ['10.20.0.101'],
    });
    // Via the peer's access IP it is failed over.
    esxiOf(o, 'node-1').nfsRoute = { network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.152' };
    expect(host(destroy(d, o), 'node-1').routeDecision?.code).toBe('refused-failed-over');
  });

  test('the plan text shows each decision, the refusal with its fix, and honest counts', () => {
    const text = renderPlanText(destroy(d3, failedOver()), { color: false });
    expect(text).toContain('! node-1 (esxi): refused, left exactly as it is: failed over: 192.168.33.2/32 via 10.20.0.102');
    expect(text).toMatch(/fix: heal node-1's SCVM .*--force-host node-1/);
    expect(text).toContain('= route: 192.168.33.2/32 via 10.20.0.102 left in place (the local SCVM serves IO; --remove-routes deletes it)');
    expect(text).toContain('1 host(s) refused (node-1): left exactly as they are');
    expect(text).toMatch(/Note: key entry kept: the agent on node-1 \(refused\).*\(node-1, node-2, node-3\)/);
    expect(text.trimEnd().split('\n').at(-1)).toBe('Plan: 0 to add, 0 to change, 2 to destroy; 1 host(s) refused.');
  });
});
