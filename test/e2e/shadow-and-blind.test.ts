import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import type { LabNode } from '../../lab/lab';
import { updateScvm } from '../../lab/services/cluster-state';
import type { HostStatus } from '../../src/engine/cluster-status';
import type { Action, Plan } from '../../src/plan/plan-types';
import { agentLog, routeVia, status as heartbeat } from '../agent/agent-lab';
import { useLabCluster } from '../support/lab-cluster';
import { nfsRouteChanges } from '../support/lab-io';
import { writeLabManifest } from '../support/lab-manifest';
import { waitFor } from '../support/wait-for';
import { reroute, type CliRun } from '../support/run-cli';
import { testLabName } from '../../lab/test-support';
import { describeLab } from '../support/describe-lab';
import { steps } from '../support/steps';

/**
 * Shadow mode and blind agents through the real CLI (issue 12), on one 3-node lab whose legacy
 * seed agent is in charge: first contact in shadow (legacy kept, decisions shown beside the real
 * route), a storage fault the shadow agents only report, going active as an ordinary apply (legacy
 * taken over, no route moved), then meta unreachable from every ESXi host (blind in status,
 * `--check` and apply's verification; route kept). The cases run in order on the same lab.
 */
jest.setTimeout(600_000);

const LAB = testLabName('eshb');
const INSTALL = '/vmfs/volumes/datastore1/zbs-reroute';
const cluster = useLabCluster('eshb', {
  // Meta back up first, so a failed case does not leave the cluster file saying it is down.
  beforeStop: async () => {
    for (const n of cluster.lab.nodes) updateScvm(cluster.lab.clusterFile, n.scvm.target, { metaUp: true });
  },
});
const { state } = cluster;

const nodes = (): LabNode[] => cluster.lab.nodes;
const esxi = (n: LabNode) => n.esxi.target;
const legacyDir = (n: LabNode) => `/vmfs/volumes/${n.esxi.datastoreUuid}/vmware_scvm_failure`;
const legacyLoop = (n: LabNode) => `${legacyDir(n)}/scvm_failure_loop.sh`;
const tail = (r: CliRun) => ({ code: r.code, tail: `${r.stdout.slice(-3000)}\n${r.stderr.slice(-1500)}` });
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A lab manifest in the given routing mode, with short SSH timeouts (a slow host costs seconds). */
function manifest(file: string, mode: 'shadow' | 'active'): string {
  const p = writeLabManifest(cluster.lab, cluster.dir, file, { clusterName: LAB, routing: { mode } });
  const doc = parse(fs.readFileSync(p, 'utf8')) as { spec: { access: Record<string, unknown> } };
  doc.spec.access.ssh = { connectTimeoutSeconds: 5, commandTimeoutSeconds: 60, hostTimeoutSeconds: 90 };
  fs.writeFileSync(p, stringify(doc));
  return p;
}

/**
 * A seed-tooling install as the field has it: folder with the seed's keypair and loop script
 * (a bounded stand-in that holds no route: we do not ship the seed's script), its crontab line and
 * its local.sh lines, and the route it set, via the local SCVM's storage IP.
 */
async function installLegacy(n: LabNode, keyFile: string): Promise<void> {
  const d = legacyDir(n);
  const cronLine = `* * * * * /bin/sh ${legacyLoop(n)} &`;
  const standIn = [
    '#!/bin/sh',
    'reroute_version=1.4.2',
    '# stand-in for the seed tooling loop',
    'i=0',
    'while [ "$i" -lt 1200 ]; do sleep 1; i=$((i + 1)); done',
    '',
  ].join('\n');
  const hostDir = path.join(n.esxi.root, d);
  fs.mkdirSync(path.join(hostDir, '.smartx_key'), { recursive: true });
  fs.copyFileSync(keyFile, path.join(hostDir, '.smartx_key', 'smartx_reroute_id_rsa'));
  fs.chmodSync(path.join(hostDir, '.smartx_key', 'smartx_reroute_id_rsa'), 0o600);
  fs.copyFileSync(`${keyFile}.pub`, path.join(hostDir, '.smartx_key', 'smartx_reroute_id_rsa.pub'));
  fs.writeFileSync(path.join(hostDir, 'scvm_failure_loop.sh'), standIn, { mode: 0o755 });
  // local.sh is edited in place (keeps its sticky bit), then backed up, as an operator's vi would.
  const localSh = await cluster.lab.execOk(esxi(n), 'cat /etc/rc.local.d/local.sh');
  const lines = localSh.split('\n');
  const exitAt = lines.lastIndexOf('exit 0');
  lines.splice(
    exitAt < 0 ? lines.length : exitAt,
    0,
    `/bin/echo '${cronLine}' >> /var/spool/cron/crontabs/root`,
    '/bin/kill $(cat /var/run/crond.pid)',
    '/usr/lib/vmware/busybox/bin/busybox crond',
  );
  await cluster.lab.execOk(esxi(n), 'cat > /etc/rc.local.d/local.sh && /sbin/auto-backup.sh', { input: lines.join('\n') });
  await cluster.lab.execOk(
    esxi(n),
    [
      `echo '${cronLine}' >> /var/spool/cron/crontabs/root`,
      'kill $(cat /var/run/crond.pid) && /usr/lib/vmware/busybox/bin/busybox crond',
      `esxcfg-route -a 192.168.33.2/32 ${n.scvm.storageIp}`,
      `/bin/sh ${legacyLoop(n)} </dev/null >/dev/null 2>&1 &`,
    ].join(' && '),
  );
}

async function legacyState(n: LabNode): Promise<{ loop: boolean; cron: boolean; localSh: boolean; dir: boolean }> {
  const [ps, cron, localSh] = await Promise.all([
    cluster.lab.execOk(esxi(n), 'ps -c'),
    cluster.lab.execOk(esxi(n), 'cat /var/spool/cron/crontabs/root'),
    cluster.lab.execOk(esxi(n), 'cat /etc/rc.local.d/local.sh'),
  ]);
  return {
    loop: ps.includes(legacyLoop(n)),
    cron: cron.includes('scvm_failure_loop.sh'),
    localSh: localSh.includes('scvm_failure_loop.sh'),
    dir: fs.existsSync(path.join(n.esxi.root, legacyDir(n))),
  };
}

/**
 * Every host's changes of the 192.168.33.2 route since t: as the route monitor saw them, and as the
 * lab's route audit recorded them with the caller (the agent, the legacy loop, or an SSH command).
 */
function routeChangesSince(t: number): Record<string, { monitor: string[]; audit: string[] }> {
  const monitor = nfsRouteChanges(cluster.lab, t);
  const audit = (n: LabNode) =>
    cluster.lab
      .routeAudit(esxi(n), t)
      .filter((e) => e.prefix.startsWith('192.168.33.2'))
      .map((e) => `${e.op} ${e.prefix} ${e.gateway} by ${e.parent} / ${e.grandparent}`);
  return Object.fromEntries(nodes().map((n) => [esxi(n), { monitor: monitor[esxi(n)] ?? [], audit: audit(n) }]));
}
const noChanges = () => Object.fromEntries(nodes().map((n) => [esxi(n), { monitor: [], audit: [] }]));

async function statusJson(m: string): Promise<{ code: number; hosts: HostStatus[] }> {
  const r = await reroute(cluster.lab, `--json status -f ${m} ${state()} --check`);
  try {
    return { code: r.code, hosts: (JSON.parse(r.stdout) as { hosts: HostStatus[] }).hosts };
  } catch {
    throw new Error(`status --json printed no JSON: ${JSON.stringify(tail(r))}`);
  }
}

/** What an action stops, removes or deletes (its `before` copies of whole files do not count). */
function removedBy(a: Action): unknown {
  switch (a.op) {
    case 'stop-agent':
      return a.match;
    case 'edit-crontab':
      return a.remove;
    case 'edit-local-sh':
      return a.removeLines;
    case 'remove-dir':
    case 'delete-file':
      return a.path;
    default:
      return [];
  }
}
const LEGACY = /vmware_scvm_failure|scvm_failure_loop/;

const planOf = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Plan;
const esxiPlans = (plan: Plan) => plan.hosts.filter((h) => h.host === 'esxi');

describeLab('shadow mode on a legacy cluster, going active, and a blind agent, through the CLI', () => {
  const step = steps();
  let shadowM: string;
  let activeM: string;

  step(
    'first contact in shadow: our agent installed beside the legacy one (kept running, its lines kept), decisions shown in status, --check passes, no route moved',
    async () => {
      const keyFile = path.join(cluster.dir, 'smartx_reroute_id_rsa');
      execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', 'smartx-reroute', '-f', keyFile]);
      await Promise.all(nodes().map((n) => installLegacy(n, keyFile)));
      await waitFor(
        'each host served by its own SCVM',
        () => {
          const io = cluster.lab.io(Date.now() - 1_000);
          return nodes().every((n) => io[esxi(n)]?.servedBy === n.scvm.target) ? true : undefined;
        },
        { timeoutMs: 20_000 },
      );
      // The route audit has whole seconds: start the window in the next one, after the legacy's own add.
      await new Promise((res) => setTimeout(res, 1_000));
      const t = Date.now();

      shadowM = manifest('shadow.yaml', 'shadow');
      expect(tail(await reroute(cluster.lab, `validate -f ${shadowM}`))).toEqual({ code: 0, tail: expect.anything() });
      const planRun = await reroute(cluster.lab, `plan -f ${shadowM} ${state()} --out ${cluster.dir}/shadow.plan.json`);
      expect(tail(planRun)).toEqual({ code: 0, tail: expect.anything() });
      const plan = planOf(`${cluster.dir}/shadow.plan.json`);
      for (const h of esxiPlans(plan)) {
        const legacyTouch = h.actions.filter((a) => LEGACY.test(JSON.stringify(removedBy(a))));
        expect({
          node: h.node,
          legacyTouch,
          note: h.notes?.some((x) => x.includes('stays in charge of the route (routing.mode shadow)')),
        }).toEqual({ node: h.node, legacyTouch: [], note: true });
      }
      expect(plan.hosts.flatMap((h) => h.actions).filter((a) => a.op === 'delete-route')).toEqual([]);

      const r = await reroute(cluster.lab, `apply -f ${shadowM} ${state()} --auto-approve`);
      expect(tail(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
      // The legacy agent is still in charge: its loop runs, its crontab and local.sh lines and folder are there.
      for (const n of nodes())
        expect({ host: esxi(n), ...(await legacyState(n)) }).toEqual({ host: esxi(n), loop: true, cron: true, localSh: true, dir: true });
      for (const n of nodes())
        expect({ host: esxi(n), ours: (await cluster.lab.execOk(esxi(n), 'ps -c')).includes(`${INSTALL}/reroute-loop.sh`) }).toEqual({
          host: esxi(n),
          ours: true,
        });
      await waitFor(
        'every shadow agent agrees with the real route',
        () => (nodes().every((n) => heartbeat(n).mode === 'shadow' && heartbeat(n).shadow_target === n.scvm.storageIp) ? true : undefined),
        { timeoutMs: 30_000 },
      );

      const [text, js] = await Promise.all([reroute(cluster.lab, `status -f ${shadowM} ${state()} --check`), statusJson(shadowM)]);
      expect(tail(text)).toEqual({ code: 0, tail: expect.stringContaining('Shadow decisions') });
      for (const n of nodes())
        expect(text.stdout).toMatch(
          new RegExp(
            `${n.name}\\s.*${esc(n.scvm.storageIp)} \\(${n.name}\\)\\s.*${esc(n.scvm.storageIp)} \\(${n.name}\\) local\\s.*yes\\s.*0`,
          ),
        );
      expect(text.stdout).toContain('3 agent(s) in shadow mode');
      expect(js.code).toBe(0);
      for (const n of nodes()) {
        const h = js.hosts.find((x) => x.node === n.name);
        expect({ node: n.name, route: h?.routeGateway, legacy: h?.legacy, degraded: h?.degraded, sight: h?.sight }).toEqual({
          node: n.name,
          route: n.scvm.storageIp,
          legacy: legacyDir(n),
          degraded: [],
          sight: expect.objectContaining({
            mode: 'shadow',
            blind: false,
            shadow: expect.objectContaining({ target: n.scvm.storageIp, targetNode: n.name, kind: 'local', disagree: false, changes: 0 }),
          }),
        });
      }
      expect(routeChangesSince(t)).toEqual(noChanges());
    },
  );

  step(
    'storage fault on scvm-2: the shadow agent shows the failover it would make, status shows the disagreement, --check passes, no agent of ours moves a route',
    async () => {
      const n2 = cluster.lab.nodes[1] as LabNode;
      const peers = nodes()
        .filter((n) => n !== n2)
        .map((n) => n.scvm.storageIp);
      const t = Date.now();
      await cluster.lab.fault('storage-down', n2.scvm.target);
      let during: Record<string, string>;
      let text: CliRun;
      let js: { code: number; hosts: HostStatus[] };
      try {
        during = await waitFor('esxi-2 shadow agent disagrees', () => (heartbeat(n2).disagree === '1' ? heartbeat(n2) : undefined), {
          timeoutMs: 40_000,
          everyMs: 200,
        });
        [text, js] = await Promise.all([reroute(cluster.lab, `status -f ${shadowM} ${state()} --check`), statusJson(shadowM)]);
      } finally {
        await cluster.lab.heal('storage-down', n2.scvm.target);
      }
      expect(peers).toContain(during.shadow_target);
      expect(during).toMatchObject({ mode: 'shadow', target: n2.scvm.storageIp, shadow_kind: 'remote-storage' });
      expect(Number(during.shadow_changes)).toBeGreaterThanOrEqual(1);
      // Disagreement is information: --check stays a usable health gate during the trial.
      expect(tail(text)).toEqual({ code: 0, tail: expect.stringContaining('disagree with the real route now') });
      expect(text.stdout).toMatch(
        new RegExp(
          `node-2\\s.*${esc(n2.scvm.storageIp)} \\(node-2\\)\\s.*10\\.20\\.0\\.\\d+ \\(node-[13]\\) remote-storage\\s.*NO, for \\d+s`,
        ),
      );
      expect(js.code).toBe(0);
      const h2 = js.hosts.find((h) => h.node === 'node-2');
      expect({ route: h2?.routeGateway, degraded: h2?.degraded, shadow: h2?.sight.shadow }).toEqual({
        route: n2.scvm.storageIp,
        degraded: [],
        shadow: expect.objectContaining({
          target: expect.stringMatching(new RegExp(peers.map(esc).join('|'))),
          kind: 'remote-storage',
          disagree: true,
          changes: expect.any(Number),
        }),
      });
      for (const h of js.hosts.filter((x) => x.node !== 'node-2'))
        expect({ node: h.node, disagree: h.sight.shadow?.disagree }).toEqual({ node: h.node, disagree: false });
      expect(agentLog(n2)).toMatch(
        new RegExp(`shadow: would route 33\\.2 ${esc(n2.scvm.storageIp)} -> (${peers.map(esc).join('|')}) \\(remote-storage\\)`),
      );

      // After healing, the shadow agent's own failback (after the failback delay) agrees again.
      await waitFor('every shadow agent agrees again', () => (nodes().every((n) => heartbeat(n).disagree === '0') ? true : undefined), {
        timeoutMs: 60_000,
        everyMs: 500,
      });
      // The legacy stand-in never moves a route; our shadow agents did not either (monitor and audit).
      expect(routeChangesSince(t)).toEqual(noChanges());
      for (const n of nodes())
        expect({ host: esxi(n), real: /route 33\.2: /.test(agentLog(n)), via: routeVia(n) }).toEqual({
          host: esxi(n),
          real: false,
          via: n.scvm.storageIp,
        });
    },
  );

  step('going active is an ordinary apply: conf update + legacy takeover, no route action, no route change, agents active', async () => {
    activeM = manifest('active.yaml', 'active');
    const planFile = `${cluster.dir}/active.plan.json`;
    expect(tail(await reroute(cluster.lab, `plan -f ${activeM} ${state()} --out ${planFile}`))).toEqual({
      code: 0,
      tail: expect.anything(),
    });
    const plan = planOf(planFile);
    for (const h of esxiPlans(plan)) {
      const conf = h.actions.find((a) => a.op === 'write-file' && a.path.endsWith('/reroute.conf'));
      expect({
        node: h.node,
        change: h.change,
        conf: conf?.op === 'write-file' ? /^MODE='?active'?$/m.test(conf.content ?? '') : undefined,
        stops: h.actions.some((a) => a.op === 'stop-agent' && a.match.some((m) => m.includes('scvm_failure'))),
      }).toEqual({
        node: h.node,
        change: 'takeover',
        conf: true,
        stops: true,
      });
    }
    expect(plan.hosts.flatMap((h) => h.actions).filter((a) => a.op === 'delete-route')).toEqual([]);

    const t = Date.now();
    const r = await reroute(cluster.lab, `apply -f ${activeM} ${state()} --auto-approve`);
    expect(tail(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    await waitFor('every agent active', () => (nodes().every((n) => heartbeat(n).mode === 'active') ? true : undefined), {
      timeoutMs: 30_000,
    });
    for (const n of nodes()) {
      expect({ host: esxi(n), ...(await legacyState(n)) }).toEqual({ host: esxi(n), loop: false, cron: false, localSh: false, dir: false });
      expect({ host: esxi(n), via: routeVia(n), target: heartbeat(n).target, kind: heartbeat(n).target_kind }).toEqual({
        host: esxi(n),
        via: n.scvm.storageIp,
        target: n.scvm.storageIp,
        kind: 'local',
      });
      expect(agentLog(n)).toContain(`mode active: the agent now moves routes; adopted the route via ${n.scvm.storageIp}`);
    }
    expect(routeChangesSince(t)).toEqual(noChanges());
  });

  step(
    'meta unreachable from every ESXi: blind in the heartbeat, degraded in status, --check exits 2, apply fails verification with AGENT_BLIND, route kept; healed: ok again',
    async () => {
      const t = Date.now();
      // Every SCVM's meta refuses connections (REST and zbs-meta); storage and ping are untouched.
      for (const n of nodes()) updateScvm(cluster.lab.clusterFile, n.scvm.target, { metaUp: false });
      try {
        await waitFor('every agent blind', () => (nodes().every((n) => heartbeat(n).blind === '1') ? true : undefined), {
          timeoutMs: 90_000,
          everyMs: 500,
        });
        for (const n of nodes())
          expect({ host: esxi(n), log: /blind: no session list for \d+ iterations/.test(agentLog(n)) }).toEqual({
            host: esxi(n),
            log: true,
          });

        // A re-apply that changes every host (a hand edit of reroute.conf) verifies them: blind fails it.
        // Its preflight sees the same outage (session-list), which the operator skips to get this far.
        // It runs beside the two status runs: its verification waits its whole bound for agents that stay blind.
        for (const n of nodes()) fs.appendFileSync(path.join(n.esxi.datastorePath, 'zbs-reroute', 'reroute.conf'), '# hand edit\n');
        const [text, js, apply] = await Promise.all([
          reroute(cluster.lab, `status -f ${activeM} ${state()} --check`),
          statusJson(activeM),
          reroute(cluster.lab, `apply -f ${activeM} ${state()} --auto-approve --skip-check session-list`),
        ]);
        expect(tail(text)).toEqual({ code: 2, tail: expect.stringContaining('Degraded: 3 host(s)') });
        for (const n of nodes()) {
          expect(text.stdout).toMatch(new RegExp(`${n.name}\\s.*BLIND \\(\\d+ fails, last \\d+s ago\\)`));
          expect(text.stdout).toMatch(
            new RegExp(
              `${n.name}: the agent is blind: .*Fix: meta unreachable from this host: check the httpClient firewall ruleset, the REST port 80`,
            ),
          );
        }
        expect(js.code).toBe(2);
        // Degraded by the blind agent; the hand edit of reroute.conf also shows as a peer list that differs from the manifest's.
        for (const h of js.hosts) {
          expect({
            node: h.node,
            blind: h.sight.blind,
            blindFinding: h.degraded.some((d) => /blind/.test(d)),
            route: h.routeLocal,
          }).toEqual({ node: h.node, blind: true, blindFinding: true, route: true });
        }

        expect({ code: apply.code, out: apply.stdout }).toEqual({ code: 1, out: expect.stringContaining('failed verification') });
        for (const n of nodes()) {
          expect(apply.stdout).toMatch(new RegExp(`${n.name}: AGENT_BLIND: the agent is blind: no session list for \\d+ iterations`));
        }
        expect(apply.stdout).toContain(
          'fix: meta unreachable from this host: check the httpClient firewall ruleset, the REST port 80 on the SCVMs (/api/v2/zbs_session/session), and run `reroute preflight`',
        );
        // Blind keeps the route: the local SCVMs answer ping.
        expect(routeChangesSince(t)).toEqual(noChanges());
        for (const n of nodes()) expect({ host: esxi(n), via: routeVia(n) }).toEqual({ host: esxi(n), via: n.scvm.storageIp });
      } finally {
        for (const n of nodes()) updateScvm(cluster.lab.clusterFile, n.scvm.target, { metaUp: true });
      }
      await waitFor(
        'every agent sees again',
        () => (nodes().every((n) => heartbeat(n).blind === '0' && heartbeat(n).fetch === 'ok') ? true : undefined),
        { timeoutMs: 60_000, everyMs: 500 },
      );
      for (const n of nodes())
        expect({ host: esxi(n), log: /sight back: session list from \S+ after \d+ iterations/.test(agentLog(n)) }).toEqual({
          host: esxi(n),
          log: true,
        });
      const ok = await reroute(cluster.lab, `status -f ${activeM} ${state()} --check`);
      expect(tail(ok)).toEqual({ code: 0, tail: expect.not.stringContaining('Degraded') });
      expect(routeChangesSince(t)).toEqual(noChanges());
    },
  );
});
