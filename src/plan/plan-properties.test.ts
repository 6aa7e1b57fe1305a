import fc from 'fast-check';
import { planCluster } from './plan-cluster';
import { applyPlanToObserved } from '../../test/support/simulate-apply';
import type { Plan } from './plan-types';
import { routeIsOurs } from './plan-esxi';
import { bare, isLegacyCrontabLine, isLegacyLocalShLine, isManagedCrontabLine, scanLocalSh, splitKeepingEnds } from './text-edits';
import type { DesiredCluster, DesiredEsxi } from '../desired/desired-types';
import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import type { EsxiObserved, ObservedCluster, ObservedRoute, ScvmObserved, Unreachable } from '../observe/observed-types';
import { LOCAL_SH_BEGIN, LOCAL_SH_END } from '../agent/bundle-layout';
import {
  ESXI_CRONTAB,
  ESXI_LOCAL_SH,
  NOW,
  PLAN_OPTS,
  fixtureDesired,
  fixtureManifest,
  fixtureNode,
  unreachable,
} from '../../test/support/plan-fixtures';

/** Line fragments that look like ours, the seed's, ESXi's, or nothing at all. */
const FRAGMENTS = [
  'a',
  ' ',
  '  ',
  '#',
  '*',
  '* * * * *',
  '/bin/sh',
  '/vmfs/volumes/ds-1/zbs-reroute/reroute-loop.sh',
  'reroute-loop.sh',
  '/x/reroute-loop.sh',
  'scvm_failure_loop.sh',
  '&',
  '\r',
  'exit 0',
  'exit',
  '0',
  LOCAL_SH_BEGIN,
  LOCAL_SH_END,
  'echo',
  "'",
  '"',
  '$',
  'é',
];
const garbageLine = fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 0, maxLength: 5 }).map((xs) => xs.join(''));

interface World {
  manifest: Manifest;
  desired: DesiredCluster;
  observed: ObservedCluster;
}

const GATEWAY_POOL = (m: Manifest) => [
  ...m.nodes.flatMap((n) => [n.scvm.storageIp, n.scvm.managementIp, n.esxi.storageIp]),
  '10.20.0.254',
  '10.20.0.1',
  '172.16.0.1',
  '192.168.33.1',
];
const NETWORK_POOL = (m: Manifest) => [m.nfsAddress, ...m.nodes.map((n) => n.scvm.storageIp), '10.20.0.254', '8.8.8.8'];

function textOf(lines: string[], trailing: boolean): string {
  return lines.length === 0 ? '' : lines.join('\n') + (trailing ? '\n' : '');
}

function esxiArb(d: DesiredEsxi, m: Manifest): fc.Arbitrary<EsxiObserved | Unreachable> {
  const gw = fc.constantFrom(...GATEWAY_POOL(m));
  const route = (networks: string[]): fc.Arbitrary<ObservedRoute> =>
    fc.record({ network: fc.constantFrom(...networks), prefixLength: fc.constantFrom(32, 32, 24), gateway: gw });
  const legacyDir = '/vmfs/volumes/uuid-1/vmware_scvm_failure';
  const legacyCron = `* * * * * /bin/sh ${legacyDir}/scvm_failure_loop.sh &`;
  const legacyLocal = `/bin/echo '${legacyCron}' >> /var/spool/cron/crontabs/root`;
  const otherDs = d.crontabLine.replace(/ds-\d+/, 'None');
  const fileState = fc.constantFrom('absent', 'right', 'right', 'sha', 'mode', 'version');
  const reachable = fc
    .record({
      files: fc.array(fileState, { minLength: d.files.length, maxLength: d.files.length }),
      extraFiles: fc.subarray(['pin', '.tmp.1', 'lease/owner']),
      cron: fc.array(
        fc.oneof(
          garbageLine,
          fc.constantFrom(...ESXI_CRONTAB.split('\n'), d.crontabLine, `${d.crontabLine}\r`, otherDs, legacyCron, `# ${d.crontabLine}`),
        ),
        { maxLength: 10 },
      ),
      cronTrailing: fc.boolean(),
      local: fc.array(
        fc.oneof(
          garbageLine,
          fc.constantFrom(
            ...ESXI_LOCAL_SH.split('\n'),
            d.localShBlock.slice(0, -1),
            d.localShBlock.replace('crond', 'crond -x').slice(0, -1),
            legacyLocal,
            'exit 0',
            '  exit 0',
          ),
        ),
        { maxLength: 12 },
      ),
      localTrailing: fc.boolean(),
      procs: fc.subarray([
        `/bin/sh ${d.installDir}/reroute-loop.sh`,
        '/bin/sh /vmfs/volumes/old/zbs-reroute/reroute-loop.sh',
        `/bin/sh ${legacyDir}/scvm_failure_loop.sh`,
        'sleep 3',
        'hostd',
      ]),
      heartbeat: fc.option(fc.record({ age: fc.integer({ min: 0, max: 900 }), version: fc.constantFrom('1.0.0', '1.1.0', '0.9.0') }), {
        nil: undefined,
      }),
      crondRunning: fc.boolean(),
      nfsRoute: fc.option(route([m.nfsAddress]), { nil: undefined }),
      otherRoutes: fc.array(route(NETWORK_POOL(m)), { maxLength: 4 }),
      legacy: fc.option(
        fc.record({
          dir: fc.constantFrom(legacyDir, legacyDir, '', '/vmfs/volumes/None/vmware_scvm_failure'),
          cron: fc.boolean(),
          local: fc.boolean(),
          keyDir: fc.constantFrom(undefined, `${legacyDir}/.smartx_key`, '/vmfs/volumes/uuid-1/.smartx_key', '/vmfs/volumes/uuid-1'),
        }),
        { nil: undefined },
      ),
      pin: fc.option(gw, { nil: undefined }),
      withDirs: fc.boolean(),
      // The session source's firewall ruleset as found (undefined: not observed), and our record of it.
      firewall: fc.option(
        fc.record({
          enabled: fc.boolean(),
          allowedAll: fc.boolean(),
          allowedIps: fc.subarray([...GATEWAY_POOL(m), '10.20.0.0/24', '172.16.0.9']),
        }),
        { nil: undefined },
      ),
      firewallPrior: fc.option(
        fc.record({
          enabled: fc.boolean(),
          allowedAll: fc.boolean(),
          allowedIps: fc.constant([] as string[]),
          addedIps: fc.subarray(GATEWAY_POOL(m)),
        }),
        { nil: undefined },
      ),
    })
    .map((g): EsxiObserved => {
      const files: EsxiObserved['files'] = {};
      d.files.forEach((f, i) => {
        const st = g.files[i];
        if (st === 'absent') return;
        files[f.path] = {
          path: f.path,
          sha256: st === 'sha' || (st === 'version' && f.version) ? '0'.repeat(64) : f.sha256,
          mode: st === 'mode' ? '0666' : f.mode,
          size: 10,
          ...(f.version ? { version: st === 'version' ? '0.9.0' : f.version } : {}),
        };
      });
      for (const x of g.extraFiles)
        files[`${d.installDir}/${x}`] = { path: `${d.installDir}/${x}`, sha256: '1'.repeat(64), mode: '0600', size: 3 };
      const o: EsxiObserved = {
        kind: 'esxi',
        node: d.node,
        reachable: true,
        now: NOW,
        files,
        crontab: textOf(g.cron, g.cronTrailing),
        localSh: textOf(g.local, g.localTrailing),
        otherHostRoutes: g.otherRoutes,
        agentProcesses: g.procs.map((command, i) => ({ pid: 100 + i, command })),
        crondRunning: g.crondRunning,
        vmknics: [],
      };
      if (g.withDirs) o.dirs = Object.keys(files).length > 0 ? { [d.installDir]: { mode: '0700' } } : {};
      if (g.heartbeat)
        o.heartbeat = {
          version: g.heartbeat.version,
          pid: 100,
          target: '',
          targetKind: 'none',
          since: NOW - 1000,
          updated: NOW - g.heartbeat.age,
          fetch: 'ok',
          fetchMs: 3,
        };
      if (g.nfsRoute) o.nfsRoute = g.nfsRoute;
      if (g.pin !== undefined && files[`${d.installDir}/pin`]) o.pinTarget = g.pin;
      if (g.firewall) o.firewall = { httpClient: g.firewall.allowedAll ? { ...g.firewall, allowedIps: [] } : g.firewall };
      if (g.firewallPrior && d.firewall) {
        o.firewallPrior = { httpClient: g.firewallPrior };
        files[d.firewall.recordPath] = { path: d.firewall.recordPath, sha256: '2'.repeat(64), mode: '0600', size: 100 };
      }
      if (g.legacy) {
        o.legacy = { dir: g.legacy.dir, version: '0.9.3', localShLines: g.legacy.local ? [legacyLocal] : [] };
        if (g.legacy.cron) o.legacy.crontabLine = legacyCron;
        if (g.legacy.keyDir !== undefined) o.legacy.keyDir = g.legacy.keyDir;
      }
      return o;
    });
  return fc.oneof({ weight: 1, arbitrary: fc.constant(unreachable('esxi', d.node)) }, { weight: 6, arbitrary: reachable });
}

function scvmArb(node: string, entry: string): fc.Arbitrary<ScvmObserved | Unreachable> {
  const reachable = fc
    .array(
      fc.constantFrom(
        entry,
        'from="10.0.0.1" ssh-rsa AAAAold zbs-reroute:prod-a',
        'ssh-rsa AAAAx zbs-reroute:other',
        'ssh-rsa AAAAy zbs-reroute:prod-a-2',
      ),
      { maxLength: 4 },
    )
    .map((managedKeys): ScvmObserved => ({ kind: 'scvm', node, reachable: true, managedKeys, foreignKeyCount: 1 }));
  return fc.oneof({ weight: 1, arbitrary: fc.constant(unreachable('scvm', node)) }, { weight: 5, arbitrary: reachable });
}

const worldArb: fc.Arbitrary<World> = fc
  .record({
    n: fc.integer({ min: 1, max: 5 }),
    version: fc.constantFrom('1.0.0', '1.1.0'),
    gateways: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    drains: fc.array(fc.constantFrom<'none' | 'auto' | 'next'>('none', 'none', 'auto', 'next'), { minLength: 5, maxLength: 5 }),
    // Shadow mode keeps a legacy install in place; zones only change reroute.conf.
    mode: fc.constantFrom<'active' | 'shadow'>('active', 'active', 'shadow'),
    zones: fc.option(fc.array(fc.constantFrom('site-a', 'site-b'), { minLength: 5, maxLength: 5 }), { nil: undefined }),
  })
  .chain(({ n, version, gateways, drains, mode, zones }) => {
    const nodes: NodeSpec[] = Array.from({ length: n }, (_, k) => {
      const extra: Partial<NodeSpec> = {};
      if (gateways[k]) extra.storageGateway = '10.20.0.254';
      if (n > 1 && drains[k] === 'auto') extra.drain = {};
      if (n > 1 && drains[k] === 'next') extra.drain = { to: `node-${((k + 1) % n) + 1}` };
      if (zones !== undefined) extra.zone = zones[k];
      return fixtureNode(k + 1, extra);
    });
    const base = fixtureManifest(n, { version, nodes });
    const manifest = { ...base, routing: { ...base.routing, mode } };
    const desired = fixtureDesired(manifest);
    const esxi = fc.tuple(...desired.esxi.map((d) => esxiArb(d, manifest)));
    const scvm = fc.tuple(
      ...desired.scvm.map((d) => scvmArb(d.node, d.authorizedKey ?? 'from="10.0.0.2" ssh-rsa AAAAz zbs-reroute:prod-a')),
    );
    return fc.tuple(esxi, scvm).map(([e, s]): World => ({
      manifest,
      desired,
      observed: {
        format: 'zbs-reroute/observed-v1',
        takenAt: PLAN_OPTS.now,
        esxi: Object.fromEntries(e.map((x) => [x.node, x])),
        scvm: Object.fromEntries(s.map((x) => [x.node, x])),
      },
    }));
  });

const plan = (w: World, mode: 'apply' | 'destroy', o = w.observed): Plan => planCluster(w.desired, o, { mode, ...PLAN_OPTS });
const RUNS = { numRuns: Number(process.env.PLAN_PROPERTY_RUNS ?? 200) };

function foreignCrontab(o: EsxiObserved): string {
  const legacy = o.legacy?.crontabLine === undefined ? undefined : bare(o.legacy.crontabLine);
  return splitKeepingEnds(o.crontab)
    .filter((l) => !isManagedCrontabLine(l) && !isLegacyCrontabLine(l) && bare(l) !== legacy)
    .join('');
}

function foreignLocalSh(o: EsxiObserved, desiredBlockLines: Set<string> = new Set()): string {
  const lines = splitKeepingEnds(o.localSh);
  const { blocks, strays } = scanLocalSh(lines);
  const ours = new Set<number>(strays);
  for (const b of blocks) for (let i = b.start; i <= b.end; i++) ours.add(i);
  const legacy = new Set((o.legacy?.localShLines ?? []).map(bare));
  void desiredBlockLines;
  return lines.filter((l, i) => !ours.has(i) && !isLegacyLocalShLine(l) && !legacy.has(bare(l))).join('');
}

/** Foreign text is unchanged, except that its last line may gain the `\n` an appended line needs. */
function sameForeign(before: string, after: string): boolean {
  return after === before || after === `${before}\n`;
}

describe('planner properties over generated manifests and observations', () => {
  test('THE ROUTE INVARIANT: an apply plan never contains a route action, and pins only where the manifest drains', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(w, 'apply');
        for (const h of p.hosts) {
          for (const a of h.actions) {
            expect(a.op).not.toBe('delete-route');
            if (a.op === 'write-pin') expect(w.desired.esxi.find((d) => d.node === h.node)?.pinTarget).toBe(a.target);
          }
          if (h.change === 'unreachable') expect(h.actions).toEqual([]);
        }
      }),
      RUNS,
    );
  });

  test("a destroy plan deletes only /32 routes to cluster addresses via a cluster gateway or the host's own storage gateway", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(w, 'destroy');
        for (const h of p.hosts) {
          const d = w.desired.esxi.find((x) => x.node === h.node);
          for (const a of h.actions) {
            if (a.op !== 'delete-route') continue;
            expect(h.host).toBe('esxi');
            const allowed = new Set([...w.desired.clusterGateways, ...(d?.storageGateway ? [d.storageGateway] : [])]);
            expect(allowed.has(a.gateway)).toBe(true);
            expect(a.prefixLength).toBe(32);
            expect(routeIsOurs({ network: a.network, prefixLength: a.prefixLength, gateway: a.gateway }, d as DesiredEsxi, w.desired)).toBe(
              true,
            );
          }
        }
      }),
      RUNS,
    );
  });

  test.each(['apply', 'destroy'] as const)(
    "%s removes folders only under /vmfs/volumes/<datastore>/ with our or the seed's name",
    (mode) => {
      fc.assert(
        fc.property(worldArb, (w) => {
          for (const h of plan(w, mode).hosts) {
            for (const a of h.actions) {
              if (a.op !== 'remove-dir' && a.op !== 'delete-file') continue;
              expect(a.path).toMatch(/^\/vmfs\/volumes\/[^/.][^/]*\/(zbs-reroute|vmware_scvm_failure|\.smartx_key)(\/|$)/);
            }
          }
        }),
        RUNS,
      );
    },
  );

  test.each(['apply', 'destroy'] as const)('%s converges: planning the state a plan leaves behind plans nothing', (mode) => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const p = plan(w, mode);
        const after = applyPlanToObserved(p, w.observed);
        const again = plan(w, mode, after);
        expect(again.hosts.filter((h) => h.actions.length > 0).map((h) => ({ node: h.node, host: h.host, actions: h.actions }))).toEqual(
          [],
        );
      }),
      RUNS,
    );
  });

  test.each(['apply', 'destroy'] as const)('%s keeps every foreign crontab and local.sh line byte for byte', (mode) => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const after = applyPlanToObserved(plan(w, mode), w.observed);
        for (const [node, o] of Object.entries(w.observed.esxi)) {
          if (!o.reachable) continue;
          const a = after.esxi[node] as EsxiObserved;
          expect(sameForeign(foreignCrontab(o), foreignCrontab({ ...a, legacy: o.legacy }))).toBe(true);
          expect(sameForeign(foreignLocalSh(o), foreignLocalSh({ ...a, legacy: o.legacy }))).toBe(true);
        }
        for (const [node, o] of Object.entries(w.observed.scvm)) {
          if (!o.reachable) continue;
          const a = after.scvm[node] as ScvmObserved;
          const others = (s: ScvmObserved) => s.managedKeys.filter((l) => !l.endsWith(' zbs-reroute:prod-a'));
          expect(others(a)).toEqual(others(o));
        }
      }),
      RUNS,
    );
  });

  test('once applied, a second apply says No changes (summary all zero)', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const once = applyPlanToObserved(plan(w, 'apply'), w.observed);
        const p = plan(w, 'apply', once);
        expect(p.hosts.every((h) => h.actions.length === 0)).toBe(true);
        expect(p.summary.add + p.summary.change + p.summary.destroy).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});
