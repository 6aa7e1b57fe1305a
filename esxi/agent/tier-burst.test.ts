/**
 * The agent's tier bursts (issue 14), run for real: the shipped script's functions loaded with
 * REROUTE_LIB=1 under a POSIX sh, probes by the ping test double (test-shims/ping: an address in
 * "$FAKE/down" never answers and is killed by the agent's watchdog). The lab proves the same agent
 * under load: test/agent/agent-zones.test.ts, agent-rdma-esxi67.test.ts, agent.test.ts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const LOOP = path.join(__dirname, 'reroute-loop.sh');
const SHIMS = path.join(__dirname, 'test-shims');
const SH = spawnSync('dash', ['-c', 'exit 0']).status === 0 ? 'dash' : 'sh';

const peers = (n: number, base = 1): string[] => Array.from({ length: n }, (_, i) => `10.20.1.${base + i}`);

interface Run {
  status: number | null;
  vars: Record<string, string>;
  pinged: string[];
}

/** Loads the agent, runs SCRIPT, prints the named variables; DOWN never answer a ping. */
function agent(script: string, down: string[], print: string[]): Run {
  const fake = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-burst-'));
  try {
    fs.writeFileSync(path.join(fake, 'down'), down.map((d) => `${d}\n`).join(''));
    const body = [
      `REROUTE_LIB=1 . ${LOOP}`,
      'conf_defaults',
      'PING_TIMEOUT=1 PING_COUNT=1 PING_ROUNDS=1 NOW=1000 RND=42',
      script,
      ...print.map((v) => `echo "VAR ${v}=$${v}"`),
    ].join('\n');
    const r = spawnSync(SH, ['-c', body], {
      env: { PATH: `${SHIMS}:${process.env.PATH ?? ''}`, FAKE: fake, CONF_FILE: '/nonexistent' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const vars: Record<string, string> = {};
    for (const l of r.stdout.split('\n')) {
      const m = /^VAR (\w+)=(.*)$/.exec(l);
      if (m) vars[m[1] as string] = (m[2] as string).trim();
    }
    const pf = path.join(fake, 'pings');
    const pinged = fs.existsSync(pf) ? fs.readFileSync(pf, 'utf8').split('\n').filter(Boolean) : [];
    return { status: r.status, vars, pinged };
  } finally {
    fs.rmSync(fake, { recursive: true, force: true });
  }
}

describe('tier bursts: a 64-node tier is probed a few peers at a time', () => {
  test('63 peers, half dead: a live peer is picked after one or two bursts, not 63 probes', () => {
    const all = peers(63);
    const dead = all.filter((_, i) => i % 2 === 0);
    const r = agent(`pick_up "${all.join(' ')}"; echo "VAR RC=$?"`, dead, ['PICK', 'BURST_N']);
    expect(r.vars.RC).toBe('0');
    expect(all).toContain(r.vars.PICK);
    expect(dead).not.toContain(r.vars.PICK);
    expect(Number(r.vars.BURST_N)).toBeLessThanOrEqual(2);
    expect(r.pinged.length).toBeLessThanOrEqual(16);
  });

  test('one live peer among 20 is still found: the tier is worked through before it fails', () => {
    const all = peers(20);
    const live = all[19] as string;
    const r = agent(`pick_up "${all.join(' ')}"; echo "VAR RC=$?"`, all.slice(0, 19), ['PICK', 'BURST_N']);
    expect(r.vars).toMatchObject({ RC: '0', PICK: live });
    expect(Number(r.vars.BURST_N)).toBeGreaterThanOrEqual(1);
    expect(Number(r.vars.BURST_N)).toBeLessThanOrEqual(3);
  });

  test('a tier with no live peer fails only after every peer was probed, and again the next time (backed off, never skipped)', () => {
    const all = peers(12);
    const r = agent(
      `pick_up "${all.join(' ')}"; echo "VAR RC1=$?"; PINGED=' '; UP=' '; NOW=1001; pick_up "${all.join(' ')}"; echo "VAR RC2=$?"`,
      all,
      ['BURST_N'],
    );
    expect(r.vars).toMatchObject({ RC1: '1', RC2: '1', BURST_N: '4' });
    expect([...r.pinged].sort()).toEqual([...all, ...all].sort());
  });

  test('a peer silent less than PEER_BACKOFF ago goes after the fresh ones; once the time is up it is fresh again', () => {
    const fresh = peers(8);
    const silent = '10.20.1.100';
    const list = [silent, ...fresh].join(' ');
    const r = agent(
      [
        `PEER_SILENT=" ${silent}=1030 "`,
        `pick_up "${list}"; echo "VAR PICK1=$PICK"`,
        `backed_off ${silent} && echo "VAR OFF1=yes"`,
        `NOW=1030; backed_off ${silent} || echo "VAR OFF2=no"`,
      ].join('\n'),
      [],
      ['BURST_N'],
    );
    expect(fresh).toContain(r.vars.PICK1);
    expect(r.pinged).not.toContain(silent);
    expect(r.vars).toMatchObject({ OFF1: 'yes', OFF2: 'no', BURST_N: '1' });
  });

  test('a silent peer is remembered by its whole address (10.20.1.1 is not 10.20.1.10) and forgotten once it answers', () => {
    const r = agent(
      [
        "PEER_SILENT=' '",
        'pick_burst "10.20.1.1 10.20.1.10"',
        'echo "VAR S1=$PEER_SILENT"',
        'backed_off 10.20.1.10 && echo "VAR B10=yes"',
        'backed_off 10.20.1.1 || echo "VAR B1=no"',
        "PINGED=' '; UP=' '; pick_burst \"10.20.1.10 10.20.1.2\"",
        'echo "VAR S2=$PEER_SILENT"',
      ].join('\n'),
      ['10.20.1.10'],
      [],
    );
    expect(r.vars.S1).toBe('10.20.1.10=1030');
    expect(r.vars).toMatchObject({ B10: 'yes', B1: 'no' });
    // Pinged again in a later iteration: still silent, one entry with the new time, no duplicate.
    expect(r.vars.S2).toBe('10.20.1.10=1030');
  });

  test('a silent gateway: the first tier burst rides along with the confirming round, and the pick then costs no new probe', () => {
    const all = peers(20);
    // 4 dead of 20: any 8 of them hold a live one.
    const dead = all.slice(0, 4);
    const local = '10.20.0.1';
    const r = agent(
      [
        `PING_ROUNDS=2 LOCAL_STORAGE_IP=${local} CUR=${local} CUR_GW=${local} LOCAL_MGMT_IP=''`,
        `PEER_STORAGE_IPS="${all.join(' ')}" META_STORAGE="${all.join(' ')}"`,
        'ping_targets',
        'cp "$FAKE/pings" "$FAKE/pings.targets"',
        'echo "VAR PRE=$PRE_GWS"',
        `pick_up "${all.join(' ')}"; echo "VAR RC=$?"`,
      ].join('\n'),
      [local, ...dead],
      ['PICK', 'BURST_N'],
    );
    const pre = (r.vars.PRE ?? '').split(' ').filter(Boolean);
    expect(pre).toHaveLength(8);
    expect(pre.every((p) => all.includes(p))).toBe(true);
    // The local access twice (round 1 and the confirming round); the 8 peers once, in round 2.
    expect(r.pinged.filter((p) => p === local)).toHaveLength(2);
    expect(r.vars.RC).toBe('0');
    expect(dead).not.toContain(r.vars.PICK);
    // A live peer was in the pre-burst: the pick pings nobody new.
    expect(pre).toContain(r.vars.PICK);
    expect(r.pinged).toHaveLength(2 + 8);
    expect(r.vars.BURST_N).toBe('1');
  });

  test('failed over to a live peer with the local access still silent: no pre-burst (no move is due)', () => {
    const all = peers(20);
    const local = '10.20.0.1';
    const cur = all[3] as string;
    const r = agent(
      [
        `PING_ROUNDS=2 LOCAL_STORAGE_IP=${local} CUR=${cur} CUR_GW=${cur} LOCAL_MGMT_IP=''`,
        `PEER_STORAGE_IPS="${all.join(' ')}" META_STORAGE="${all.join(' ')}"`,
        'ping_targets',
        'echo "VAR PRE=$PRE_GWS"',
      ].join('\n'),
      [local],
      [],
    );
    expect(r.vars.PRE).toBe('');
    expect([...r.pinged].sort()).toEqual([cur, local, local].sort());
  });

  test('shuffle keeps every word, and an awk that fails leaves the list in its own order', () => {
    const words = peers(30);
    const ok = agent(`shuffle "${words.join(' ')}"; echo "VAR OUT=$SHUFFLED"`, [], []);
    expect((ok.vars.OUT ?? '').split(' ').sort()).toEqual([...words].sort());
    expect(ok.vars.OUT).not.toBe(words.join(' '));
    const broken = agent(`awk() { return 1; }; shuffle "${words.join(' ')}"; echo "VAR OUT=$SHUFFLED"`, [], []);
    expect(broken.vars.OUT).toBe(words.join(' '));
  });
});
