import fc from 'fast-check';
import type { EsxiObserved, FirewallRulesetState } from '../observe/observed-types';
import { parseFirewallPrior } from '../observe/firewall-output';
import { planCluster } from './plan-cluster';
import { openSteps, restoreSteps } from './plan-firewall';
import type { Action, Plan } from './plan-types';
import { renderPlanText } from './render-plan-text';
import { applyPlanToObserved } from '../../test/support/simulate-apply';
import {
  convergedCluster,
  fixtureDesired,
  fixtureManifest,
  freshEsxi,
  freshScvm,
  observedCluster,
  PLAN_OPTS,
} from '../../test/support/plan-fixtures';

type Fw = Extract<Action, { op: 'firewall-ruleset' }>;

const m3 = fixtureManifest(3);
const desired = fixtureDesired(m3);
/** Every SCVM storage + management IP of the 3-node fixture, in manifest order. */
const CLUSTER_IPS = ['10.20.0.101', '10.10.0.101', '10.20.0.102', '10.10.0.102', '10.20.0.103', '10.10.0.103'];
const SHIPPED: FirewallRulesetState = { enabled: false, allowedAll: true, allowedIps: [] };
const OPEN: FirewallRulesetState = { enabled: true, allowedAll: true, allowedIps: [] };

function withFirewall(o: EsxiObserved, http: FirewallRulesetState, ssh: FirewallRulesetState = SHIPPED): EsxiObserved {
  return { ...o, firewall: { httpClient: structuredClone(http), sshClient: structuredClone(ssh) } };
}

function freshCluster(http: FirewallRulesetState, ssh: FirewallRulesetState = SHIPPED) {
  const esxi = Object.fromEntries(desired.esxi.map((d) => [d.node, withFirewall(freshEsxi(d.node), http, ssh)]));
  const scvm = Object.fromEntries(desired.scvm.map((d) => [d.node, freshScvm(d.node)]));
  return observedCluster(esxi, scvm);
}

function fwActions(plan: Plan, node = 'node-1'): Fw[] {
  return (plan.hosts.find((h) => h.host === 'esxi' && h.node === node)?.actions ?? []).filter((a): a is Fw => a.op === 'firewall-ruleset');
}

const apply = (o: ReturnType<typeof freshCluster>, d = desired) => planCluster(d, o, { mode: 'apply', ...PLAN_OPTS });
const destroy = (o: ReturnType<typeof freshCluster>, d = desired) => planCluster(d, o, { mode: 'destroy', ...PLAN_OPTS });

/** Run the steps against a ruleset the way ESXi's esxcli does (a list is refused while allowed-all is true). */
function runSteps(s: FirewallRulesetState, steps: string[]): { state: FirewallRulesetState; everOpenToAll: boolean } {
  const cur = structuredClone(s);
  let everOpenToAll = false;
  for (const step of steps) {
    const [k, v] = step.split('=') as [string, string];
    if (k === 'enabled') cur.enabled = v === 'true';
    else if (k === 'allowed-all') cur.allowedAll = v === 'true';
    else {
      if (cur.allowedAll) throw new Error(`esxcli refuses ${step}: allowed-all is true`);
      cur.allowedIps = k === 'add' ? [...cur.allowedIps, v] : cur.allowedIps.filter((x) => x !== v);
    }
    everOpenToAll ||= cur.enabled && cur.allowedAll;
  }
  if (cur.allowedAll) cur.allowedIps = [];
  return { state: cur, everOpenToAll };
}

describe('firewall ruleset of the session source (issue 11)', () => {
  it('a fresh host with httpClient off: enable it for exactly the cluster SCVM IPs, record the prior state first, before the agent starts', () => {
    const plan = apply(freshCluster(SHIPPED));
    const host = plan.hosts.find((h) => h.node === 'node-1' && h.host === 'esxi');
    const [fw] = fwActions(plan);
    expect(fw?.ruleset).toBe('httpClient');
    expect(fw?.steps).toEqual(['allowed-all=false', ...CLUSTER_IPS.map((ip) => `add=${ip}`), 'enabled=true']);
    expect(fw?.record?.when).toBe('before');
    expect(fw?.record?.beforeSha256).toBe('absent');
    expect(parseFirewallPrior(fw?.record?.content ?? '').prior).toEqual({
      httpClient: { enabled: false, allowedAll: true, allowedIps: [], addedIps: CLUSTER_IPS },
    });
    const ops = host?.actions.map((a) => a.op) ?? [];
    expect(ops.indexOf('firewall-ruleset')).toBeLessThan(ops.indexOf('start-agent'));
    expect(ops.indexOf('firewall-ruleset')).toBeLessThan(ops.lastIndexOf('auto-backup'));
    expect(host?.actions.some((a) => a.op === 'delete-route')).toBe(false);
  });

  it('shows the ruleset change in the plan text, Terraform style, with its reason', () => {
    const text = renderPlanText(apply(freshCluster(SHIPPED)), { color: false });
    expect(text).toContain('~ firewall ruleset httpClient: disabled, all IPs → enabled, allowed IPs 10.20.0.101, 10.10.0.101');
    expect(text).toContain("(firewall ruleset httpClient is disabled: enable it for this cluster's 6 SCVM address(es) only)");
    expect(text).toContain('+ allowed IP 10.10.0.103');
    expect(text).toContain('run /sbin/auto-backup.sh (so the firewall and local.sh changes survive a reboot)');
  });

  it('leaves a ruleset that is already enabled for all IPs alone, and says so once for all hosts', () => {
    const observed = convergedCluster(desired, m3);
    for (const o of Object.values(observed.esxi)) if (o.reachable) o.firewall = { httpClient: structuredClone(OPEN) };
    const plan = apply(observed);
    expect(plan.hosts.flatMap((h) => h.actions)).toEqual([]);
    expect(plan.hosts.find((h) => h.node === 'node-1' && h.host === 'esxi')?.notes).toEqual([
      "firewall ruleset httpClient is already enabled for all IPs: left as is (narrowing it could cut other tools' traffic)",
    ]);
    const text = renderPlanText(plan, { color: false });
    expect(text).toContain(
      "Note: firewall ruleset httpClient is already enabled for all IPs: left as is (narrowing it could cut other tools' traffic) (node-1, node-2, node-3)",
    );
    expect(text).toContain('No changes.');
  });

  it('an enabled ruleset with an allowed-IP list only gains the addresses it lacks (a listed network counts)', () => {
    const observed = convergedCluster(desired, m3);
    const o = observed.esxi['node-1'] as EsxiObserved;
    o.firewall = { httpClient: { enabled: true, allowedAll: false, allowedIps: ['10.20.0.0/24', '172.16.0.9'] } };
    const [fw] = fwActions(apply(observed));
    expect(fw?.steps).toEqual(['add=10.10.0.101', 'add=10.10.0.102', 'add=10.10.0.103']);
    expect(fw?.reason).toBe('firewall ruleset httpClient lacks 3 SCVM address(es) of this cluster: add them to its allowed IPs');
  });

  it('the ssh session source owns sshClient; scvm.accessIp addresses are allowed too', () => {
    const m = fixtureManifest(2, { routing: { ...m3.routing, sessionSource: 'ssh' } });
    m.nodes = m.nodes.map((n, i) => ({ ...n, scvm: { ...n.scvm, accessIp: `10.20.0.${151 + i}` } as typeof n.scvm }));
    const d = fixtureDesired(m);
    expect(d.esxi[0]?.firewall).toEqual({
      ruleset: 'sshClient',
      allowedIps: ['10.20.0.101', '10.10.0.101', '10.20.0.151', '10.20.0.102', '10.10.0.102', '10.20.0.152'],
      recordPath: '/vmfs/volumes/ds-1/zbs-reroute/firewall.prior',
    });
  });

  it('warns when the REST port is one httpClient does not open', () => {
    const d = fixtureDesired(fixtureManifest(1, { routing: { ...m3.routing, rest: { port: 8080, path: '/x' } } }));
    expect(d.warnings?.join('\n')).toMatch(/REST port 8080 is not one ESXi's httpClient firewall ruleset opens/);
  });

  it('does nothing with the firewall when the probe could not read it (older snapshots)', () => {
    const observed = freshCluster(SHIPPED);
    for (const o of Object.values(observed.esxi)) if (o.reachable) delete o.firewall;
    expect(fwActions(apply(observed))).toEqual([]);
  });

  it('apply then destroy: the ruleset is back exactly as it was, and destroy restores before the folder (and record) goes', () => {
    const start = freshCluster(SHIPPED);
    const after = applyPlanToObserved(apply(start), start);
    const o1 = after.esxi['node-1'] as EsxiObserved;
    expect(o1.firewall?.httpClient).toEqual({ enabled: true, allowedAll: false, allowedIps: CLUSTER_IPS });
    expect(fwActions(apply(after))).toEqual([]);
    const plan = destroy(after);
    const host = plan.hosts.find((h) => h.node === 'node-1' && h.host === 'esxi');
    const ops = host?.actions.map((a) => a.op) ?? [];
    const [fw] = fwActions(plan);
    expect(fw?.steps).toEqual(['enabled=false', ...CLUSTER_IPS.map((ip) => `remove=${ip}`), 'allowed-all=true']);
    expect(ops.indexOf('stop-agent')).toBeLessThan(ops.indexOf('firewall-ruleset'));
    expect(ops.indexOf('firewall-ruleset')).toBeLessThan(ops.indexOf('remove-dir'));
    const gone = applyPlanToObserved(plan, after);
    expect((gone.esxi['node-1'] as EsxiObserved).firewall?.httpClient).toEqual(SHIPPED);
    expect((gone.esxi['node-1'] as EsxiObserved).firewallPrior).toBeUndefined();
  });

  it('switching the session source from rest to ssh opens sshClient and puts httpClient back', () => {
    const start = freshCluster(SHIPPED);
    const after = applyPlanToObserved(apply(start), start);
    const mSsh = fixtureManifest(3, { routing: { ...m3.routing, sessionSource: 'ssh' } });
    const dSsh = fixtureDesired(mSsh);
    const plan = apply(after, dSsh);
    const fws = fwActions(plan);
    expect(fws.map((a) => [a.ruleset, a.steps[0]])).toEqual([
      ['sshClient', 'allowed-all=false'],
      ['httpClient', 'enabled=false'],
    ]);
    // The second record edit starts from the hash the first one leaves.
    expect(fws[1]?.record?.beforeSha256).toBe(fws[0]?.record?.sha256);
    const done = applyPlanToObserved(plan, after);
    const o = done.esxi['node-1'] as EsxiObserved;
    expect(o.firewall?.httpClient).toEqual(SHIPPED);
    expect(Object.keys(o.firewallPrior ?? {})).toEqual(['sshClient']);
    expect(fwActions(apply(done, dSsh))).toEqual([]);
  });

  it('prune keeps firewall.prior', () => {
    const start = freshCluster(SHIPPED);
    const after = applyPlanToObserved(apply(start), start);
    const plan = planCluster(desired, after, { mode: 'apply', prune: true, ...PLAN_OPTS });
    expect(plan.hosts.flatMap((h) => h.actions)).toEqual([]);
  });
});

const ruleset = fc
  .record({
    enabled: fc.boolean(),
    allowedAll: fc.boolean(),
    allowedIps: fc.uniqueArray(fc.constantFrom(...CLUSTER_IPS, '10.20.0.0/24', '172.16.0.9', '192.0.2.7'), { maxLength: 5 }),
  })
  .map((s): FirewallRulesetState => (s.allowedAll ? { ...s, allowedIps: [] } : s));

describe('firewall planning properties', () => {
  it('from any ruleset state: apply lets every cluster IP through, never opens it to all on the way, converges, and destroy puts it back', () => {
    fc.assert(
      fc.property(ruleset, (initial) => {
        const start = freshCluster(initial);
        const plan = apply(start);
        const [fw] = fwActions(plan);
        const after = applyPlanToObserved(plan, start);
        const cur = (after.esxi['node-1'] as EsxiObserved).firewall?.httpClient as FirewallRulesetState;
        if (initial.enabled && initial.allowedAll) {
          expect(fw).toBeUndefined();
        } else {
          const run = runSteps(initial, fw?.steps ?? []);
          expect(run.everOpenToAll).toBe(false);
          expect(run.state).toEqual(cur);
          expect(cur.enabled && !cur.allowedAll).toBe(true);
          for (const ip of CLUSTER_IPS) expect(openSteps(cur, [ip])).toEqual([]);
          // Addresses that were listed stay listed.
          for (const ip of initial.allowedIps) expect(cur.allowedIps).toContain(ip);
        }
        expect(plan.hosts.flatMap((h) => h.actions).some((a) => a.op === 'delete-route')).toBe(false);
        expect(fwActions(apply(after))).toEqual([]);
        const gone = applyPlanToObserved(destroy(after), after);
        const back = (gone.esxi['node-1'] as EsxiObserved).firewall?.httpClient;
        expect(back).toEqual(initial);
        const prior = (after.esxi['node-1'] as EsxiObserved).firewallPrior?.httpClient;
        if (prior !== undefined) {
          const run = runSteps(cur, restoreSteps(cur, prior));
          expect(run.state).toEqual(initial);
          // Going back to "off" never passes through "on for everyone".
          if (!initial.enabled) expect(run.everOpenToAll).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });
});
