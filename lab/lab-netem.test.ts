/**
 * Link faults (lab/lab-netem.ts), each proven by what pings see, not by the
 * lab's bookkeeping: loss and delay in both directions of one link, a
 * partition that cuts two hosts apart on every path (gatewayed NFS and the
 * private link included), a flapping link, heal, the CLI across processes,
 * and nothing left running after heal or `down`.
 */
import * as path from 'node:path';
import { Lab } from './lab';
import { delayProgram, lossProgram, partitionProgram } from './link-bpf';
import { alive, run, runOk, sleep, type RunResult } from './proc';
import { readRegistry, repoRoot } from './registry';
import { describeLab } from '../test/support/describe-lab';

jest.setTimeout(90_000);

const NAME = `n${process.pid % 100000}-netem`;

interface Ping {
  sent: number;
  received: number;
  lossPct: number;
  min: number;
  avg: number;
  max: number;
}

/** busybox ping's summary: "100 packets transmitted, 91 packets received, 9% packet loss" + round-trip line. */
function parsePing(out: string): Ping {
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(out);
  const rtt = /min\/avg\/max = ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(out);
  if (!m) throw new Error(`no ping summary in: ${out}`);
  const sent = Number(m[1]);
  const received = Number(m[2]);
  return {
    sent,
    received,
    lossPct: (100 * (sent - received)) / sent,
    min: Number(rtt?.[1] ?? NaN),
    avg: Number(rtt?.[2] ?? NaN),
    max: Number(rtt?.[3] ?? NaN),
  };
}

describe('link fault programs (classic BPF for tc bytecode)', () => {
  test('loss matches unmarked frames whose random draw is below PCT % of 2^32; 100 % skips the draw', () => {
    // ld mark; jeq 0x5a11 -> pass; ld rand; jge 30 % of 2^32 -> pass; match; pass.
    expect(lossProgram(30)).toBe('6,32 0 0 4294963220,21 3 0 23057,32 0 0 4294963256,53 1 0 1288490189,6 0 0 4294967295,6 0 0 0');
    expect(lossProgram(100)).toBe('4,32 0 0 4294963220,21 1 0 23057,6 0 0 4294967295,6 0 0 0');
    expect(delayProgram()).toBe('4,32 0 0 4294963220,21 1 0 23057,6 0 0 4294967295,6 0 0 0');
  });

  test('partition matches a peer MAC (bytes 2-5), an IPv4 source or an ARP sender', () => {
    const prog = partitionProgram([0x56600100], [0x0a140066]).split(',');
    expect(prog[0]).toBe(String(prog.length - 1));
    expect(prog.slice(1, 3)).toEqual(['32 0 0 8', `21 ${prog.length - 1 - 3} 0 ${0x56600100}`]);
    expect(prog).toContain('32 0 0 26');
    expect(prog).toContain('32 0 0 28');
    expect(prog.filter((i) => i.endsWith(` ${0x0a140066}`))).toHaveLength(2);
    expect(prog[prog.length - 1]).toBe('6 0 0 4294967295');
  });
});

describeLab('lab link faults', () => {
  let lab: Lab;

  const ping = async (from: string, ip: string, count: number, intervalS = 0.02): Promise<Ping> =>
    parsePing((await lab.exec(from, `ping -c ${count} -i ${intervalS} -W 2 -q ${ip}`, { timeoutMs: 30_000 })).stdout);
  const reaches = async (from: string, ip: string): Promise<boolean> => (await lab.exec(from, `ping -c 3 -i 0.2 -W 2 -q ${ip}`)).code === 0;
  /** Probes in parallel (each failing one waits its timeout): { 'esxi-1>10.20.0.102': false, ... }. */
  const reachMap = async (pairs: [string, string][]): Promise<Record<string, boolean>> =>
    Object.fromEntries(await Promise.all(pairs.map(async ([from, ip]) => [`${from}>${ip}`, await reaches(from, ip)] as const)));
  const switchPort = async (dev: string): Promise<string> =>
    /state (\w+)/.exec(await runOk('ip', ['-n', lab.switchNs, '-o', 'link', 'show', dev]))?.[1] ?? '?';

  beforeAll(async () => {
    lab = await Lab.start({ nodes: 2, name: NAME, services: false, replaceStale: true });
    // Neighbours resolved before any fault: a lost ARP exchange would stall pings for a second.
    for (const ip of ['10.20.0.101', '10.10.0.101', '10.20.0.102', '10.10.0.102', '10.20.0.12'])
      await lab.execOk('esxi-1', `ping -c 1 -W 2 ${ip}`);
    await lab.execOk('scvm-2', 'ping -c 1 -W 2 10.20.0.11');
  }, 120_000);

  afterAll(async () => {
    if (Lab.list().includes(NAME)) await Lab.down(NAME);
  });

  test('loss: 30 % on each direction of scvm-1:storage loses about half the pings over it (0.7 * 0.7 answered), none over mgmt', async () => {
    await lab.linkFault('scvm-1:storage', { loss: 30 });
    const p = await ping('esxi-1', '10.20.0.101', 200);
    // Expected 51 % (a round trip crosses the link twice); generous bounds for 200 samples.
    expect(p.lossPct).toBeGreaterThan(30);
    expect(p.lossPct).toBeLessThan(72);
    expect((await ping('esxi-1', '10.10.0.101', 20)).lossPct).toBe(0);
    expect(lab.status().links).toEqual([expect.objectContaining({ link: 'scvm-1:storage', loss: 30 })]);
  });

  test('delay replaces the loss: each direction +40 ms, so the round trip grows by about 80 ms; jitter spreads it', async () => {
    const base = await ping('esxi-1', '10.20.0.102', 10, 0.05);
    await lab.linkFault('scvm-1:storage', { delayMs: 40 });
    const slow = await ping('esxi-1', '10.20.0.101', 20, 0.05);
    expect(slow.received).toBe(20);
    expect(slow.min).toBeGreaterThanOrEqual(78);
    expect(slow.avg).toBeLessThan(base.avg + 80 + 60);
    // Other links keep their speed.
    expect((await ping('esxi-1', '10.20.0.102', 10, 0.05)).avg).toBeLessThan(40);

    await lab.linkFault('scvm-1:storage', { delayMs: 40, jitterMs: 20 });
    const jittery = await ping('esxi-1', '10.20.0.101', 30, 0.05);
    expect(jittery.received).toBe(30);
    expect(jittery.max - jittery.min).toBeGreaterThan(10);
    expect(jittery.min).toBeGreaterThanOrEqual(38);
    expect(lab.status().links).toEqual([expect.objectContaining({ link: 'scvm-1:storage', delayMs: 40, jitterMs: 20 })]);
    expect(lab.status().links[0]).not.toHaveProperty('loss');
  });

  test('partition: esxi-1 and scvm-2 cannot reach each other on any network, not even through a gateway route; others still can', async () => {
    await lab.healLinks('scvm-1:storage');
    await lab.partition('esxi-1', 'scvm-2');
    // NFS IO routed via scvm-2's storage IP is cut too.
    await lab.execOk('esxi-1', 'esxcfg-route -a 192.168.33.2/32 10.20.0.102');
    expect(
      await reachMap([
        ['esxi-1', '10.20.0.102'],
        ['esxi-1', '10.10.0.102'],
        ['scvm-2', '10.20.0.11'],
        ['scvm-2', '10.10.0.11'],
        ['esxi-1', '192.168.33.2'],
        ['esxi-1', '10.20.0.101'],
        ['esxi-1', '10.10.0.101'],
        ['esxi-2', '10.20.0.102'],
        ['esxi-1', '10.20.0.12'],
      ]),
    ).toEqual({
      'esxi-1>10.20.0.102': false,
      'esxi-1>10.10.0.102': false,
      'scvm-2>10.20.0.11': false,
      'scvm-2>10.10.0.11': false,
      'esxi-1>192.168.33.2': false,
      'esxi-1>10.20.0.101': true,
      'esxi-1>10.10.0.101': true,
      'esxi-2>10.20.0.102': true,
      'esxi-1>10.20.0.12': true,
    });
    await lab.execOk('esxi-1', 'esxcfg-route -d 192.168.33.2/32 10.20.0.102');

    // An ESXi cut off from its own SCVM: the private link goes too.
    await lab.partition('esxi-2', 'scvm-2');
    expect(
      await reachMap([
        ['esxi-2', '192.168.33.2'],
        ['esxi-2', '10.20.0.102'],
        ['esxi-2', '10.20.0.101'],
      ]),
    ).toEqual({
      'esxi-2>192.168.33.2': false,
      'esxi-2>10.20.0.102': false,
      'esxi-2>10.20.0.101': true,
    });
    expect(lab.status().partitions.map((p) => `${p.a}|${p.b}`)).toEqual(['esxi-1|scvm-2', 'esxi-2|scvm-2']);

    // Healing one host's link lifts that host's partitions only.
    await lab.healLinks('esxi-2:mgmt');
    expect(
      await reachMap([
        ['esxi-2', '192.168.33.2'],
        ['esxi-1', '10.20.0.102'],
      ]),
    ).toEqual({ 'esxi-2>192.168.33.2': true, 'esxi-1>10.20.0.102': false });
    await lab.healLinks();
    expect(
      await reachMap([
        ['esxi-1', '10.20.0.102'],
        ['scvm-2', '10.10.0.11'],
      ]),
    ).toEqual({ 'esxi-1>10.20.0.102': true, 'scvm-2>10.10.0.11': true });
  });

  test('flap: the switch port alternates down and up until healed; heal stops the flapper and leaves the port up', async () => {
    await lab.linkFlap('scvm-2:storage', 0.4, 0.4);
    const pid = readRegistry(NAME).pids['link-flap:scvm-2:storage'];
    expect(alive(pid)).toBe(true);
    const seen: string[] = [];
    for (let i = 0; i < 25; i++) {
      seen.push(await switchPort('s-s2'));
      await sleep(80);
    }
    const changes = seen.filter((s, i) => i > 0 && s !== seen[i - 1]).length;
    expect(seen).toContain('DOWN');
    expect(seen).toContain('UP');
    expect(changes).toBeGreaterThanOrEqual(2);
    expect(lab.status().links).toEqual([
      expect.objectContaining({ link: 'scvm-2:storage', flap: { downS: 0.4, upS: 0.4 }, flapping: true }),
    ]);

    await lab.healLinks('scvm-2:storage');
    expect(alive(pid)).toBe(false);
    for (let i = 0; i < 10; i++) {
      expect(await switchPort('s-s2')).toBe('UP');
      await sleep(100);
    }
    expect(await reaches('esxi-1', '10.20.0.102')).toBe(true);
    expect(lab.status().links).toEqual([]);
  });

  test('heal restores the links as they were: no tc state, no helper link, no helper process, full speed', async () => {
    await lab.linkFault('all', { loss: 5, delayMs: 10 });
    await lab.partition('esxi-2', 'scvm-1');
    await lab.healLinks();
    const reg = readRegistry(NAME);
    expect(Object.keys(reg.pids).filter((k) => k.startsWith('link-'))).toEqual([]);
    const ends: [string, string][] = [
      [lab.switchNs, 's-e1'],
      [lab.switchNs, 'm-s2'],
      [lab.nodes[0]!.esxi.ns, 'vmk1'],
      [lab.nodes[1]!.scvm.ns, 'eth0'],
      [lab.nodes[0]!.scvm.ns, 'eth2'],
    ];
    for (const [ns, dev] of ends) {
      expect(await runOk('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'show', 'dev', dev])).not.toMatch(/clsact|netem/);
      expect(await runOk('ip', ['-n', ns, '-o', 'link', 'show'])).not.toMatch(/lf-|lfd-|lfp-/);
    }
    const p = await ping('esxi-1', '10.20.0.102', 50);
    expect(p.lossPct).toBe(0);
    expect(p.avg).toBeLessThan(20);
    expect(lab.status()).toMatchObject({ links: [], partitions: [] });
  });

  test('bad input is refused with a fix', async () => {
    await expect(lab.linkFault('scvm-1:storage', { loss: 101 })).rejects.toThrow(/loss must be a number from 0 to 100/);
    await expect(lab.linkFault('scvm-1:storage', { delayMs: 10, jitterMs: 20 })).rejects.toThrow(/jitter must be/);
    await expect(lab.linkFault('scvm-1:disk', { loss: 1 })).rejects.toThrow(/unknown link "scvm-1:disk"/);
    await expect(lab.linkFault('esxi-3:storage', { loss: 1 })).rejects.toThrow(/not a host of lab/);
    await expect(lab.linkFlap('esxi-1:mgmt', 0, 1)).rejects.toThrow(/flap down time/);
    await expect(lab.partition('esxi-1', 'esxi-1')).rejects.toThrow(/from itself/);
    await expect(lab.partition('esxi-1', 'ctl')).rejects.toThrow(/not a host/);
    expect(lab.status().links).toEqual([]);
  });

  test('CLI: link commands across processes, shown by status, healed', async () => {
    const root = repoRoot();
    const cli = (...args: string[]): Promise<RunResult> =>
      run(process.execPath, ['-r', 'tsx/cjs', path.join(root, 'lab', 'cli.ts'), ...args, '--name', NAME], { cwd: root, timeoutMs: 60_000 });
    expect(await cli('link', 'loss', '20', 'esxi-2:mgmt')).toMatchObject({ code: 0, stdout: 'link esxi-2:mgmt: loss 20%\n' });
    expect((await cli('link', 'delay', '30', '5', 'scvm-1:mgmt')).code).toBe(0);
    expect((await cli('link', 'partition', 'esxi-1', 'scvm-2')).code).toBe(0);
    const line = (await cli('status')).stdout.split('\n').find((l) => l.startsWith('link faults: '));
    expect(line).toMatch(/^link faults: esxi-2:mgmt loss 20%, scvm-1:mgmt delay 30±5 ms, partition esxi-1\|scvm-2 \((bpf|netem)\)$/);
    // 30 ± 5 ms each way: at least 50 ms a round trip.
    expect((await ping('esxi-1', '10.10.0.101', 5, 0.1)).min).toBeGreaterThanOrEqual(49);
    const bad = await cli('link', 'loss', '30%', 'esxi-1:storage');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/loss must be a number, got "30%"\n {2}fix: /);
    expect((await cli('link', 'heal')).stdout).toBe('link faults all: healed\n');
    expect((await cli('status')).stdout).toContain('\nlink faults: none\n');
    expect(await reaches('esxi-1', '10.20.0.102')).toBe(true);
  });

  test('lab down leaves no relay or flapper running', async () => {
    await lab.healLinks();
    await lab.linkFault('esxi-1:storage', { delayMs: 5 });
    await lab.linkFlap('esxi-2:storage', 1, 1);
    const pids = Object.entries(readRegistry(NAME).pids)
      .filter(([k]) => k.startsWith('link-'))
      .map(([, p]) => p);
    expect(pids.length).toBe(3);
    expect(pids.every(alive)).toBe(true);
    await lab.stop();
    expect(pids.filter(alive)).toEqual([]);
  });
});
