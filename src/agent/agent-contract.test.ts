/**
 * The contract between this side and the agent, run for real: a reroute.conf rendered by
 * renderAgentConf (shadow mode, zones) drives the shipped reroute-loop.sh under the agent's own
 * test doubles of ESXi's tools (esxi/agent/test-shims, no network, no root), and the heartbeat it
 * writes is read by parseHeartbeat and agentSight, as `reroute status` and verification read it;
 * ZONE_PEER_STORAGE_IPS as rendered here keeps the agent's failover in its zone.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentSight } from '../observe/agent-health';
import type { Manifest } from '../manifest/manifest-types';
import type { AgentHeartbeat } from '../observe/observed-types';
import { parseHeartbeat } from '../observe/esxi-command-output';
import { fixtureManifest } from '../../test/support/plan-fixtures';
import { renderAgentConf } from './agent-conf';

const AGENT_DIR = path.join(__dirname, '..', '..', 'esxi', 'agent');
// busybox ash would run its own ping/wget applets instead of the doubles found through PATH.
const SH = spawnSync('dash', ['-c', 'exit 0']).status === 0 ? 'dash' : 'sh';

/** One fake ESXi host running the shipped agent with the conf rendered for `node` of `m`. */
class ContractHost {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-contract-'));
  readonly dirs = {
    fake: path.join(this.root, 'fake'),
    inst: path.join(this.root, 'inst'),
    bin: path.join(this.root, 'bin'),
    run: path.join(this.root, 'run'),
  };
  readonly manifest: Manifest;
  private agent: ChildProcess | undefined;

  constructor(m: Manifest, nodeIndex: number, routeGateway: string | undefined) {
    // Paths inside a temp dir; every other key is exactly what apply uploads.
    this.manifest = { ...m, install: { ...m.install, runDir: this.dirs.run, logFile: path.join(this.root, 'scvm_failure.log') } };
    for (const d of Object.values(this.dirs)) fs.mkdirSync(d);
    for (const f of fs.readdirSync(path.join(AGENT_DIR, 'test-shims'))) {
      fs.copyFileSync(path.join(AGENT_DIR, 'test-shims', f), path.join(this.dirs.bin, f));
      fs.chmodSync(path.join(this.dirs.bin, f), 0o755);
    }
    fs.copyFileSync(path.join(AGENT_DIR, 'reroute-loop.sh'), path.join(this.dirs.inst, 'reroute-loop.sh'));
    // Timings a unit test can wait for, after the rendered keys (the agent sources the file top to bottom).
    fs.writeFileSync(
      path.join(this.dirs.inst, 'reroute.conf'),
      `${renderAgentConf(this.manifest, this.manifest.nodes[nodeIndex]!)}FETCH_TIMEOUT=1\nBLIND_AFTER=2\n`,
      { mode: 0o600 },
    );
    const data = m.nodes.map((n, i) => ({ session_id: `s-${i}`, ip: n.scvm.storageIp, secondary_data_ip: n.scvm.managementIp }));
    fs.writeFileSync(path.join(this.dirs.fake, 'sessions.json'), JSON.stringify({ ec: 'EOK', data }));
    fs.writeFileSync(path.join(this.dirs.fake, 'routes'), routeGateway === undefined ? '' : `192.168.33.2/32 ${routeGateway}\n`);
  }

  start(): void {
    const env = { ...process.env, FAKE: this.dirs.fake, PATH: `${this.dirs.bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    this.agent = spawn(SH, [path.join(this.dirs.inst, 'reroute-loop.sh')], { env, detached: true, stdio: 'ignore' });
  }

  stop(): void {
    if (this.agent?.pid !== undefined) {
      try {
        process.kill(-this.agent.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  fake(name: string, lines: string[]): void {
    fs.writeFileSync(path.join(this.dirs.fake, name), `${lines.join('\n')}\n`);
  }

  route(): string {
    return fs.readFileSync(path.join(this.dirs.fake, 'routes'), 'utf8');
  }

  heartbeat(): AgentHeartbeat | undefined {
    const file = path.join(this.dirs.run, 'status');
    if (!fs.existsSync(file)) return undefined;
    const r = parseHeartbeat(fs.readFileSync(file, 'utf8'));
    expect(r.invalid).toEqual([]);
    return r.heartbeat;
  }

  async until(what: string, ms: number, ok: (hb: AgentHeartbeat) => boolean): Promise<AgentHeartbeat> {
    const end = Date.now() + ms;
    for (;;) {
      const hb = this.heartbeat();
      if (hb && ok(hb)) return hb;
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last heartbeat ${JSON.stringify(hb)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function zoned(n: number, zones: string[], routing: Partial<Manifest['routing']>): Manifest {
  const base = fixtureManifest(n);
  return {
    ...base,
    routing: { ...base.routing, intervalSeconds: 1, failbackDelaySeconds: 2, ...routing },
    nodes: base.nodes.map((x, i) => ({ ...x, zone: zones[i] })),
  };
}

describe('a conf rendered here, the shipped agent, its heartbeat read here', () => {
  // A legacy agent had failed over to node-2: the shadow agent must leave that route alone.
  const host = new ContractHost(zoned(3, ['site-a', 'site-a', 'site-b'], { mode: 'shadow' }), 0, '10.20.0.102');
  const m = host.manifest;
  const node = m.nodes[0]!;
  beforeAll(() => host.start());
  afterAll(() => host.stop());

  test('shadow: mode=shadow, the real route as target, the would-be route and the disagreement beside it', async () => {
    const hb = await host.until('the shadow agent would fail back to its local SCVM', 30_000, (h) => h.disagree === true);
    expect(hb).toMatchObject({
      mode: 'shadow',
      blind: false,
      target: '10.20.0.102',
      shadowTarget: node.scvm.storageIp,
      shadowKind: 'local',
      disagree: true,
    });
    expect(hb.shadowChanges).toBeGreaterThanOrEqual(1);
    const sight = agentSight(hb, hb.updated, (ip) => m.nodes.find((n) => n.scvm.storageIp === ip)?.name);
    expect(sight.shadow).toMatchObject({ target: node.scvm.storageIp, targetNode: 'node-1', disagree: true });
    expect(host.route()).toBe('192.168.33.2/32 10.20.0.102\n');
  }, 60_000);

  test('blind: no session list from anyone for BLIND_AFTER iterations, and the route still untouched', async () => {
    host.fake(
      'meta-down',
      m.nodes.flatMap((n) => [n.scvm.storageIp, n.scvm.managementIp]),
    );
    const hb = await host.until('blind=1', 30_000, (h) => h.blind === true);
    expect(hb.fetch).toBe('fail');
    expect(hb.fetchFails).toBeGreaterThanOrEqual(2);
    expect(hb.listAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(agentSight(hb, hb.updated, () => undefined).blind).toBe(true);
    expect(host.route()).toBe('192.168.33.2/32 10.20.0.102\n');
  }, 60_000);
});

describe("zones rendered here order the shipped agent's failover", () => {
  // node-1's zone peer is node-4; node-2 and node-3 are in the other zone (1 in 3 by chance without zones).
  const host = new ContractHost(zoned(4, ['site-a', 'site-b', 'site-b', 'site-a'], { mode: 'active' }), 0, '10.20.0.101');
  beforeAll(() => host.start());
  afterAll(() => host.stop());

  test('the local SCVM dies: IO goes to the same-zone SCVM', async () => {
    await host.until(
      'the active agent runs on its local SCVM',
      30_000,
      (h) => h.mode === 'active' && h.target === '10.20.0.101' && h.fetch === 'ok',
    );
    host.fake('down', ['10.20.0.101', '10.10.0.101']);
    const hb = await host.until('failover', 30_000, (h) => h.target !== '10.20.0.101');
    expect(hb).toMatchObject({ target: '10.20.0.104', targetKind: 'remote-storage', mode: 'active', blind: false });
    expect(host.route()).toBe('192.168.33.2/32 10.20.0.104\n');
  }, 60_000);
});
