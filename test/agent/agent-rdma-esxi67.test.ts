/**
 * The agent where real hosts differ from our first lab (issue 11):
 *  - RDMA clusters: every SCVM has an access IP and SmartX deploy leaves each ESXi with
 *    `192.168.33.2/32` and the SCVM storage IP /32 routed via it (lab option `rdma`). The agent
 *    must adopt that as the local steady state (0 route changes at install) and fail over via the
 *    peer's access IP.
 *  - ESXi 6.7's reduced busybox (lab option `esxiVersion: '6.7'`: no tr, pgrep, pidof, killall,
 *    flock, base64, id): the agent, the probe and host-ops must run there with no "not found".
 *  - SCVMs refuse root login: the ssh session source logs in as the operator user (smartx).
 * One 3-node lab: node-1 and node-2 read the session list over REST, node-3 over ssh.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabNode } from '../../lab/lab';
import { discoverCommand, parseDiscoverOutput, parseSessionList } from '../../src/discover/discover-parse';
import { accessIpOf } from '../../src/discover/pair-hosts';
import { AGENT_SRC, agentLog, installAgent, installDir, routeVia, SCVM_USER, sleep, status, until, type AgentTiming } from './agent-lab';
import { describeLab } from '../support/describe-lab';
import { useAgentLab } from './use-agent-lab';

jest.setTimeout(240_000);

const T: AgentTiming = { interval: 1, failbackDelay: 6, pingTimeout: 1 };

const PROBE_SRC = path.resolve(__dirname, '../../esxi/probe/probe.sh');
const HOST_OPS_SRC = path.resolve(__dirname, '../../esxi/apply/host-ops.sh');

let installedAt = 0;

const node = (i: number): LabNode => agentLab.node(i);
const access = (n: LabNode): string => {
  if (n.scvm.accessIp === undefined) throw new Error(`${n.name} has no access IP: the lab's rdma option did not take`);
  return n.scvm.accessIp;
};

const agentLab = useAgentLab('ag-rdma67', { lab: { nodes: 3, rdma: true, esxiVersion: '6.7' } });

describeLab('agent on an RDMA cluster and ESXi 6.7 busybox', () => {
  beforeAll(async () => {
    const l = agentLab.lab;
    installedAt = Date.now();
    await Promise.all(l.nodes.map((n) => installAgent(l, n, agentLab.key, T, n.index === 3 ? 'ssh' : 'rest')));
  });

  test('before install, SmartX deploy left 33.2 and the SCVM storage /32 via the access IP (the lab models it)', async () => {
    for (const n of agentLab.lab.nodes) {
      const routes = await agentLab.lab.execOk(n.esxi.target, 'esxcfg-route -l');
      expect(routes).toMatch(new RegExp(`192\\.168\\.33\\.2\\s+255\\.255\\.255\\.255\\s+${access(n).replace(/\./g, '\\.')}\\s`));
      expect(routes).toMatch(
        new RegExp(`${n.scvm.storageIp.replace(/\./g, '\\.')}\\s+255\\.255\\.255\\.255\\s+${access(n).replace(/\./g, '\\.')}\\s`),
      );
    }
  });

  test('install adopts 33.2 via the local access IP as local: 0 route changes, heartbeat local, every source works', async () => {
    const l = agentLab.lab;
    for (const n of l.nodes) {
      await until(`${n.esxi.target} heartbeat local via ${access(n)}`, 30_000, () => {
        const s = status(n);
        return s.target === access(n) && s.target_kind === 'local' && s.fetch === 'ok' ? true : undefined;
      });
    }
    await sleep(5 * T.interval * 1000);
    for (const n of l.nodes) {
      expect(routeVia(n)).toBe(access(n));
      expect(l.routeAudit(n.esxi.target, installedAt)).toEqual([]);
      expect(agentLog(n)).not.toMatch(/route 33\.2:/);
      expect(agentLog(n)).toMatch(new RegExp(`found route via ${access(n).replace(/\./g, '\\.')} \\(local\\)`));
      expect(status(n).source).toBe(n.index === 3 ? 'ssh' : 'rest');
    }
    // The ssh source logged in as the operator user (root login is refused on these SCVMs).
    expect(fs.readFileSync(path.join(node(3).esxi.datastorePath, 'zbs-reroute', 'reroute.conf'), 'utf8')).toContain(
      `SSH_USER='${SCVM_USER}'`,
    );
  });

  test("SCVM storage link down: IO fails over via a peer's access IP, and back via the local one", async () => {
    const l = agentLab.lab;
    const n = node(1);
    const peers = l.nodes.filter((m) => m !== n).map(access);
    await l.fault('storage-down', n.scvm.target);
    try {
      await until('failover via a peer access IP', 15_000, () => peers.includes(routeVia(n)) || undefined);
      await until(
        'heartbeat remote-storage via that access IP',
        10_000,
        () => (status(n).target === routeVia(n) && status(n).target_kind === 'remote-storage') || undefined,
      );
    } finally {
      await l.heal('storage-down', n.scvm.target);
    }
    await until('failback via the local access IP', 30_000, () => routeVia(n) === access(n) || undefined);
    expect(agentLog(n)).toMatch(
      new RegExp(`route 33\\.2: ${access(n).replace(/\./g, '\\.')} -> 10\\.20\\.0\\.15[23] \\(remote-storage\\) via access IP of`),
    );
    // The shims saw only the agent's own moves: delete + add out, delete + add back (the shim
    // writes its audit line after the kernel route, so wait for it).
    const moves = await until('4 audited route changes', 5_000, () => {
      const a = l.routeAudit(n.esxi.target, installedAt).map((e) => `${e.op} ${e.prefix} ${e.gateway}`);
      return a.length >= 4 ? a : undefined;
    });
    const via = moves[1]?.split(' ')[2] ?? '';
    expect(peers).toContain(via);
    expect(moves).toEqual([
      `del 192.168.33.2/32 ${access(n)}`,
      `add 192.168.33.2/32 ${via}`,
      `del 192.168.33.2/32 ${via}`,
      `add 192.168.33.2/32 ${access(n)}`,
    ]);
  });

  test("--fetch-once on the ESXi host itself lists this cluster's SCVMs (conf file, and keys prepended on stdin)", async () => {
    const l = agentLab.lab;
    const n = node(2);
    const dir = installDir(n);
    const want = `${l.nodes
      .map((m) => `session ${m.scvm.storageIp}`)
      .sort()
      .join('\n')}\nfetch ok`;
    const sorted = (out: string): string => {
      const lines = out.trim().split('\n');
      return [...lines.slice(0, -1).sort(), lines[lines.length - 1]].join('\n');
    };
    expect(sorted(await l.execOk(n.esxi.target, `/bin/sh ${dir}/reroute-loop.sh --fetch-once ${dir}/reroute.conf`))).toBe(want);
    const conf = fs.readFileSync(path.join(n.esxi.datastorePath, 'zbs-reroute', 'reroute.conf'), 'utf8');
    const viaStdin = await l.exec(n.esxi.target, '/bin/sh -s -- --fetch-once /dev/null', {
      input: conf + fs.readFileSync(AGENT_SRC, 'utf8'),
    });
    expect(viaStdin.code).toBe(0);
    expect(sorted(viaStdin.stdout)).toBe(want);
    // ssh source, as smartx, from node-3.
    const n3 = node(3);
    expect(
      sorted(await l.execOk(n3.esxi.target, `/bin/sh ${installDir(n3)}/reroute-loop.sh --fetch-once ${installDir(n3)}/reroute.conf`)),
    ).toBe(want);
  });

  test("discover's host command finds each SCVM's access IP in that host's routes", async () => {
    const l = agentLab.lab;
    for (const n of l.nodes) {
      const out = await l.execOk(
        n.esxi.target,
        discoverCommand({ nfsAddress: '192.168.33.2', restPort: 80, restPath: '/api/v2/zbs_session/session', dirName: 'zbs-reroute' }),
        { timeoutMs: 30_000 },
      );
      const facts = parseDiscoverOutput(n.esxi.mgmtIp, out);
      // The lab's meta does not answer on 192.168.33.2 (discover then uses --scvm): the SCVM list
      // is not what is under test here, the routes are.
      const sessions = facts.sessionsJson
        ? parseSessionList(facts.sessionsJson, n.esxi.target)
        : l.nodes.map((m) => ({ storageIp: m.scvm.storageIp, mgmtIp: m.scvm.mgmtIp }));
      const own = sessions.find((s) => s.storageIp === n.scvm.storageIp);
      expect(own).toBeDefined();
      expect(accessIpOf(facts, own!, sessions, '192.168.33.2')).toBe(access(n));
    }
  });

  test('on the 6.7 profile the agent, probe.sh and host-ops.sh run with no "not found"', async () => {
    const l = agentLab.lab;
    const n = node(2);
    // The profile really lacks what public sources say ESXi's busybox lacks.
    for (const cmd of ['tr', 'pgrep', 'base64']) {
      const r = await l.exec(n.esxi.target, `${cmd} --help </dev/null`);
      expect(`${r.stdout}${r.stderr}`).toMatch(/not found/);
    }
    for (const m of l.nodes) expect(agentLog(m)).not.toMatch(/not found/i);
    const dir = installDir(n);
    const probe = await l.exec(n.esxi.target, `/bin/sh -s -- ${dir} /var/run/zbs-reroute 192.168.33.2 ${n.scvm.storageIp} 2>&1`, {
      input: fs.readFileSync(PROBE_SRC, 'utf8'),
    });
    expect(probe.code).toBe(0);
    expect(probe.stdout).toMatch(/^@@zbs-reroute-probe v1\n/);
    expect(probe.stdout).toMatch(/@@end \d+\n?$/);
    expect(probe.stdout).not.toMatch(/not found/);
    const lib = fs.readFileSync(HOST_OPS_SRC, 'utf8');
    const ops = [
      `zr_sha ${dir}/reroute-loop.sh`,
      `zr_pids_matching ${dir}/reroute-loop.sh`,
      `zr_wait_heartbeat /var/run/zbs-reroute/status ${status(n).version} 10`,
      `zr_mkdir ${dir}/ag-tmp 0700 && zr_rmdir ${dir}/ag-tmp`,
    ];
    for (const op of ops) {
      const r = await l.exec(n.esxi.target, '/bin/sh -s 2>&1', { input: `${lib}\n${op}\n` });
      expect({ op, out: r.stdout, code: r.code }).toEqual({
        op,
        out: expect.not.stringMatching(/not found/) as unknown as string,
        code: 0,
      });
    }
  });
});
