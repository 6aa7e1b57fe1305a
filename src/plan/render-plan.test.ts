import { planCluster } from './plan-cluster';
import type { Plan } from './plan-types';
import { renderPlanJson } from './render-plan-json';
import { renderPlanText, summaryLine } from './render-plan-text';
import type { EsxiObserved } from '../observe/observed-types';
import {
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

// These cases show the cluster key too: the ssh session source is the one that installs it.
const fixtureManifest = (...a: Parameters<typeof restManifest>) => withSshSource(restManifest(...a));

const text = (p: Plan) => renderPlanText(p, { color: false });
const m2 = fixtureManifest(2);
const d2 = fixtureDesired(m2);

describe('renderPlanText (colour off)', () => {
  test('fresh install of one node with the other unreachable', () => {
    const m1 = fixtureManifest(1);
    const d1 = fixtureDesired(m1);
    const o = observedCluster(
      { 'node-1': freshEsxi('node-1') },
      { 'node-1': unreachable('scvm', 'node-1', 'sudo: a password is required') },
    );
    expect(text(planCluster(d1, o, { mode: 'apply', ...PLAN_OPTS }))).toMatchSnapshot();
  });

  test('upgrade, drain, conf diff, legacy takeover', () => {
    const o = convergedCluster(d2, m2);
    o.esxi['node-1'] = legacyEsxi('node-1', '10.20.0.102');
    const e2 = o.esxi['node-2'] as EsxiObserved;
    const conf = e2.files['/vmfs/volumes/ds-2/zbs-reroute/reroute.conf'] as EsxiObserved['files'][string] & { content?: string };
    conf.sha256 = '0'.repeat(64);
    conf.content = d2.esxi[1]!.files.find((f) => f.path.endsWith('reroute.conf'))!.content!.replace('INTERVAL=3', 'INTERVAL=5');
    const m = fixtureManifest(2, { version: '1.1.0' });
    m.nodes[1] = fixtureNode(2, { drain: {} });
    const out = text(planCluster(fixtureDesired(m), o, { mode: 'apply', ...PLAN_OPTS }));
    expect(out).toContain('  ~ node-2 (esxi): IO drained to node-1\n');
    expect(out).toContain('-INTERVAL=5\n');
    expect(out).toContain('+INTERVAL=3\n');
    expect(out).toMatch(/Plan: 0 to add, 2 to change, 0 to destroy\.\n$/);
    expect(out).toMatchSnapshot();
  });

  test('drain titles: a drained new host says both; ending a drain says so', () => {
    const m = fixtureManifest(2);
    m.nodes[0] = fixtureNode(1, { drain: { to: 'node-2' } });
    const d = fixtureDesired(m);
    const o = observedCluster({ 'node-1': freshEsxi('node-1') }, {});
    expect(text(planCluster(d, o, { mode: 'apply', ...PLAN_OPTS, targets: ['node-1'] }))).toContain(
      '  + node-1 (esxi): install agent 1.0.0, IO drained to node-2\n',
    );
    const drained = convergedCluster(d, m);
    expect(text(planCluster(d2, drained, { mode: 'apply', ...PLAN_OPTS }))).toContain(
      "  ~ node-1 (esxi): drain ended: IO returns by the agent's failback policy\n      - pin: drain ends",
    );
  });

  test('teardown', () => {
    const out = text(
      planCluster(fixtureDesired(fixtureManifest(1)), convergedCluster(fixtureDesired(fixtureManifest(1)), fixtureManifest(1)), {
        mode: 'destroy',
        ...PLAN_OPTS,
      }),
    );
    expect(out).toMatch(/Plan: 0 to add, 0 to change, 2 to destroy\.\n$/);
    expect(out).toMatchSnapshot();
  });

  test('no changes', () => {
    const out = text(planCluster(d2, convergedCluster(d2, m2), { mode: 'apply', ...PLAN_OPTS }));
    expect(out).toBe('zbs-reroute apply plan for cluster prod-a (agent 1.0.0)\n\n4 host(s) already as wanted.\nNo changes.\n');
  });

  test('the private key is never rendered, only (sensitive)', () => {
    const o = observedCluster(
      { 'node-1': freshEsxi('node-1'), 'node-2': freshEsxi('node-2') },
      { 'node-1': freshScvm('node-1'), 'node-2': freshScvm('node-2') },
    );
    const out = text(planCluster(d2, o, { mode: 'apply', ...PLAN_OPTS }));
    expect(out).toContain('+ file keys/reroute_id_rsa (0600) (sensitive)');
    expect(out).not.toMatch(/PRIVATE KEY/);
  });

  test('a plan that somehow carries key material is refused, not printed', () => {
    const p = planCluster(d2, observedCluster({ 'node-1': freshEsxi('node-1') }, {}), { mode: 'apply', ...PLAN_OPTS });
    const leaky: Plan = structuredClone(p);
    leaky.hosts[0]!.actions.push({
      op: 'write-file',
      path: '/x',
      mode: '0600',
      sha256: 'a',
      content: '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n',
    });
    expect(() => text(leaky)).toThrow(/private key material/);
    expect(() => renderPlanJson(leaky)).toThrow(/private key material/);
  });

  test('colour on adds ANSI styles, colour off has none', () => {
    const o = observedCluster({ 'node-1': freshEsxi('node-1') }, {});
    const p = planCluster(d2, o, { mode: 'apply', ...PLAN_OPTS, targets: ['node-1'] });
    // eslint-disable-next-line no-control-regex
    expect(renderPlanText(p, { color: true })).toMatch(/\x1b\[32m\+/);
    // eslint-disable-next-line no-control-regex
    expect(text(p)).not.toMatch(/\x1b\[/);
  });

  test('summary line', () => {
    const p = planCluster(d2, convergedCluster(d2, m2), { mode: 'apply', ...PLAN_OPTS });
    expect(summaryLine(p)).toBe('No changes.');
    expect(summaryLine({ ...p, summary: { add: 3, change: 1, destroy: 0, unreachable: 0 } })).toBe(
      'Plan: 3 to add, 1 to change, 0 to destroy.',
    );
  });
});

describe('renderPlanJson', () => {
  test('is the plan itself, JSON round-trippable', () => {
    const o = observedCluster(
      { 'node-1': freshEsxi('node-1'), 'node-2': freshEsxi('node-2') },
      { 'node-1': freshScvm('node-1'), 'node-2': freshScvm('node-2') },
    );
    const p = planCluster(d2, o, { mode: 'apply', ...PLAN_OPTS });
    const json = renderPlanJson(p);
    expect(JSON.parse(json)).toEqual(p);
    expect(json).not.toMatch(/PRIVATE KEY/);
  });
});
