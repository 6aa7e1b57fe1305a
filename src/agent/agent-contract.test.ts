/**
 * The contract between this side and the agent, run for real: a reroute.conf rendered by
 * renderAgentConf (shadow mode, zones) drives the shipped reroute-loop.sh under the agent's own
 * test doubles of ESXi's tools (esxi/agent/test-shims, no network, no root), and the heartbeat it
 * writes is read by parseHeartbeat and agentSight, as `reroute status` and verification read it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentSight } from '../engine/agent-health';
import type { Manifest } from '../manifest/manifest-types';
import type { AgentHeartbeat } from '../observe/observed-types';
import { parseHeartbeat } from '../observe/esxi-command-output';
import { fixtureManifest } from '../plan/test-fixtures';
import { renderAgentConf } from './agent-conf';

const AGENT_DIR = path.join(__dirname, '..', '..', 'esxi', 'agent');
// busybox ash would run its own ping/wget applets instead of the doubles found through PATH.
const SH = spawnSync('dash', ['-c', 'exit 0']).status === 0 ? 'dash' : 'sh';

describe('a conf rendered here, the shipped agent, its heartbeat read here', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-contract-'));
  const dirs = { fake: path.join(root, 'fake'), inst: path.join(root, 'inst'), bin: path.join(root, 'bin'), run: path.join(root, 'run') };
  let agent: ChildProcess | undefined;

  const base = fixtureManifest(3);
  const m: Manifest = {
    ...base,
    install: { ...base.install, runDir: dirs.run, logFile: path.join(root, 'scvm_failure.log') },
    routing: { ...base.routing, mode: 'shadow', intervalSeconds: 1, failbackDelaySeconds: 2 },
    nodes: base.nodes.map((n, i) => ({ ...n, zone: i < 2 ? 'site-a' : 'site-b' })),
  };
  const node = m.nodes[0]!;

  const heartbeat = (): AgentHeartbeat | undefined => {
    const file = path.join(dirs.run, 'status');
    if (!fs.existsSync(file)) return undefined;
    const r = parseHeartbeat(fs.readFileSync(file, 'utf8'));
    expect(r.invalid).toEqual([]);
    return r.heartbeat;
  };
  const until = async (what: string, ms: number, ok: (hb: AgentHeartbeat) => boolean): Promise<AgentHeartbeat> => {
    const end = Date.now() + ms;
    for (;;) {
      const hb = heartbeat();
      if (hb && ok(hb)) return hb;
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last heartbeat ${JSON.stringify(hb)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const route = (): string => fs.readFileSync(path.join(dirs.fake, 'routes'), 'utf8');

  beforeAll(() => {
    for (const d of Object.values(dirs)) fs.mkdirSync(d);
    for (const f of fs.readdirSync(path.join(AGENT_DIR, 'test-shims'))) {
      fs.copyFileSync(path.join(AGENT_DIR, 'test-shims', f), path.join(dirs.bin, f));
      fs.chmodSync(path.join(dirs.bin, f), 0o755);
    }
    fs.copyFileSync(path.join(AGENT_DIR, 'reroute-loop.sh'), path.join(dirs.inst, 'reroute-loop.sh'));
    // Timings a unit test can wait for; every other key is exactly what apply uploads.
    fs.writeFileSync(path.join(dirs.inst, 'reroute.conf'), `${renderAgentConf(m, node)}FETCH_TIMEOUT=1\nBLIND_AFTER=2\n`, { mode: 0o600 });
    const data = m.nodes.map((n, i) => ({ session_id: `s-${i}`, ip: n.scvm.storageIp, secondary_data_ip: n.scvm.managementIp }));
    fs.writeFileSync(path.join(dirs.fake, 'sessions.json'), JSON.stringify({ ec: 'EOK', data }));
    // A legacy agent had failed over to node-2: the shadow agent must leave that route alone.
    fs.writeFileSync(path.join(dirs.fake, 'routes'), '192.168.33.2/32 10.20.0.102\n');
    agent = spawn(SH, [path.join(dirs.inst, 'reroute-loop.sh')], { env: { ...process.env, FAKE: dirs.fake, PATH: `${dirs.bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }, detached: true, stdio: 'ignore' });
  });

  afterAll(() => {
    if (agent?.pid !== undefined) {
      try {
        process.kill(-agent.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('shadow: mode=shadow, the real route as target, the would-be route and the disagreement beside it', async () => {
    const hb = await until('the shadow agent would fail back to its local SCVM', 30_000, (h) => h.disagree === true);
    expect(hb).toMatchObject({ mode: 'shadow', blind: false, target: '10.20.0.102', shadowTarget: node.scvm.storageIp, shadowKind: 'local', disagree: true });
    expect(hb.shadowChanges).toBeGreaterThanOrEqual(1);
    const sight = agentSight(hb, hb.updated, (ip) => m.nodes.find((n) => n.scvm.storageIp === ip)?.name);
    expect(sight.shadow).toMatchObject({ target: node.scvm.storageIp, targetNode: 'node-1', disagree: true });
    expect(route()).toBe('192.168.33.2/32 10.20.0.102\n');
  }, 60_000);

  test('blind: no session list from anyone for BLIND_AFTER iterations, and the route still untouched', async () => {
    fs.writeFileSync(path.join(dirs.fake, 'meta-down'), `${m.nodes.flatMap((n) => [n.scvm.storageIp, n.scvm.managementIp]).join('\n')}\n`);
    const hb = await until('blind=1', 30_000, (h) => h.blind === true);
    expect(hb.fetch).toBe('fail');
    expect(hb.fetchFails).toBeGreaterThanOrEqual(2);
    expect(hb.listAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(agentSight(hb, hb.updated, () => undefined).blind).toBe(true);
    expect(route()).toBe('192.168.33.2/32 10.20.0.102\n');
  }, 60_000);
});
