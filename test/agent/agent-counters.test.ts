/**
 * The heartbeat's counters and last decision (issue 16) on a 3-node lab, agent on node-1 only:
 * a fresh host starts at 0; a storage fault on scvm-1 is one failover (reason local-ping), which the
 * heartbeat and the route line's `[decision=… reason=…]` say; the loop is killed -9 while failed
 * over and cron's new loop carries on counting from the status file (same boot); the heal is one
 * failback after the delay. INTERVAL=1 s, FAILBACK_DELAY=6 s, PING_TIMEOUT=1 s.
 */
import type { LabNode } from '../../lab/lab';
import { agentLog, installAgent, routeVia, settledLoopPids, status, until, type AgentTiming } from './agent-lab';
import { describeLab } from '../support/describe-lab';
import { useAgentLab } from './use-agent-lab';

jest.setTimeout(300_000);

const T: AgentTiming = { interval: 1, failbackDelay: 6, pingTimeout: 1 };
/** Cron starts the next loop within its minute; the rest is slack for a loaded 2-core machine. */
const CRON_RESTART_MS = 60_000 + 30_000;

const COUNTERS = ['failovers', 'failbacks', 'route_changes', 'last_decision', 'last_reason', 'last_decision_at'] as const;
const counters = (st: Record<string, string>): Record<string, string | undefined> => Object.fromEntries(COUNTERS.map((k) => [k, st[k]]));

const node = (i: number): LabNode => agentLab.node(i);
const peersStorage = (n: LabNode): string[] => agentLab.peersStorage(n);

const agentLab = useAgentLab('tcount', { lab: { nodes: 3 } });

describeLab('agent heartbeat counters (issue 16)', () => {
  beforeAll(async () => {
    await installAgent(agentLab.lab, node(1), agentLab.key, T, 'rest');
  }, 150_000);

  test('a failover and a failback are counted with decision and reason; a loop killed and restarted by cron keeps counting', async () => {
    const l = agentLab.lab;
    const n = node(1);
    const local = n.scvm.storageIp;
    const why = (): string => `\nroute via ${routeVia(n)}; heartbeat ${JSON.stringify(status(n))}\nagent log:\n${agentLog(n)}`;

    // A fresh lab host has no 33.2 route: the agent's first decision adds it, from counters at 0.
    const fresh = await until('the agent routed via its own SCVM', 60_000, () => {
      const st = status(n);
      return routeVia(n) === local && st.target === local && st.target_kind === 'local' ? st : undefined;
    });
    expect(counters(fresh)).toMatchObject({
      failovers: '0',
      failbacks: '0',
      route_changes: '1',
      last_decision: 'switch',
      last_reason: 'no-route',
    });
    expect(fresh.fetch_failures).toMatch(/^\d+$/);
    expect(fresh.blind_iterations).toBe('0');

    // Failover: the local SCVM's storage link goes down (the session list still lists it: ping decides).
    const faultAt = Math.floor(Date.now() / 1000);
    await l.fault('storage-down', n.scvm.target);
    const over = await until('the failover in the heartbeat', 60_000, () => {
      const st = status(n);
      return st.failovers === '1' && peersStorage(n).includes(routeVia(n)) ? st : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}${why()}`);
    });
    expect(counters(over)).toMatchObject({
      failovers: '1',
      failbacks: '0',
      route_changes: '2',
      last_decision: 'failover',
      last_reason: 'local-ping',
    });
    expect(over.target_kind).toBe('remote-storage');
    expect(Number(over.last_decision_at)).toBeGreaterThanOrEqual(faultAt);
    expect(agentLog(n)).toMatch(
      new RegExp(
        `route 33\\.2: ${local.replace(/\./g, '\\.')} -> ${over.target?.replace(/\./g, '\\.')} \\(remote-storage\\).* \\[decision=failover reason=local-ping\\]$`,
        'm',
      ),
    );

    // kill -9 while failed over; cron's next loop reads the counters back from the status file.
    const oldPid = over.pid as string;
    const killedAt = Date.now();
    await l.execOk(n.esxi.target, `kill -9 ${oldPid}`);
    const restarted = await until(
      'a new loop started by cron',
      CRON_RESTART_MS,
      () => {
        const st = status(n);
        return st.pid && st.pid !== oldPid && Number(st.updated) * 1000 >= killedAt ? st : undefined;
      },
      250,
    ).catch((e: Error) => {
      throw new Error(`${e.message}${why()}`);
    });
    expect(restarted.target).toBe(over.target);
    expect(counters(restarted)).toEqual(counters(over));
    expect(await settledLoopPids(n)).toHaveLength(1);

    // Failback after the delay: counted on top of what the previous loop counted.
    const healAt = Date.now();
    await l.heal('storage-down', n.scvm.target);
    const back = await until('the failback in the heartbeat', 60_000, () => {
      const st = status(n);
      return st.failbacks === '1' && routeVia(n) === local ? st : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}${why()}`);
    });
    expect(Date.now() - healAt).toBeGreaterThanOrEqual((T.failbackDelay - T.interval) * 1000);
    expect(counters(back)).toMatchObject({
      failovers: '1',
      failbacks: '1',
      route_changes: '3',
      last_decision: 'failback',
      last_reason: 'failback-delay-passed',
    });
    expect(back.target_kind).toBe('local');
    expect(agentLog(n)).toMatch(/\(local\) \[decision=failback reason=failback-delay-passed\]$/m);
  });
});
