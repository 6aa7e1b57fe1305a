import fc from 'fast-check';
import { clusterStatus } from '../engine/cluster-status';
import { parseProbeOutput } from '../observe/parse-probe-output';
import type { EsxiObserved, ObservedCluster } from '../observe/observed-types';
import { CLUSTER_IPS, frameProbe, INSTALL, installedSections, type FakeSection } from '../../test/fixtures/probe-output';
import { planCluster } from './plan-cluster';
import type { Action, Plan, PlanMode } from './plan-types';
import { renderPlanJson } from './render-plan-json';
import { renderPlanText } from './render-plan-text';
import {
  convergedEsxi,
  convergedScvm,
  fixtureDesired,
  fixtureManifest,
  fixtureNode,
  observedCluster,
  PLAN_OPTS,
} from '../../test/support/plan-fixtures';

/**
 * A host we observe may hold anything: a crontab, local.sh, heartbeat, ps
 * listing or file list written by someone else, garbage, megabytes, terminal
 * escape sequences, text shaped like shell. The whole pure pipeline an
 * operator sees (parseProbeOutput → planCluster → renderPlanText/JSON, and
 * the status report) must take it without throwing, show it defanged, and
 * never turn it into something apply would run. parse-probe-output.test.ts
 * proves the parser alone on hostile bytes; this follows the bytes through.
 */
const MARK = 'ZRBHOSTILE';
const ESC = `\u001b]0;${MARK}\u0007\u001b[2J\u001b[31m\u009b31m\u202e`;
const SHELL = [
  `$(touch /tmp/${MARK})`,
  `\`touch /tmp/${MARK}\``,
  `; touch /tmp/${MARK}`,
  `' ; touch /tmp/${MARK} ; '`,
  `| touch /tmp/${MARK}`,
];

// node-1 observes datastore1 like the recorded probe output; its peers are converged.
const m = fixtureManifest(3);
m.nodes[0] = fixtureNode(1, { esxi: { ...fixtureNode(1).esxi, datastore: 'datastore1' } });
const desired = fixtureDesired(m);
const CTX = { node: 'node-1', installDir: INSTALL, nfsAddress: '192.168.33.2', clusterIps: CLUSTER_IPS };
const OUR_CRON = desired.esxi[0]!.crontabLine;
const LEGACY = '/vmfs/volumes/5f1a2b3c-11111111-2222-001122334455/vmware_scvm_failure';

function section(name: string, body: string | Buffer): Record<string, FakeSection> {
  return { [name]: { name, body } };
}

/** Hostile variants of every section a probe returns, each one a scenario. */
function scenarios(): Array<[string, Record<string, FakeSection>]> {
  const huge = (line: string) => `${line}\n`.repeat(Math.ceil((2 * 1024 * 1024) / (line.length + 1)));
  const out: Array<[string, Record<string, FakeSection>]> = [];
  const crontabs: Record<string, string> = {
    garbage: `\u0000\u0001\u00ff garbage ${MARK}\n* * *\n@@end 0\n`,
    escapes: `# ${ESC}\n${OUR_CRON}\n`,
    'our line plus a command': `${OUR_CRON} ; touch /tmp/${MARK}\n`,
    'our line with a trailing command line': `${OUR_CRON}\n* * * * * ${SHELL[0]}\n`,
    'legacy-looking root path':
      '* * * * * /bin/sh ///scvm_failure_loop.sh &\n* * * * * /bin/sh /vmfs/volumes/datastore1/scvm_failure_loop.sh &\n',
    'legacy-looking path with shell': `* * * * * /bin/sh /vmfs/volumes/$(touch /tmp/${MARK})/vmware_scvm_failure/scvm_failure_loop.sh &\n`,
    '2 MB': huge(`* * * * * /bin/echo ${MARK} ${ESC}`),
    'CR and NUL': `${OUR_CRON}\r\n\u0000${MARK}\r\n`,
  };
  for (const [k, v] of Object.entries(crontabs)) out.push([`crontab: ${k}`, section('crontab', v)]);
  const localShs: Record<string, string> = {
    'unbalanced markers': `#!/bin/sh\n# BEGIN zbs-reroute (managed by reroute; do not edit)\ntouch /tmp/${MARK}\nexit 0\n`,
    'nested markers': `#!/bin/sh\n# BEGIN zbs-reroute (managed by reroute; do not edit)\n# BEGIN zbs-reroute (managed by reroute; do not edit)\n${SHELL[1]}\n# END zbs-reroute\n# END zbs-reroute\nexit 0\n`,
    'no exit 0, escapes': `#!/bin/sh\n# ${ESC}\n${SHELL.join('\n')}\n`,
    '2 MB': huge(`echo ${MARK} ${ESC}`),
    binary: `\u0000\u0001${MARK}\u00fe\u00ff`,
  };
  for (const [k, v] of Object.entries(localShs)) out.push([`local.sh: ${k}`, section('local_sh', v)]);
  const heartbeats: Record<string, string> = {
    'shell in values': `version=$(touch /tmp/${MARK})\npid=1; touch /tmp/${MARK}\ntarget=10.20.0.101; touch /tmp/${MARK}\ntarget_kind=${SHELL[1]}\nsince=x\nupdated=99999999999999999999999\nfetch=ok\nfetch_ms=-1\n`,
    escapes: `version=1.0.0${ESC}\npid=2099123\ntarget=10.20.0.101${ESC}\ntarget_kind=local${ESC}\nsince=1789990000\nupdated=1789999998\nfetch=${ESC}\nfetch_ms=35\n`,
    garbage: `\u0000\u0001===\n=\nversion\n${MARK}\n`,
    '2 MB': huge(`version=${MARK}${ESC}`),
  };
  for (const [k, v] of Object.entries(heartbeats)) out.push([`heartbeat: ${k}`, section('heartbeat', v)]);
  out.push([
    'ps: shell and escapes in commands',
    section(
      'ps',
      `WID CID World Name Command\n55 55 sh /bin/sh ${INSTALL}/reroute-loop.sh ${SHELL[2]}\n56 56 sh /bin/sh ${LEGACY}/scvm_failure_loop.sh ${ESC}\n57 57 ${ESC} ${SHELL[0]}\n`,
    ),
  ]);
  out.push(['ps: 2 MB', section('ps', `WID CID World Name Command\n${huge(`1 1 sh /bin/sh ${INSTALL}/reroute-loop.sh ${MARK}`)}`)]);
  out.push([
    'files: hostile names',
    section(
      'files',
      `drwx------ - - ${INSTALL}\n-rw------- 10 ${'a'.repeat(64)} ${INSTALL}/$(touch /tmp/${MARK})\n-rw------- 10 ${'a'.repeat(64)} ${INSTALL}/reroute.conf ${ESC}\n-rwx------ x y ${INSTALL}/reroute-loop.sh\n`,
    ),
  ]);
  out.push([
    'files: a forged entry outside the dir (file name with a newline)',
    section(
      'files',
      `drwx------ - - ${INSTALL}\n-rw------- 1 ${'a'.repeat(64)} ${INSTALL}/x\n-rw------- 1 ${'b'.repeat(64)} ${INSTALL}/../../../etc/rc.local.d/local.sh\n-rw------- 1 ${'b'.repeat(64)} ${INSTALL}/keys/../../../../bootbank/state.tgz\n-rw------- 1 ${'b'.repeat(64)} ${INSTALL}//x\n`,
    ),
  ]);
  out.push(['loop line 2: shell and escapes', section('loop_line2', `reroute_version=$(touch /tmp/${MARK})${ESC}\n`)]);
  out.push(['pin: shell', section('pin', `10.20.0.102; touch /tmp/${MARK}\n`)]);
  out.push(['pubkey: escapes and huge', section('pubkey', `ssh-rsa ${'A'.repeat(100_000)} ${ESC}\n`)]);
  out.push([
    'routes: hostile gateways',
    section(
      'routes',
      `VMkernel Routes:\nNetwork Netmask Gateway Interface\n192.168.33.2 255.255.255.255 10.20.0.101;touch${MARK} vmk1\n192.168.33.2 255.255.255.255 ${ESC} vmk1\n`,
    ),
  ]);
  out.push(['vmknics: garbage', section('vmknics', `${ESC}\n${huge('vmk9 x IPv4 999.1.1.1')}`)]);
  out.push(['esxi version: escapes', section('esxi_version', `VMware ESXi ${ESC}\n`)]);
  out.push([
    'legacy: paths outside the datastore',
    { legacy: { name: 'legacy', body: `dir=/\nline2=reroute_version=${MARK}${ESC}\nkeydir=/etc\n` } },
  ]);
  out.push([
    'legacy: traversal',
    { legacy: { name: 'legacy', body: `dir=/vmfs/volumes/../../vmware_scvm_failure\nkeydir=/vmfs/volumes/x/../../.smartx_key\n` } },
  ]);
  out.push([
    'lease: hostile owner',
    { lease_dir: { name: 'lease_dir', body: 'present\n' }, 'lease.owner': { name: 'lease.owner', body: `${SHELL[0]}${ESC}\n` } },
  ]);
  return out;
}

function observe(sections: Record<string, FakeSection>): ObservedCluster {
  const o1 = parseProbeOutput(frameProbe(installedSections(sections)), CTX);
  const esxi: ObservedCluster['esxi'] = { 'node-1': o1 };
  const scvm: ObservedCluster['scvm'] = {};
  desired.esxi.slice(1).forEach((d, i) => {
    esxi[d.node] = convergedEsxi(d, m.nodes[i + 1]!.scvm.storageIp);
  });
  for (const d of desired.scvm) scvm[d.node] = convergedScvm(d);
  return observedCluster(esxi, scvm);
}

/** Control characters other than newline, outside the colour codes the renderer adds itself. */
function rawControls(text: string): string[] {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const stripped = text.replace(/\u001b\[[0-9;]*m/g, '');
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return [...stripped.matchAll(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g)].map((x) => JSON.stringify(x[0]));
}

/** What apply would send to a host: every action field except `before` (shown, never run). */
function executable(a: Action): unknown {
  const { before: _before, ...rest } = a as Action & { before?: unknown };
  return rest;
}

function checkPlan(name: string, plan: Plan, mode: PlanMode): string[] {
  const problems: string[] = [];
  for (const color of [false, true]) {
    const text = renderPlanText(plan, { color });
    const bad = rawControls(text);
    if (bad.length > 0) problems.push(`${name}: ${mode} text (color ${color}) has raw ${[...new Set(bad)].join(' ')}`);
  }
  const json = renderPlanJson(plan);
  if (JSON.parse(json) === null) problems.push(`${name}: ${mode} JSON empty`);
  for (const h of plan.hosts) {
    for (const a of h.actions) {
      if (mode === 'apply' && a.op === 'delete-route') problems.push(`${name}: route action in an apply plan`);
      if ((a.op === 'remove-dir' && a.recursive) || a.op === 'delete-file') {
        const inside = a.path.startsWith(`${h.installDir ?? '/nonexistent'}/`) && !/\/\.{1,2}(\/|$)|\/\//.test(a.path);
        const ok =
          inside ||
          a.path === h.installDir ||
          /^\/vmfs\/volumes\/[^/\s.][^/\s]*\/(vmware_scvm_failure|\.smartx_key|vmware_scvm_failure\/\.smartx_key)$/.test(a.path);
        if (!ok) problems.push(`${name}: ${a.op} of ${JSON.stringify(a.path)}`);
      }
      const run = JSON.stringify(executable(a));
      // A hostile line may be *removed* (it is ours or the seed's); nothing hostile is ever written, added or matched on.
      if (run.includes(MARK) || run.includes('touch /tmp')) {
        // A file in our own folder with a hostile name is deleted at teardown, its path quoted like every argument.
        const inOurDir =
          a.op === 'delete-file' && a.path.startsWith(`${h.installDir ?? '/nonexistent'}/`) && !a.path.slice(1).includes('/../');
        const removedOnly =
          inOurDir ||
          (a.op === 'edit-crontab' && !a.add.some((l) => l.includes(MARK))) ||
          (a.op === 'edit-local-sh' && !(a.block ?? '').includes(MARK));
        if (!removedOnly) problems.push(`${name}: hostile text in an action apply runs: ${run.slice(0, 200)}`);
      }
      if (a.op === 'edit-crontab' && a.add.some((l) => l !== OUR_CRON)) problems.push(`${name}: crontab line added that is not ours`);
    }
  }
  return problems;
}

describe('hostile remote output through parse → plan → render', () => {
  const all = scenarios();

  it('covers at least 30 hostile observations', () => {
    expect(all.length).toBeGreaterThanOrEqual(30);
  });

  it.each(all)('%s: no throw, display sanitized, nothing hostile becomes an action, no route or out-of-tree removal', (name, sections) => {
    const observed = observe(sections);
    const problems: string[] = [];
    for (const mode of ['apply', 'destroy'] as const) {
      const plan = planCluster(desired, observed, { mode, ...PLAN_OPTS });
      problems.push(...checkPlan(name, plan, mode));
    }
    const status = JSON.stringify(clusterStatus(m, observed));
    expect(typeof status).toBe('string');
    expect(problems).toEqual([]);
    const o1 = observed.esxi['node-1'] as EsxiObserved;
    // Unparseable output is reported as such, never silently taken as a clean host.
    if (!o1.reachable) expect((o1 as unknown as { reason: string }).reason.length).toBeGreaterThan(0);
  });

  it('any hostile section body (random text with shell and escape fragments) never crashes the planner or reaches the terminal raw', () => {
    const names = installedSections().map((s) => s.name);
    const fragment = fc.constantFrom(
      ...SHELL,
      ESC,
      MARK,
      OUR_CRON,
      '# BEGIN zbs-reroute (managed by reroute; do not edit)',
      '# END zbs-reroute',
      'exit 0',
      '\n',
      '\r\n',
      '\u0000',
      'target=',
      'version=',
      `${LEGACY}/scvm_failure_loop.sh`,
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.array(fc.oneof(fragment, fc.string({ unit: 'binary', maxLength: 20 })), { maxLength: 30 }),
        (name, parts) => {
          const observed = observe(section(name, parts.join('')));
          for (const mode of ['apply', 'destroy'] as const)
            expect(checkPlan(name, planCluster(desired, observed, { mode, ...PLAN_OPTS }), mode)).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
