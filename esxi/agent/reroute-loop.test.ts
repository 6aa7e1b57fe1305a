/**
 * The agent's decisions, run for real (the shipped script under a POSIX sh) against test doubles
 * of ESXi's tools (test-shims/: esxcfg-route/esxcli backed by a file, ping/wget/ssh answering from
 * files, ESXi-style `ps -c`). No network, no root. Real-network behaviour (busybox ash, kernel
 * routes, IO gaps) is proven in the lab: test/agent/*.test.ts.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const LOOP = path.join(__dirname, 'reroute-loop.sh');
const SHIMS = path.join(__dirname, 'test-shims');
// The doubles are found through PATH; busybox ash would run its own ping/wget/ps applets instead.
const SH = spawnSync('dash', ['-c', 'exit 0']).status === 0 ? 'dash' : 'sh';

const LOCAL = '10.20.0.101';
const LOCAL_MGMT = '10.10.0.101';
const PEERS = ['10.20.0.102', '10.20.0.103'];
const PEER_MGMT = ['10.10.0.102', '10.10.0.103'];
const NFS = '192.168.33.2/32';
// RDMA clusters: each SCVM also has an access IP that the ESXi routes 33.2 through.
const LOCAL_ACCESS = '10.20.0.201';
const PEER_ACCESS = ['10.20.0.202', '10.20.0.203'];
const ACCESS_CONF = { LOCAL_ACCESS_IP: LOCAL_ACCESS, PEER_ACCESS_IPS: PEER_ACCESS.join(' ') };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** spawnSync without blocking the event loop: the other concurrent tests keep polling on time. */
function run(
  cmd: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; input?: string; timeout: number },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: opts.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeout);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    if (opts.input !== undefined && p.stdin) {
      p.stdin.on('error', () => undefined); // a script that exits early closes its stdin: not our failure
      p.stdin.end(opts.input);
    }
  });
}

function sessionsJson(pairs: [string, string][]): string {
  const data = pairs.map(([ip, sec], i) => ({
    session_id: `s-${i}`,
    ip,
    port: 10201,
    cid: i + 1,
    secondary_data_ip: sec,
    zone: 'default',
    machine_uuid: `m-${i}`,
  }));
  return JSON.stringify({ ec: 'EOK', data });
}

function sessionsTable(pairs: [string, string][]): string {
  const rows = pairs.map(([ip, sec], i) => `s-${i}  ${ip}  10201  ${i + 1}  ${sec}  default  m-${i}`);
  return ['UUID  Ip  Port  Cid  Secondary_data_ip  Zone  Machine UUID', '----  --  ----  ---  -----  ----  -----', ...rows, ''].join('\n');
}

const ALL: [string, string][] = [
  [LOCAL, LOCAL_MGMT],
  [PEERS[0] as string, PEER_MGMT[0] as string],
  [PEERS[1] as string, PEER_MGMT[1] as string],
];

const hosts: FakeEsxi[] = [];

class FakeEsxi {
  readonly root: string;
  readonly fake: string;
  readonly inst: string;
  readonly run: string;
  readonly bin: string;
  readonly logFile: string;
  proc: ChildProcess | undefined;
  exitCode: number | null | undefined;

  constructor(conf: Record<string, string> = {}, opts: { noEsxcfgRoute?: boolean } = {}) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'zra-agent-'));
    this.fake = path.join(this.root, 'fake');
    this.inst = path.join(this.root, 'inst');
    this.run = path.join(this.root, 'run');
    this.bin = path.join(this.root, 'bin');
    this.logFile = path.join(this.root, 'scvm_failure.log');
    for (const d of [this.fake, this.inst, this.bin]) fs.mkdirSync(d);
    for (const f of fs.readdirSync(SHIMS)) {
      if (opts.noEsxcfgRoute && f === 'esxcfg-route') continue;
      fs.copyFileSync(path.join(SHIMS, f), path.join(this.bin, f));
      fs.chmodSync(path.join(this.bin, f), 0o755);
    }
    fs.copyFileSync(LOOP, path.join(this.inst, 'reroute-loop.sh'));
    this.writeConf(conf);
    this.sessions(ALL);
    fs.writeFileSync(path.join(this.fake, 'routes'), '');
    hosts.push(this);
  }

  writeConf(over: Record<string, string>): void {
    const conf: Record<string, string> = {
      NODE_NAME: 'esxi-1',
      NFS_ADDRESS: '192.168.33.2',
      LOCAL_STORAGE_IP: LOCAL,
      LOCAL_MGMT_IP: LOCAL_MGMT,
      PEER_STORAGE_IPS: PEERS.join(' '),
      PEER_MGMT_IPS: PEER_MGMT.join(' '),
      INTERVAL: '1',
      FAILBACK_DELAY: '3',
      PING_TIMEOUT: '1',
      FALLBACK_ORDER: 'local-storage remote-storage remote-management',
      SESSION_SOURCE: 'rest',
      REST_PORT: '80',
      REST_PATH: '/api/v2/zbs_session/session',
      SSH_USER: 'smartx',
      SSH_KEY: path.join(this.inst, 'keys/reroute_id_rsa'),
      SSH_KNOWN_HOSTS: path.join(this.inst, 'keys/known_hosts'),
      RUN_DIR: this.run,
      LOG_FILE: this.logFile,
      LOG_MAX_BYTES: '262144',
      PIN_FILE: path.join(this.inst, 'pin'),
      FETCH_TIMEOUT: '1',
      ...over,
    };
    const text = Object.entries(conf)
      .map(([k, v]) => `${k}='${v}'`)
      .join('\n');
    fs.writeFileSync(path.join(this.inst, 'reroute.conf'), `${text}\n`, { mode: 0o600 });
  }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, FAKE: this.fake, PATH: `${this.bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  }

  start(): ChildProcess {
    const p = spawn(SH, [path.join(this.inst, 'reroute-loop.sh')], { env: this.env(), detached: true, stdio: 'ignore' });
    this.proc = p;
    this.exitCode = undefined;
    p.on('exit', (code) => {
      this.exitCode = code;
    });
    return p;
  }

  /** Run one more copy (as cron would) and report how it ended. */
  async startAnother(): Promise<{ code: number | null; ms: number }> {
    const t0 = Date.now();
    const p = spawn(SH, [path.join(this.inst, 'reroute-loop.sh')], { env: this.env(), detached: true, stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        try {
          process.kill(-(p.pid as number), 'SIGKILL');
        } catch {
          /* already gone */
        }
        resolve(-1);
      }, 5000);
      p.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    return { code, ms: Date.now() - t0 };
  }

  set(name: string, lines: string[]): void {
    fs.writeFileSync(path.join(this.fake, name), lines.length ? `${lines.join('\n')}\n` : '');
  }

  sessions(pairs: [string, string][], table = false): void {
    fs.writeFileSync(path.join(this.fake, 'sessions.json'), sessionsJson(pairs));
    fs.writeFileSync(path.join(this.fake, 'sessions.txt'), sessionsTable(pairs));
    if (table) fs.writeFileSync(path.join(this.fake, 'sessions.json'), 'garbage');
  }

  setRoute(gw: string | null): void {
    fs.writeFileSync(path.join(this.fake, 'routes'), gw ? `${NFS} ${gw}\n` : '');
  }

  route(): string {
    const line = fs
      .readFileSync(path.join(this.fake, 'routes'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${NFS} `));
    return line ? (line.split(' ')[1] as string) : '';
  }

  /** esxcfg-route/esxcli calls that changed something. */
  changes(): string[] {
    const f = path.join(this.fake, 'calls');
    if (!fs.existsSync(f)) return [];
    return fs
      .readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => / -a | -d | add | remove /.test(l));
  }

  status(): Record<string, string> {
    const f = path.join(this.run, 'status');
    if (!fs.existsSync(f)) return {};
    const out: Record<string, string> = {};
    for (const l of fs.readFileSync(f, 'utf8').split('\n')) {
      const i = l.indexOf('=');
      if (i > 0) out[l.slice(0, i)] = l.slice(i + 1);
    }
    return out;
  }

  log(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
  }

  async until(what: string, pred: () => boolean, timeoutMs = 15000): Promise<number> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (pred()) return Date.now() - t0;
      await sleep(100);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}\nroute=${this.route()}\nlog:\n${this.log()}`);
  }

  async steady(): Promise<void> {
    await this.until('route via local', () => this.route() === LOCAL && this.status().target === LOCAL);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || this.exitCode !== undefined) return;
    p.kill('SIGTERM');
    await this.until('loop exit after SIGTERM', () => this.exitCode !== undefined, 5000);
  }

  destroy(): void {
    if (this.proc?.pid && this.exitCode === undefined) {
      try {
        process.kill(-this.proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // maxRetries: a child killed with the loop can still be finishing a write into run/.
    fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

afterAll(async () => {
  for (const h of hosts) await h.stop().catch(() => undefined);
  for (const h of hosts) h.destroy();
});

jest.setTimeout(90000);

describe('reroute-loop.sh against ESXi test doubles', () => {
  test.concurrent('routes a fresh host to its local SCVM and writes the heartbeat', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    const st = h.status();
    expect(st).toMatchObject({ version: '1.0.0', target: LOCAL, target_kind: 'local', fetch: 'ok' });
    expect(Number(st.pid)).toBe(h.proc?.pid);
    expect(Number(st.fetch_ms)).toBeGreaterThanOrEqual(0);
    expect(Number(st.updated)).toBeGreaterThanOrEqual(Number(st.since));
    expect(h.changes()).toHaveLength(1);
    expect(h.log()).toMatch(/route 33.2: none -> 10.20.0.101 \(local\)/);
    await h.stop();
  });

  test.concurrent('is a singleton: a second copy exits at once and leaves the first alone', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    const second = await h.startAnother();
    expect(second.code).toBe(0);
    expect(second.ms).toBeLessThan(3000);
    expect(h.exitCode).toBeUndefined();
    expect(fs.readFileSync(path.join(h.run, 'lock/pid'), 'utf8').trim()).toBe(String(h.proc?.pid));
    await h.stop();
  });

  test.concurrent('takes over a stale lock: dead pid, and a live pid that is not the loop', async () => {
    const h = new FakeEsxi();
    fs.mkdirSync(path.join(h.run, 'lock'), { recursive: true });
    fs.writeFileSync(path.join(h.run, 'lock/pid'), '999999\n');
    h.start();
    await h.steady();
    expect(h.log()).toMatch(/took over stale lock \(pid 999999 is gone\)/);
    await h.stop();
    expect(fs.existsSync(path.join(h.run, 'lock'))).toBe(false);

    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      fs.mkdirSync(path.join(h.run, 'lock'));
      fs.writeFileSync(path.join(h.run, 'lock/pid'), `${other.pid}\n`);
      h.start();
      await h.until('takeover from a non-loop pid', () => /is not reroute-loop.sh/.test(h.log()));
      expect(h.exitCode).toBeUndefined();
      await h.stop();
    } finally {
      other.kill('SIGKILL');
    }
  });

  test.concurrent('takes over a lock without a pid file (owner died between mkdir and writing it)', async () => {
    const h = new FakeEsxi();
    fs.mkdirSync(path.join(h.run, 'lock'), { recursive: true });
    h.start();
    await h.steady();
    expect(h.log()).toMatch(/took over stale lock \(no pid\)/);
    await h.stop();
  });

  test.concurrent('replaces a hung loop whose heartbeat went silent', async () => {
    const h = new FakeEsxi({ HUNG_AFTER: '2' });
    h.start();
    await h.steady();
    const hung = h.proc as ChildProcess;
    hung.kill('SIGSTOP');
    await sleep(3500);
    const next = h.start();
    await h.until('the new loop heartbeat', () => h.status().pid === String(next.pid), 15000);
    expect(h.log()).toMatch(new RegExp(`loop pid ${hung.pid} silent for \\d+s \\(hung\\); killing it`));
    expect(hung.signalCode ?? hung.exitCode).not.toBeNull();
    await h.stop();
  });

  test.concurrent('puts back a route that someone removed (drift check)', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    h.setRoute(null);
    await h.until('route restored', () => h.route() === LOCAL, 20000);
    expect(h.log()).toMatch(/route drift: 33.2 route is via nothing, expected 10.20.0.101/);
    await h.stop();
  });

  test.concurrent('adopts a healthy route on start: no route change at all', async () => {
    const h = new FakeEsxi();
    h.setRoute(LOCAL);
    h.start();
    await h.until('heartbeat', () => h.status().target === LOCAL);
    await sleep(3000);
    expect(h.changes()).toEqual([]);
    expect(h.status().target_kind).toBe('local');
    // The first route found this boot is a decision (adopt at start), not a route change.
    const adopted = h.status();
    expect(adopted).toMatchObject({ last_decision: 'adopt', last_reason: 'start', route_changes: '0', failovers: '0' });
    await h.stop();
    // SIGTERM leaves the route and releases the lock.
    expect(h.route()).toBe(LOCAL);
    expect(fs.existsSync(path.join(h.run, 'lock'))).toBe(false);
    expect(h.log()).toMatch(/SIGTERM: exiting; route left via 10.20.0.101 \(local\)/);
    // And a restart (cron after kill or upgrade) again changes nothing, and finds the route the
    // last loop left: no new decision.
    const first = h.proc?.pid;
    h.start();
    await h.until('the new loop heartbeat', () => h.status().pid !== String(first));
    await sleep(2500);
    expect(h.changes()).toEqual([]);
    expect(h.status().last_decision_at).toBe(adopted.last_decision_at);
    await h.stop();
  });

  test.concurrent('adopting a remote route keeps it until local has been healthy for the failback delay', async () => {
    const h = new FakeEsxi();
    h.setRoute(PEERS[1] as string);
    h.start();
    const t0 = Date.now();
    await h.until('adopted remote', () => h.status().target_kind === 'remote-storage');
    await h.until('failback to local', () => h.route() === LOCAL, 10000);
    const ms = Date.now() - t0;
    // "Healthy since" is a whole-second stamp (`date +%s`), so the 3 s delay can end up to 1 s
    // early on the wall clock (a clean-clone unit run measured 2559 ms); never on the first round.
    expect(ms).toBeGreaterThanOrEqual(3000 - 1000);
    expect(ms).toBeLessThan(10000);
    expect(h.changes()).toHaveLength(2); // -d remote, -a local
    await h.stop();
  });

  test.concurrent('fails over when the local access stops answering ping, fails back after the delay', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    h.set('down', [LOCAL]);
    const failoverMs = await h.until('failover', () => PEERS.includes(h.route()), 20000);
    // INTERVAL + 3 rounds x PING_TIMEOUT is 4 s here; the bound itself is proven in the lab and the
    // benchmark, this box is shared with other test runs, so only a loose ceiling here.
    expect(failoverMs).toBeLessThan(12000);
    await h.until('heartbeat says remote', () => h.status().target_kind === 'remote-storage', 5000);
    const [del, add] = h.changes().slice(-2);
    expect(del).toMatch(/esxcfg-route -d 192.168.33.2\/32 10.20.0.101/);
    expect(add).toMatch(/esxcfg-route -a 192.168.33.2\/32 10.20.0.10[23]/);
    await sleep(1500);
    h.set('down', []);
    const back = await h.until('failback', () => h.route() === LOCAL, 12000);
    // The agent stamps "healthy since" with whole seconds taken at the start of the round whose ping
    // first succeeds, which can be up to one second (truncation) plus one round before this test
    // cleared the fault; what must hold is that it did not fail back on the first healthy round.
    expect(back).toBeGreaterThanOrEqual(3000 - 2000);
    expect(back).toBeLessThan(3000 + 6000);
    expect(h.log()).toMatch(/local access 10.20.0.101 does not answer ping/);
    await h.stop();
  });

  test.concurrent('counts failovers and failbacks with decision and reason; a loop killed and restarted continues the counts', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    expect(h.status()).toMatchObject({ route_changes: '1', failovers: '0', last_decision: 'switch', last_reason: 'no-route' });
    h.set('down', [LOCAL]);
    await h.until('failover counted', () => h.status().failovers === '1', 20000);
    const st = h.status();
    expect(st).toMatchObject({ route_changes: '2', failbacks: '0', last_decision: 'failover', last_reason: 'local-ping' });
    expect(Number(st.last_decision_at)).toBeGreaterThanOrEqual(Number(st.since));
    expect(h.log()).toMatch(
      /route 33.2: 10.20.0.101 -> 10.20.0.10[23] \(remote-storage\) \(old gateway does not answer ping\) \[decision=failover reason=local-ping\]$/m,
    );
    // kill -9, then cron: the new loop reads the counts back from the status file.
    const old = h.proc?.pid as number;
    process.kill(old, 'SIGKILL');
    await h.until('killed', () => h.exitCode !== undefined, 5000);
    h.start();
    await h.until('the new loop heartbeat', () => h.status().pid === String(h.proc?.pid), 15000);
    expect(h.status()).toMatchObject({ failovers: '1', route_changes: '2', last_decision: 'failover', last_reason: 'local-ping' });
    h.set('down', []);
    await h.until('failback counted', () => h.status().failbacks === '1', 20000);
    expect(h.status()).toMatchObject({
      failovers: '1',
      route_changes: '3',
      last_decision: 'failback',
      last_reason: 'failback-delay-passed',
    });
    await h.stop();
  });

  test.concurrent('counters read back at start: whole numbers continue, anything else starts at 0', async () => {
    const h = new FakeEsxi();
    h.setRoute(LOCAL);
    fs.mkdirSync(h.run);
    const prev = ['version=1.0.0', 'pid=999999', `target=${LOCAL}`, 'target_kind=local', 'since=100', 'updated=100'];
    const lines = (l: string[]): string => `${[...prev, ...l].join('\n')}\n`;
    fs.writeFileSync(
      path.join(h.run, 'status'),
      lines([
        'failovers=08',
        'failbacks=5',
        'route_changes=$(reboot)',
        'fetch_failures=7',
        'blind_iterations=',
        'last_decision=failover failback',
        'last_reason=pin',
        'last_decision_at=90',
      ]),
    );
    h.start();
    await h.until('heartbeat', () => h.status().pid === String(h.proc?.pid));
    expect(h.status()).toMatchObject({ failovers: '0', failbacks: '5', route_changes: '0', fetch_failures: '7', blind_iterations: '0' });
    expect(h.status().last_decision).toBe('');
    await h.stop();
    fs.writeFileSync(
      path.join(h.run, 'status'),
      lines(['last_decision=failback', 'last_reason=failback-delay-passed', 'last_decision_at=90']),
    );
    h.start();
    await h.until('heartbeat', () => h.status().pid === String(h.proc?.pid));
    expect(h.status()).toMatchObject({ last_decision: 'failback', last_reason: 'failback-delay-passed', last_decision_at: '90' });
    await h.stop();
  });

  test.concurrent('treats an access missing from the meta session list as down even if it pings', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    h.sessions(ALL.slice(1));
    await h.until('failover', () => PEERS.includes(h.route()), 10000);
    expect(h.log()).toMatch(/not in the meta session list/);
    await h.until('the route change logged', () => /route 33.2: 10.20.0.101 ->/.test(h.log()), 5000);
    expect(h.log()).toMatch(/route 33.2: 10.20.0.101 -> 10.20.0.10[23] \(remote-storage\) \[decision=failover reason=local-unlisted\]/);
    await h.stop();
  });

  test.concurrent('falls back to a management IP when no storage address answers, and recovers', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    h.set('down', [LOCAL, ...PEERS]);
    await h.until('management fallback', () => PEER_MGMT.includes(h.route()), 10000);
    // The heartbeat is written at the end of the iteration that moved the route.
    await h.until('heartbeat says management', () => h.status().target_kind === 'remote-management', 5000);
    h.set('down', []);
    // A storage path beats management at once; local comes back after the failback delay.
    await h.until('back to storage', () => h.route() === LOCAL || PEERS.includes(h.route()), 10000);
    await h.until('back to local', () => h.route() === LOCAL, 10000);
    await h.stop();
  });

  test.concurrent(
    'blind: without any session list the route is kept and the heartbeat and log say so; a dead local access still moves IO, to a configured peer',
    async () => {
      const h = new FakeEsxi({ BLIND_AFTER: '3' });
      h.start();
      await h.steady();
      h.set('meta-down', [LOCAL, LOCAL_MGMT, ...PEERS, ...PEER_MGMT]);
      await h.until('blind', () => h.status().blind === '1', 20000);
      expect(Number(h.status().fetch_fails)).toBeGreaterThanOrEqual(3);
      expect(h.status().fetch).toBe('fail');
      expect(Number(h.status().fetch_failures)).toBeGreaterThanOrEqual(3);
      expect(Number(h.status().blind_iterations)).toBeGreaterThanOrEqual(1);
      expect(h.route()).toBe(LOCAL);
      expect(h.changes()).toHaveLength(1);
      expect(h.log().match(/blind: no session list for 3 iterations/g)).toHaveLength(1);
      // The local SCVM dies during the meta outage: ping alone decides, among the last list's SCVMs.
      h.set('down', [LOCAL]);
      await h.until('failover while blind', () => PEERS.includes(h.route()), 20000);
      h.set('meta-down', []);
      await h.until('sight back', () => h.status().blind === '0' && /sight back: session list from/.test(h.log()), 20000);
      await h.stop();
    },
  );

  test.concurrent('blind with no list at all (meta out since start): the configured SCVMs are the candidates, nothing else', async () => {
    const h = new FakeEsxi({ BLIND_AFTER: '2' });
    h.set('meta-down', [LOCAL, LOCAL_MGMT, ...PEERS, ...PEER_MGMT]);
    h.start();
    // Never routeless: a host that has no 33.2 route gets the local one even without meta.
    await h.until('local route without meta', () => h.route() === LOCAL, 20000);
    await h.until('blind', () => h.status().blind === '1', 20000);
    expect(h.log()).toMatch(/no session list younger than 600s: choosing by ping among the configured SCVMs/);
    h.set('down', [LOCAL, PEERS[0] as string]);
    await h.until('failover by ping', () => h.route() === PEERS[1], 20000);
    await h.stop();
  });

  test.concurrent('one lost round of pings, or one session list without the local access, moves nothing', async () => {
    const h = new FakeEsxi({ FAILBACK_DELAY: '30' });
    h.start();
    await h.steady();
    // Six probes to the local access lost: the whole first round and half of the second.
    const drops = path.join(h.fake, `drop.${LOCAL}`);
    for (let i = 1; i <= 6; i++) fs.mkdirSync(path.join(drops, String(i)), { recursive: true });
    await h.until('drops used', () => fs.readdirSync(drops).length === 0, 20000);
    // One sample of the session list without the local access.
    fs.writeFileSync(path.join(h.fake, 'sessions.next'), sessionsJson(ALL.slice(1)));
    await h.until('odd sample served', () => !fs.existsSync(path.join(h.fake, 'sessions.next')), 20000);
    await sleep(2500);
    expect(h.route()).toBe(LOCAL);
    expect(h.changes()).toHaveLength(1);
    expect(h.log()).not.toMatch(/local access 10.20.0.101 (does not answer|is not in)/);
    await h.stop();
  });

  test.concurrent('a session list over SESSION_MAX_BYTES is refused, the loop goes on, and no fetch child is left', async () => {
    const h = new FakeEsxi({ SESSION_MAX_BYTES: '65536', BLIND_AFTER: '2' });
    h.start();
    await h.steady();
    const huge = JSON.stringify({ ec: 'EOK', data: Array.from({ length: 4000 }, (_, i) => ({ ip: LOCAL, pad: 'x'.repeat(40), i })) });
    fs.writeFileSync(path.join(h.fake, 'sessions.json'), huge);
    await h.until('refused', () => /answered more than 65536 bytes \(refused\)/.test(h.log()), 20000);
    const u1 = Number(h.status().updated);
    await sleep(2500);
    expect(Number(h.status().updated)).toBeGreaterThan(u1);
    expect(h.route()).toBe(LOCAL);
    await h.stop();
    await sleep(500);
    const left = spawnSync('ps', ['-eo', 'args='])
      .stdout.toString()
      .split('\n')
      .filter((l) => l.includes(h.fake) || l.includes(h.bin));
    expect(left).toEqual([]);
  });

  test.concurrent('a hung meta costs one fetch timeout, then another SCVM answers', async () => {
    const h = new FakeEsxi();
    h.set('meta-hung', [LOCAL, LOCAL_MGMT]);
    h.start();
    await h.steady();
    const st = h.status();
    expect(st.fetch).toBe('ok');
    expect([...PEERS, ...PEER_MGMT]).toContain(st.fetch_from);
    await h.stop();
  });

  test.concurrent('a pin moves IO to a healthy target and holds; removing it returns to local at once', async () => {
    // A long failback delay, so "at once" cannot be confused with "after the delay" on a busy box.
    const h = new FakeEsxi({ FAILBACK_DELAY: '30' });
    h.start();
    await h.steady();
    fs.writeFileSync(path.join(h.inst, 'pin'), `${PEERS[0]}\n`);
    await h.until('pinned', () => h.route() === PEERS[0] && h.status().target_kind === 'pin', 10000);
    await sleep(2000);
    expect(h.route()).toBe(PEERS[0]);
    fs.unlinkSync(path.join(h.inst, 'pin'));
    const ms = await h.until('unpinned', () => h.route() === LOCAL, 10000);
    expect(ms).toBeLessThan(10000); // no failback delay (30 s): local never failed
    await h.stop();
  });

  test.concurrent(
    'drain holds: an unhealthy drain target sends IO to another remote, never back to the SCVM under maintenance while one answers',
    async () => {
      const h = new FakeEsxi();
      h.start();
      await h.steady();
      fs.writeFileSync(path.join(h.inst, 'pin'), `${PEERS[0]}\n`);
      await h.until('drained', () => h.route() === PEERS[0], 10000);
      h.set('down', [PEERS[0] as string]);
      await h.until('to the third SCVM', () => h.route() === PEERS[1], 20000);
      expect(h.log()).toMatch(/drain: pin 10.20.0.102 unhealthy; choosing another remote, not the SCVM under maintenance/);
      await sleep(2000);
      expect(h.route()).toBe(PEERS[1]);
      // Nothing else answers: back to the SCVM under maintenance, and the log says so.
      h.set('down', [PEERS[0] as string, PEERS[1] as string, ...PEER_MGMT]);
      await h.until('last resort', () => h.route() === LOCAL, 20000);
      expect(h.log()).toMatch(/drain: nothing else answers; back to the SCVM under maintenance \(10.20.0.101\)/);
      await h.stop();
    },
  );

  test.concurrent('zones: IO fails over within its own zone while a same-zone SCVM answers, then to the other zone', async () => {
    const h = new FakeEsxi({ ZONE_PEER_STORAGE_IPS: PEERS[1] as string, FAILBACK_DELAY: '2' });
    h.start();
    await h.steady();
    for (let i = 0; i < 3; i++) {
      h.set('down', [LOCAL]);
      await h.until(`in-zone failover ${i}`, () => h.route() !== LOCAL && h.route() !== '', 20000);
      expect(h.route()).toBe(PEERS[1]);
      h.set('down', []);
      await h.until(`failback ${i}`, () => h.route() === LOCAL, 20000);
    }
    h.set('down', [LOCAL, PEERS[1] as string]);
    await h.until('other zone', () => h.route() === PEERS[0], 20000);
    await h.stop();
  });

  test.concurrent('shadow mode decides and logs but never moves a route; going active adopts the route with no change', async () => {
    const h = new FakeEsxi({ MODE: 'shadow' });
    h.setRoute(LOCAL);
    h.start();
    await h.until('heartbeat', () => h.status().mode === 'shadow');
    h.set('down', [LOCAL]);
    await h.until('would fail over', () => PEERS.includes(h.status().shadow_target ?? ''), 20000);
    const st = h.status();
    expect(st.target).toBe(LOCAL);
    expect(st.disagree).toBe('1');
    expect(Number(st.disagree_since)).toBeGreaterThan(0);
    expect(st.shadow_changes).toBe('1');
    expect(h.log()).toMatch(/shadow: would route 33.2 10.20.0.101 -> 10.20.0.10[23] \(remote-storage\); the route is via 10.20.0.101/);
    h.set('down', []);
    await h.until('agrees again', () => h.status().shadow_target === LOCAL && h.status().disagree === '0', 20000);
    expect(h.changes()).toEqual([]);
    h.writeConf({ MODE: 'active' });
    await h.until('active', () => h.status().mode === 'active', 10000);
    await sleep(2000);
    expect(h.changes()).toEqual([]);
    expect(h.log()).toMatch(/mode active: the agent now moves routes; adopted the route via 10.20.0.101 \(local\)/);
    await h.stop();
  });

  test.concurrent('an alive line at rest, at most every ALIVE_EVERY seconds', async () => {
    const h = new FakeEsxi({ ALIVE_EVERY: '2' });
    h.start();
    await h.steady();
    await h.until('alive line', () => /alive: route via 10.20.0.101 \(local\) since \d+, fetch ok, list age \d+s/.test(h.log()), 10000);
    await h.stop();
  });

  test.concurrent('the switch is one unit: killing the loop between delete and add still leaves the new route', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    fs.writeFileSync(path.join(h.fake, 'route-delay'), '2\n');
    h.set('down', [LOCAL]);
    await h.until('delete done', () => h.changes().some((c) => / -d /.test(c)) && h.route() === '', 20000);
    process.kill(h.proc?.pid as number, 'SIGKILL');
    await h.until('route added by the unit after the loop died', () => PEERS.includes(h.route()), 10000);
  });

  test.concurrent(
    'the switch is one unit: a hung delete is killed at ROUTE_TIMEOUT and the add still runs, so a route always exists',
    async () => {
      const h = new FakeEsxi({ ROUTE_TIMEOUT: '1' });
      h.start();
      await h.steady();
      fs.writeFileSync(path.join(h.fake, 'delete-hangs'), '');
      h.set('down', [LOCAL]);
      const t0 = Date.now();
      let empty = 0;
      while (Date.now() - t0 < 30000 && !/route change .* failed/.test(h.log())) {
        if (h.route() === '') empty++;
        await sleep(50);
      }
      // The delete never happened: the add found the old route and failed; the old route stays.
      expect(empty).toBe(0);
      expect(h.changes().some((c) => / -a 192.168.33.2\/32 10.20.0.10[23]/.test(c))).toBe(true);
      expect(h.log()).toMatch(/route change 10.20.0.101 -> 10.20.0.10[23] failed \(now via 10.20.0.101\)/);
      await h.stop();
    },
  );

  test.concurrent('exits by itself when the script on disk is upgraded, leaving the route', async () => {
    const h = new FakeEsxi();
    h.start();
    await h.steady();
    const f = path.join(h.inst, 'reroute-loop.sh');
    const next = fs.readFileSync(f, 'utf8').replace(/^reroute_version=.*$/m, 'reroute_version=1.0.1');
    fs.writeFileSync(`${f}.new`, next);
    fs.renameSync(`${f}.new`, f);
    await h.until('old loop exits', () => h.exitCode !== undefined, 10000);
    expect(h.exitCode).toBe(0);
    expect(h.route()).toBe(LOCAL);
    expect(fs.existsSync(path.join(h.run, 'lock'))).toBe(false);
    h.start(); // cron
    await h.until('new version heartbeat', () => h.status().version === '1.0.1', 10000);
    expect(h.changes()).toHaveLength(1);
    await h.stop();
  });

  test.concurrent('reads sessions over ssh with a pinned host key and BatchMode', async () => {
    const h = new FakeEsxi({ SESSION_SOURCE: 'ssh' });
    h.sessions(ALL, true);
    h.start();
    await h.steady();
    const args = fs.readFileSync(path.join(h.fake, 'ssh-args'), 'utf8').split('\n')[0] as string;
    expect(args).toContain('-o BatchMode=yes');
    expect(args).toContain('-o StrictHostKeyChecking=yes');
    expect(args).toMatch(/-o UserKnownHostsFile=\S+known_hosts/);
    expect(args).toMatch(/smartx@10\.10\.0\.101 zbs-meta session list$/); // the local SCVM, management address first
    h.sessions(ALL.slice(1), true);
    await h.until('failover from the ssh session list', () => PEERS.includes(h.route()), 10000);
    await h.stop();
  });

  test.concurrent('uses esxcli when esxcfg-route is missing', async () => {
    const h = new FakeEsxi({}, { noEsxcfgRoute: true });
    h.setRoute(PEERS[0] as string);
    h.start();
    await h.until('failback via esxcli', () => h.route() === LOCAL, 10000);
    expect(h.changes().join('\n')).toMatch(/esxcli network ip route ipv4 remove -n 192.168.33.2\/32 -g 10.20.0.102/);
    expect(h.changes().join('\n')).toMatch(/esxcli network ip route ipv4 add -n 192.168.33.2\/32 -g 10.20.0.101/);
    await h.stop();
  });

  test.concurrent('caps the log with one rotation', async () => {
    const h = new FakeEsxi({ LOG_MAX_BYTES: '250' });
    h.start();
    await h.steady();
    const pin = path.join(h.inst, 'pin');
    for (let i = 0; i < 3; i++) {
      fs.writeFileSync(pin, `${PEERS[0]}\n`);
      await h.until('pinned', () => h.route() === PEERS[0], 10000);
      fs.unlinkSync(pin);
      await h.until('unpinned', () => h.route() === LOCAL, 10000);
    }
    expect(fs.existsSync(`${h.logFile}.1`)).toBe(true);
    expect(fs.statSync(h.logFile).size).toBeLessThan(250 + 200);
    expect(fs.statSync(`${h.logFile}.1`).size).toBeLessThan(250 + 200);
    await h.stop();
  });

  test.concurrent('RDMA: adopts 33.2 via the local access IP with no route change, and pings that address', async () => {
    const h = new FakeEsxi(ACCESS_CONF);
    h.setRoute(LOCAL_ACCESS);
    h.start();
    await h.until('heartbeat', () => h.status().target === LOCAL_ACCESS && h.status().target_kind === 'local');
    await sleep(2500);
    expect(h.changes()).toEqual([]);
    expect(h.route()).toBe(LOCAL_ACCESS);
    const pinged = fs.readFileSync(path.join(h.fake, 'pings'), 'utf8').split('\n');
    expect(pinged).toContain(LOCAL_ACCESS);
    expect(pinged).not.toContain(LOCAL); // the session list names the storage IP; health is the routed address
    await h.stop();
    expect(h.log()).toMatch(/start v.*found route via 10\.20\.0\.201 \(local\)/);
  });

  test.concurrent("RDMA: fails over via a peer's access IP and fails back via the local one", async () => {
    const h = new FakeEsxi(ACCESS_CONF);
    h.setRoute(LOCAL_ACCESS);
    h.start();
    await h.until('heartbeat', () => h.status().target === LOCAL_ACCESS);
    h.set('down', [LOCAL_ACCESS]);
    await h.until('failover via a peer access IP', () => PEER_ACCESS.includes(h.route()), 10000);
    await h.until(
      'heartbeat names the gateway',
      () => PEER_ACCESS.includes(h.status().target ?? '') && h.status().target_kind === 'remote-storage',
      5000,
    );
    expect(h.log()).toMatch(/route 33\.2: 10\.20\.0\.201 -> 10\.20\.0\.20[23] \(remote-storage\) via access IP of 10\.20\.0\.10[23]/);
    h.set('down', []);
    await h.until('failback via the local access IP', () => h.route() === LOCAL_ACCESS, 12000);
    expect(h.changes()).toHaveLength(4);
    await h.stop();
  });

  test.concurrent('RDMA: a route via the storage IP of an SCVM that has an access IP is moved to the access IP', async () => {
    const h = new FakeEsxi(ACCESS_CONF);
    h.setRoute(LOCAL);
    h.start();
    await h.until('moved to the access IP', () => h.route() === LOCAL_ACCESS, 10000);
    await h.until(
      'heartbeat says local via the access IP',
      () => h.status().target === LOCAL_ACCESS && h.status().target_kind === 'local',
      5000,
    );
    await h.stop();
  });

  test.concurrent('refuses PEER_ACCESS_IPS that do not line up with PEER_STORAGE_IPS', async () => {
    const h = new FakeEsxi({ ...ACCESS_CONF, PEER_ACCESS_IPS: '10.20.0.202' });
    const r = await run(SH, [path.join(h.inst, 'reroute-loop.sh')], { env: h.env(), timeout: 10000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/PEER_ACCESS_IPS has fewer entries than PEER_STORAGE_IPS/);
    expect(h.changes()).toEqual([]);
  });

  test.concurrent('--fetch-once prints the listed sessions and touches no route, lock, heartbeat or log', async () => {
    const h = new FakeEsxi();
    h.set('down', [LOCAL_MGMT]);
    const r = await run(SH, [path.join(h.inst, 'reroute-loop.sh'), '--fetch-once', path.join(h.inst, 'reroute.conf')], {
      env: h.env(),
      timeout: 15000,
    });
    expect(r.stdout).toBe(`session ${LOCAL}\nsession ${PEERS[0]}\nsession ${PEERS[1]}\nfetch ok\n`);
    expect(r.status).toBe(0);
    expect(fs.existsSync(h.run)).toBe(false);
    expect(fs.existsSync(h.logFile)).toBe(false);
    expect(h.changes()).toEqual([]);
    expect(fs.existsSync(path.join(h.fake, 'calls'))).toBe(false); // not even a route read
  });

  test.concurrent('--fetch-once reads a pretty-printed session list (awk only, no tr)', async () => {
    const h = new FakeEsxi();
    const pretty = JSON.stringify(JSON.parse(sessionsJson(ALL)), null, 2);
    fs.writeFileSync(path.join(h.fake, 'sessions.json'), pretty);
    const r = await run(SH, [path.join(h.inst, 'reroute-loop.sh'), '--fetch-once', path.join(h.inst, 'reroute.conf')], {
      env: h.env(),
      timeout: 15000,
    });
    expect(r.stdout.split('\n').filter((l) => l.startsWith('session '))).toHaveLength(3);
    expect(r.status).toBe(0);
  });

  test.concurrent('--fetch-once with the keys prepended on stdin and CONF /dev/null; fails with a reason and exit 3', async () => {
    const h = new FakeEsxi();
    h.set('meta-down', [LOCAL, LOCAL_MGMT, ...PEERS, ...PEER_MGMT]);
    const keys = fs.readFileSync(path.join(h.inst, 'reroute.conf'), 'utf8');
    const input = keys + fs.readFileSync(LOOP, 'utf8');
    const r = await run(SH, ['-s', '--', '--fetch-once', '/dev/null'], { env: h.env(), input, timeout: 15000 });
    expect(r.stdout).toMatch(/^fetch fail 10\.10\.0\.101 no answer \(rc 1\), 10\.20\.0\.101 no answer \(rc 1\), \S+ no answer \(rc 1\)\n$/);
    expect(r.status).toBe(3);
    fs.writeFileSync(path.join(h.fake, 'meta-down'), '');
    const ok = await run(SH, ['-s', '--', '--fetch-once', '/dev/null'], { env: h.env(), input, timeout: 15000 });
    expect(ok.stdout).toMatch(/fetch ok\n$/);
    expect(ok.status).toBe(0);
    const bad = await run(SH, [LOOP, '--fetch-once', path.join(h.root, 'nope.conf')], { env: h.env(), timeout: 15000 });
    expect(bad.stdout).toMatch(/^fetch fail config error: cannot read/);
    expect(bad.status).toBe(3);
  });

  test.concurrent('refuses to run on a broken config, touching nothing', async () => {
    const h = new FakeEsxi({ INTERVAL: 'soon' });
    h.setRoute(PEERS[0] as string);
    const r = await h.startAnother();
    expect(r.code).toBe(1);
    expect(h.changes()).toEqual([]);
  });
});
