/**
 * Stretched cluster (issue 12): zone a = node-1, node-2 and zone b = node-3, node-4; each agent's conf
 * names its zone's peers (ZONE_PEER_STORAGE_IPS, as the planner renders it from `nodes[].zone`).
 * Fallback order local → same-zone storage → other-zone storage → management: a failed SCVM's host
 * goes to its zone's other SCVM every time — four failovers, where a random pick among the three
 * peers would land in-zone only one time in three — and out of the zone only when the zone has no
 * healthy SCVM left. INTERVAL=1 s, FAILBACK_DELAY=2 s, PING_TIMEOUT=1 s.
 */
import type { LabNode } from '../../lab/lab';
import { installAgent, routeVia, sleep, status, until, type AgentTiming } from './agent-lab';
import { nfsRouteAdds } from './agent-lab-probes';
import { describeLab } from '../support/describe-lab';
import { useAgentLab } from './use-agent-lab';

jest.setTimeout(300_000);

const T: AgentTiming = { interval: 1, failbackDelay: 2, pingTimeout: 1 };
const ZONES: Record<number, number[]> = { 1: [1, 2], 2: [1, 2], 3: [3, 4], 4: [3, 4] };

let installedAt = 0;

const node = (i: number): LabNode => agentLab.node(i);

/** Storage links of `down` fail together; returns where `watch`'s IO went (and its heartbeat kind). */
async function failOver(down: number[], watch: number) {
  const l = agentLab.lab;
  const n = node(watch);
  await Promise.all(down.map((i) => l.fault('storage-down', node(i).scvm.target)));
  try {
    const t0 = Date.now();
    await until(`${n.esxi.target} off its SCVM`, 30_000, () => routeVia(n) !== n.scvm.storageIp && routeVia(n) !== '', 100);
    const movedMs = Date.now() - t0;
    // It stays there (no second hop a moment later); the heartbeat, written after the switch, agrees.
    await sleep(1_000);
    const via = routeVia(n);
    const kind = await until(
      'heartbeat to match the route',
      15_000,
      () => (status(n).target === via ? status(n).target_kind : undefined),
      100,
    );
    return { via, kind, movedMs };
  } finally {
    await Promise.all(down.map((i) => l.heal('storage-down', node(i).scvm.target)));
    await until('every host home again', 60_000, () => l.nodes.every((m) => routeVia(m) === m.scvm.storageIp), 200);
  }
}

const agentLab = useAgentLab('tzone', { lab: { nodes: 4 } });

describeLab('agent in a stretched cluster (issue 12)', () => {
  beforeAll(async () => {
    const l = agentLab.lab;
    await Promise.all(
      l.nodes.map((n) => {
        const zonePeers = (ZONES[n.index] ?? []).filter((i) => i !== n.index).map((i) => node(i).scvm.storageIp);
        return installAgent(l, n, agentLab.key, T, 'rest', { ZONE_PEER_STORAGE_IPS: zonePeers.join(' ') });
      }),
    );
    await until('every host routed via its own SCVM', 60_000, () =>
      l.nodes.every((n) => routeVia(n) === n.scvm.storageIp && status(n).target_kind === 'local'),
    );
    installedAt = Date.now();
  }, 120_000);

  test('an SCVM fails: its host goes to the other SCVM of its zone, every time', async () => {
    const picks: string[] = [];
    for (const i of [1, 3, 1, 3]) {
      const r = await failOver([i], i);
      const mate = ZONES[i]!.find((j) => j !== i)!;
      picks.push(`${node(i).esxi.target} -> ${r.via}`);
      expect({ host: node(i).esxi.target, via: r.via, kind: r.kind }).toEqual({
        host: node(i).esxi.target,
        via: node(mate).scvm.storageIp,
        kind: 'remote-storage',
      });
      expect(r.movedMs).toBeLessThan(20_000);
    }
    console.log(`zone failovers: ${picks.join(', ')}`);
    // node-4's SCVM never failed and node-2's only later: their routes never moved.
    expect(nfsRouteAdds(agentLab.lab, node(4), installedAt)).toEqual([]);
    expect(nfsRouteAdds(agentLab.lab, node(2), installedAt)).toEqual([]);
  });

  test('both SCVMs of a zone fail: IO goes to the other zone by storage, not to a management IP', async () => {
    const r = await failOver([1, 2], 1);
    expect([node(3).scvm.storageIp, node(4).scvm.storageIp]).toContain(r.via);
    expect(r.kind).toBe('remote-storage');
  });
});
