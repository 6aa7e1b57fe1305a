/**
 * routing.mode and zones in the plan (issue 12): a changed MODE or zone is a reroute.conf update
 * (the agent re-reads it every iteration: no restart, no route action); in shadow mode a legacy
 * seed agent stays in charge of the route; going active is an ordinary apply that takes over.
 */
import type { DesiredCluster } from '../desired/desired-types';
import type { Manifest } from '../manifest/manifest-types';
import type { EsxiObserved, ObservedCluster } from '../observe/observed-types';
import { planCluster } from './plan-cluster';
import type { Plan } from './plan-types';
import { renderPlanText } from './render-plan-text';
import { applyPlanToObserved } from '../../test/support/simulate-apply';
import {
  convergedCluster,
  fixtureDesired,
  fixtureManifest as restManifest,
  withSshSource,
  legacyEsxi,
  PLAN_OPTS,
} from '../../test/support/plan-fixtures';

// These cases show the cluster key too: the ssh session source is the one that installs it.
const fixtureManifest = (...a: Parameters<typeof restManifest>) => withSshSource(restManifest(...a));

const apply = (d: DesiredCluster, o: ObservedCluster): Plan => planCluster(d, o, { mode: 'apply', ...PLAN_OPTS });
const withMode = (m: Manifest, mode: 'active' | 'shadow'): Manifest => ({ ...m, routing: { ...m.routing, mode } });
const esxi = (p: Plan, node: string) => p.hosts.find((h) => h.node === node && h.host === 'esxi')!;
const esxiOf = (o: ObservedCluster, node: string) => o.esxi[node] as EsxiObserved;
const ROUTE_OPS = new Set(['delete-route']);
const AGENT_OPS = new Set(['restart-agent', 'start-agent', 'stop-agent']);

function expectConfUpdateOnly(p: Plan, nodes: string[]): void {
  for (const node of nodes) {
    const h = esxi(p, node);
    expect([node, h.change]).toEqual([node, 'update']);
    expect(h.actions.map((a) => (a.op === 'write-file' ? `write ${a.path.split('/').pop()}` : a.op))).toEqual(['write reroute.conf']);
  }
  for (const h of p.hosts) for (const a of h.actions) expect(ROUTE_OPS.has(a.op) || AGENT_OPS.has(a.op)).toBe(false);
}

describe('a changed MODE or zone is a conf update, never a reinstall, restart or route change', () => {
  const m = fixtureManifest(3);
  const converged = convergedCluster(fixtureDesired(m), m);

  test('active → shadow: reroute.conf on every host, and the plan says the agent picks it up without a restart', () => {
    const p = apply(fixtureDesired(withMode(m, 'shadow')), converged);
    expectConfUpdateOnly(p, ['node-1', 'node-2', 'node-3']);
    expect(p.summary).toEqual({ add: 0, change: 3, destroy: 0, unreachable: 0 });
    expect(renderPlanText(p, { color: false })).toContain(
      'the running agent re-reads it at its next iteration: no restart, the route stays as it is',
    );
  });

  test('zones given: reroute.conf on every host (ZONE_PEER_STORAGE_IPS), nothing else', () => {
    const zoned: Manifest = { ...m, nodes: m.nodes.map((n, i) => ({ ...n, zone: i < 2 ? 'site-a' : 'site-b' })) };
    const d = fixtureDesired(zoned);
    expectConfUpdateOnly(apply(d, converged), ['node-1', 'node-2', 'node-3']);
    expect(d.esxi[0]!.files.find((f) => f.path.endsWith('/reroute.conf'))!.content).toContain('\nZONE_PEER_STORAGE_IPS=10.20.0.102\n');
  });
});

describe('shadow mode and a legacy seed agent', () => {
  const m = withMode(fixtureManifest(3), 'shadow');
  const d = fixtureDesired(m);
  const start = (): ObservedCluster => {
    const o = convergedCluster(d, m);
    o.esxi['node-1'] = legacyEsxi('node-1', '10.20.0.102'); // the seed loop had failed over to node-2
    return o;
  };

  test('installs and starts our agent, but leaves the legacy loop, its crontab and local.sh lines and its folder', () => {
    const o = start();
    const legacy = esxiOf(o, 'node-1').legacy!;
    const h = esxi(apply(d, o), 'node-1');
    expect(h.change).toBe('create');
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
      'start-agent',
    ]);
    expect(h.actions).toContainEqual({
      op: 'edit-crontab',
      remove: [],
      add: [d.esxi[0]!.crontabLine],
      before: esxiOf(o, 'node-1').crontab,
    });
    expect(h.actions).toContainEqual(expect.objectContaining({ op: 'edit-local-sh', removeLines: [] }));
    expect(h.notes).toEqual([
      `legacy install 0.9.3 in ${legacy.dir} stays in charge of the route (routing.mode shadow): its loop, crontab and local.sh lines are kept; set routing.mode: active and apply to take over`,
    ]);
  });

  test('converges with the legacy install still in place (a second plan changes nothing and says why)', () => {
    const o = start();
    const after = applyPlanToObserved(apply(d, o), o);
    const e = esxiOf(after, 'node-1');
    expect(e.crontab).toContain('scvm_failure_loop.sh');
    expect(e.localSh).toContain('scvm_failure_loop.sh');
    expect(e.agentProcesses.map((p) => p.command)).toEqual([
      expect.stringContaining('scvm_failure_loop.sh'),
      expect.stringContaining('reroute-loop.sh'),
    ]);
    expect(e.nfsRoute?.gateway).toBe('10.20.0.102');
    const again = apply(d, after);
    expect(again.hosts.flatMap((h) => h.actions)).toEqual([]);
    expect(esxi(again, 'node-1')).toMatchObject({ change: 'noop', notes: [expect.stringContaining('stays in charge of the route')] });
    expect(renderPlanText(again, { color: false })).toContain('Note: legacy install 0.9.3');
  });

  test('going active is an ordinary apply: conf update and the takeover, our running agent kept, no route action', () => {
    const o = start();
    const shadowed = applyPlanToObserved(apply(d, o), o);
    const dActive = fixtureDesired(withMode(m, 'active'));
    const p = apply(dActive, shadowed);
    const h = esxi(p, 'node-1');
    const legacy = esxiOf(o, 'node-1').legacy!;
    expect(h.change).toBe('takeover');
    expect(h.actions.map((a) => a.op)).toEqual([
      'write-file',
      'edit-crontab',
      'reload-crond',
      'edit-local-sh',
      'auto-backup',
      'stop-agent',
      'verify-agent',
      'remove-dir',
    ]);
    expect(h.actions).toContainEqual({
      op: 'edit-crontab',
      remove: [legacy.crontabLine],
      add: [],
      before: esxiOf(shadowed, 'node-1').crontab,
    });
    expect(h.actions).toContainEqual({ op: 'stop-agent', match: ['scvm_failure_loop.sh'] });
    expect(h.actions.at(-1)).toEqual({ op: 'remove-dir', path: legacy.dir, recursive: true });
    expect(h.notes).toBeUndefined();
    expectConfUpdateOnly({ ...p, hosts: p.hosts.filter((x) => x.node !== 'node-1') }, ['node-2', 'node-3']);
    const done = applyPlanToObserved(p, shadowed);
    expect(esxiOf(done, 'node-1').nfsRoute?.gateway).toBe('10.20.0.102');
    expect(apply(dActive, done).hosts.flatMap((x) => x.actions)).toEqual([]);
  });

  test('with mode active the takeover happens at once, as before', () => {
    const dActive = fixtureDesired(withMode(m, 'active'));
    const h = esxi(apply(dActive, start()), 'node-1');
    expect(h.change).toBe('takeover');
    expect(h.actions.map((a) => a.op)).toContain('stop-agent');
    expect(h.actions.at(-1)).toMatchObject({ op: 'remove-dir' });
  });
});
