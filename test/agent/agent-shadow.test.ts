/**
 * Shadow mode (issue 12): agents with MODE='shadow' on a 3-node lab decide as usual and never touch
 * a route. A storage fault on scvm-1: node-1's agent says in its heartbeat and log which failover it
 * would have made (and that the real route disagrees); then, once healed, the failback it would make.
 * INTERVAL=1 s, FAILBACK_DELAY=4 s, PING_TIMEOUT=1 s.
 */
import type { LabNode } from '../../lab/lab';
import { agentLog, installAgent, routeVia, sleep, status, until, type AgentTiming } from './agent-lab';
import { agentRouteAudit, nfsRouteChanges } from './agent-lab-probes';
import { describeLab } from '../support/describe-lab';
import { useAgentLab } from './use-agent-lab';

jest.setTimeout(240_000);

const T: AgentTiming = { interval: 1, failbackDelay: 4, pingTimeout: 1 };

let installedAt = 0;
const steady: Record<string, string>[] = [];

const node = (i: number): LabNode => agentLab.node(i);
const peersStorage = (n: LabNode): string[] => agentLab.peersStorage(n);

const agentLab = useAgentLab('tshadow', { lab: { nodes: 3 } });

describeLab('agent in shadow mode (issue 12)', () => {
  beforeAll(async () => {
    const l = agentLab.lab;
    // A cluster in service already routes 33.2 (SmartX deploy, a legacy agent); a fresh lab does not,
    // and a shadow agent never adds it.
    await Promise.all(l.nodes.map((n) => l.execOk(n.esxi.target, `esxcfg-route -a 192.168.33.2/32 ${n.scvm.storageIp}`)));
    installedAt = Date.now();
    await Promise.all(l.nodes.map((n) => installAgent(l, n, agentLab.key, T, 'rest', { MODE: 'shadow' })));
    await until('every shadow agent settled on its own SCVM', 60_000, () =>
      l.nodes.every((n) => status(n).shadow_target === n.scvm.storageIp),
    );
    await sleep(2_000);
    for (const n of l.nodes) steady.push(status(n));
  }, 120_000);

  test('at rest: mode shadow, the agent agrees with the real route', () => {
    expect(steady).toHaveLength(3);
    for (const [i, st] of steady.entries()) {
      const n = node(i + 1);
      expect(st).toMatchObject({
        mode: 'shadow',
        target: n.scvm.storageIp,
        shadow_target: n.scvm.storageIp,
        shadow_changes: '0',
        disagree: '0',
        disagree_since: '',
      });
    }
  });

  test('storage fault: shows the failover it would make, never makes it; then the failback', async () => {
    const l = agentLab.lab;
    const n = node(1);
    const t0 = Date.now();
    await l.fault('storage-down', n.scvm.target);
    let during: Record<string, string>;
    try {
      during = await until('disagree=1 on esxi-1', 30_000, () => (status(n).disagree === '1' ? status(n) : undefined), 100);
      console.log(`shadow failover shown after ${Date.now() - t0} ms`);
      await sleep(2_000);
    } finally {
      await l.heal('storage-down', n.scvm.target);
    }
    expect(peersStorage(n)).toContain(during.shadow_target);
    expect(during).toMatchObject({
      mode: 'shadow',
      target: n.scvm.storageIp,
      target_kind: 'local',
      shadow_kind: 'remote-storage',
      shadow_changes: '1',
    });
    // Stamped with the start of the iteration that saw it (whole seconds), which may precede the fault.
    expect(Number(during.disagree_since)).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) - T.interval - 1);
    expect(routeVia(n)).toBe(n.scvm.storageIp);
    expect(agentLog(n)).toContain(`shadow: would route 33.2 ${n.scvm.storageIp} -> ${during.shadow_target} (remote-storage)`);

    const back = await until(
      'shadow failback after the delay',
      30_000,
      () => (status(n).shadow_target === n.scvm.storageIp ? status(n) : undefined),
      100,
    );
    expect(back).toMatchObject({ disagree: '0', disagree_since: '', shadow_changes: '2', target: n.scvm.storageIp });
    expect(agentLog(n)).toMatch(
      new RegExp(
        `shadow: would route 33\\.2 ${during.shadow_target?.replace(/\./g, '\\.')} -> ${n.scvm.storageIp.replace(/\./g, '\\.')} \\(local\\)`,
      ),
    );
  });

  test('no shadow agent changed a route', () => {
    const l = agentLab.lab;
    for (const n of l.nodes) {
      expect(nfsRouteChanges(l, n, installedAt)).toEqual([]);
      expect(agentRouteAudit(l, n, installedAt - 1_000)).toEqual([]);
      expect(agentLog(n)).not.toMatch(/route 33\.2: /);
      expect(status(n).shadow_changes).toBe(n.index === 1 ? '2' : '0');
    }
  });
});
