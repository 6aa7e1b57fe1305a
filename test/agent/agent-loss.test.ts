/**
 * Lost packets are not failures (issue 12). One 3-node lab, one 3-minute window with tc netem loss:
 * 5 % on every link of every host, and 30 % on top on the local SCVM storage link of node-1
 * (scvm-1:storage). Both of the cases in the same three minutes:
 *   node-2, node-3  5 % loss everywhere         → 0 route changes, never blind
 *   node-1          30 % loss to its own SCVM   → at most one failover, at most 2 route changes
 * Timing: the agent's defaults (INTERVAL 3 s, PING_TIMEOUT 1 s, FAILBACK_DELAY 180 s), what a cluster
 * runs. 30 % on a link loses a probe's request or its reply: about half the probes, so a false
 * failover inside 3 minutes is likely (2 of 3 runs had one); with a 60 s failback delay one run also
 * came back, and a second failover in the window would have been a matter of chance, not of the
 * agent. The rate of false moves per hour is the loss-profile benchmark's (docs/benchmarks.md).
 */
import { agentLog, installAgent, routeVia, sleep, status, until, type AgentTiming } from './agent-lab';
import { agentRouteAudit, nfsRouteAdds } from './agent-lab-probes';
import { describeLab } from '../support/describe-lab';
import { useAgentLab } from './use-agent-lab';

jest.setTimeout(420_000);

const T: AgentTiming = { interval: 3, failbackDelay: 180, pingTimeout: 1 };
const WINDOW_MS = 3 * 60_000;

let t0 = 0;
let t1 = 0;
/** Per host: heartbeat fields seen during the window (blind, fetch). */
const seen: Record<string, { blind: Set<string>; fetch: Set<string>; maxFetchFails: number }> = {};
/** Length of each host's agent log when the loss began (its install-time lines come before). */
const logAt0: Record<string, number> = {};

const agentLab = useAgentLab('tloss', { lab: { nodes: 3 }, beforeStop: reportLossWindow });

/** Runs while the lab is still up: what each host's agent saw and decided in the loss window. */
async function reportLossWindow(): Promise<void> {
  for (const n of agentLab.lab.nodes) {
    const s = seen[n.esxi.target];
    // The agent's own decisions in the window (why it moved, if it did): evidence for tuning.
    const decisions = agentLog(n).slice(logAt0[n.esxi.target]).split('\n').filter(Boolean).slice(-12);
    console.log(
      `${n.esxi.target} under loss: route adds ${nfsRouteAdds(agentLab.lab, n, t0).length}, blind ${[...(s?.blind ?? [])]}, fetch ${[...(s?.fetch ?? [])]}, max fetch_fails ${s?.maxFetchFails}\n${decisions.join('\n')}`,
    );
  }
}

describeLab('agent under packet loss (issue 12)', () => {
  beforeAll(async () => {
    const tStart = Date.now();
    const phases: string[] = [];
    const phase = (what: string): number => phases.push(`${what} ${((Date.now() - tStart) / 1000).toFixed(1)} s`);
    const l = agentLab.lab;
    await Promise.all(l.nodes.map((n) => installAgent(l, n, agentLab.key, T, 'rest')));
    await until('every host routed via its own SCVM', 60_000, () =>
      l.nodes.every((n) => routeVia(n) === n.scvm.storageIp && status(n).target_kind === 'local'),
    );
    phase('agents home');
    await l.linkFault('all', { loss: 5 });
    await l.linkFault('scvm-1:storage', { loss: 30 });
    phase('loss on');
    t0 = Date.now();
    for (const n of l.nodes) {
      seen[n.esxi.target] = { blind: new Set(), fetch: new Set(), maxFetchFails: 0 };
      logAt0[n.esxi.target] = agentLog(n).length;
    }
    while (Date.now() - t0 < WINDOW_MS) {
      for (const n of l.nodes) {
        const st = status(n);
        const s = seen[n.esxi.target]!;
        if (st.blind !== undefined) s.blind.add(st.blind);
        if (st.fetch !== undefined) s.fetch.add(st.fetch);
        s.maxFetchFails = Math.max(s.maxFetchFails, Number(st.fetch_fails ?? 0));
      }
      await sleep(1_000);
    }
    t1 = Date.now();
    await l.healLinks();
    phase('healed');
    console.log(`loss lab phases: ${phases.join(', ')}`);
  }, WINDOW_MS + 180_000);

  test('5 % loss on every link for 3 minutes: no route change, never blind', () => {
    const l = agentLab.lab;
    for (const n of l.nodes.slice(1)) {
      const inWindow = nfsRouteAdds(l, n, t0).filter((c) => c.t <= t1);
      expect({ host: n.esxi.target, adds: inWindow.map((c) => c.via) }).toEqual({ host: n.esxi.target, adds: [] });
      expect(agentRouteAudit(l, n, t0)).toEqual([]);
      expect(routeVia(n)).toBe(n.scvm.storageIp);
      expect([...(seen[n.esxi.target]?.blind ?? [])]).toEqual(['0']);
      expect(agentLog(n).slice(logAt0[n.esxi.target])).not.toMatch(/route 33\.2: /);
    }
  });

  test('30 % loss on the local SCVM storage link: at most one failover, no more than 2 route changes in 3 minutes', () => {
    const l = agentLab.lab;
    const n = l.nodes[0]!;
    const adds = nfsRouteAdds(l, n, t0).filter((c) => c.t <= t1);
    const failovers = adds.filter((c) => c.via !== n.scvm.storageIp);
    expect(adds.length).toBeLessThanOrEqual(2);
    expect(failovers.length).toBeLessThanOrEqual(1);
    expect([...(seen[n.esxi.target]?.blind ?? [])]).toEqual(['0']);
  });
});
