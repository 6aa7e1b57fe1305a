/**
 * The services in real namespaces: one "esxi" namespace with a storage leg to each of two
 * "scvm" namespaces and a private 192.168.33.x link to the first, as in the lab. Builds and
 * removes its own `zrs-<pid>-*` namespaces; never touches the root namespace's addresses or routes.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { buildServices, type ServiceProgram } from './build-services';
import { ensureServiceBin } from './service-bin';
import { newScvmState, readClusterState, sessionListResponse, updateScvm, writeClusterState, type ClusterState } from './cluster-state';
import { summarizeHostLog, type HostIoSummary } from './io-summary';

const execFileP = promisify(execFile);

function canRun(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

const d = canRun() ? describe : describe.skip;

const ZBS_META = path.join(__dirname, 'zbs-meta');

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
}

/** Unref'd so a sleep losing a Promise.race does not hold jest open. */
async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms).unref());
}

/** Polls `fn` every 50 ms until it returns a non-undefined value or `ms` passes (then throws with the last seen state). */
async function waitFor<T>(what: string, ms: number, fn: () => T | undefined, describeLast: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}. ${describeLast()}`);
    await sleep(50);
  }
}

interface Started {
  name: string;
  child: ChildProcess;
  stderr: string;
  exited: Promise<number | null>;
}

/**
 * Both implementations pass the same checks: the TypeScript programs (the reference) and what
 * the lab runs per host (service-bin.ts: static C for nfs-sim and the IO probe, node for meta-sim).
 */
type Impl = 'typescript' | 'lab-native';

d.each<[Impl]>([['typescript'], ['lab-native']])('lab services in throwaway namespaces (%s)', (impl) => {
  const tag = `zrs-${process.pid}-${impl === 'typescript' ? 't' : 'n'}`;
  const NS = { esxi: `${tag}-e`, a: `${tag}-a`, b: `${tag}-b` };
  let dir = '';
  let clusterFile = '';
  let ioLog = '';
  let argv: Record<ServiceProgram, string[]>;
  const started: Started[] = [];
  const createdNs: string[] = [];

  async function start(name: string, ns: string, program: ServiceProgram, args: string[]): Promise<Started> {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv[program], ...args, '--max-lifetime-s', '120'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const s: Started = { name, child, stderr: '', exited: new Promise((r) => child.once('exit', (code) => r(code))) };
    started.push(s);
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (s.stderr += c));
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    await waitFor(
      `${name} READY`,
      20000,
      () => (out.includes('READY') ? true : child.exitCode !== null ? false : undefined),
      () => `stderr: ${s.stderr}`,
    ).then((ok) => {
      if (!ok) throw new Error(`${name} exited early: ${s.stderr}`);
    });
    return s;
  }

  async function httpGet(ns: string, url: string): Promise<{ status?: number; body?: string; error?: string }> {
    const script =
      "const h=require('http');const q=h.get(process.argv[1],{timeout:2000},r=>{let b='';r.on('data',c=>b+=c);" +
      "r.on('end',()=>process.stdout.write(JSON.stringify({status:r.statusCode,body:b})))});" +
      "q.on('timeout',()=>q.destroy(Object.assign(new Error('timeout'),{code:'ETIMEDOUT'})));" +
      "q.on('error',e=>process.stdout.write(JSON.stringify({error:e.code||e.message})));";
    const { stdout } = await execFileP('ip', ['netns', 'exec', ns, process.execPath, '-e', script, url], { timeout: 8000 });
    return JSON.parse(stdout) as { status?: number; body?: string; error?: string };
  }

  /** Repeats the GET (each is a fresh client process) until `done` accepts the answer, for up to 8 s. */
  async function getUntil(
    ns: string,
    url: string,
    done: (r: { status?: number; error?: string }) => boolean,
  ): Promise<{ status?: number; body?: string; error?: string }> {
    const end = Date.now() + 8000;
    for (;;) {
      const r = await httpGet(ns, url);
      if (done(r) || Date.now() > end) return r;
      await sleep(100);
    }
  }

  function summary(since?: number): HostIoSummary {
    return summarizeHostLog(ioLog, since);
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrs-services-'));
    if (impl === 'typescript') {
      const js = buildServices(path.join(dir, 'build'));
      argv = {
        'meta-sim': [process.execPath, js['meta-sim']],
        'nfs-sim': [process.execPath, js['nfs-sim']],
        'host-monitor': [process.execPath, js['host-monitor']],
      };
    } else {
      const bin = await ensureServiceBin(path.join(dir, 'cache'));
      argv = { 'meta-sim': [process.execPath, bin.metaSimJs], 'nfs-sim': [bin.nfsSim], 'host-monitor': [bin.ioProbe] };
    }
    clusterFile = path.join(dir, 'cluster.json');
    ioLog = path.join(dir, 'esxi-t.io.jsonl');
    const state: ClusterState = {
      version: 1,
      scvms: {
        'scvm-a': newScvmState('scvm-a', 1, '10.99.1.2', '10.99.9.2'),
        'scvm-b': newScvmState('scvm-b', 2, '10.99.2.2', '10.99.9.3'),
      },
    };
    writeClusterState(clusterFile, state);

    for (const ns of [NS.esxi, NS.a, NS.b]) {
      ip('netns', 'add', ns);
      createdNs.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // veths are created inside the namespaces, so not even a link name appears in the root namespace.
    ip('-n', NS.esxi, 'link', 'add', 'ea', 'type', 'veth', 'peer', 'name', 'ae', 'netns', NS.a);
    ip('-n', NS.esxi, 'link', 'add', 'eb', 'type', 'veth', 'peer', 'name', 'be', 'netns', NS.b);
    ip('-n', NS.esxi, 'link', 'add', 'ep', 'type', 'veth', 'peer', 'name', 'pe', 'netns', NS.a);
    const addr = (ns: string, dev: string, cidr: string) => ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
    addr(NS.esxi, 'ea', '10.99.1.1/24');
    addr(NS.a, 'ae', '10.99.1.2/24');
    addr(NS.esxi, 'eb', '10.99.2.1/24');
    addr(NS.b, 'be', '10.99.2.2/24');
    addr(NS.esxi, 'ep', '192.168.33.1/24');
    addr(NS.a, 'pe', '192.168.33.2/24');
    addr(NS.b, 'lo', '192.168.33.2/32'); // scvm-b's own private link is not modelled here
    addr(NS.a, 'lo', '10.99.9.2/32'); // stands in for scvm-a's management address
    for (const [ns, dev] of [
      [NS.esxi, 'ea'],
      [NS.esxi, 'eb'],
      [NS.esxi, 'ep'],
      [NS.a, 'ae'],
      [NS.a, 'pe'],
      [NS.b, 'be'],
    ] as const)
      ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', NS.esxi, 'route', 'add', '10.99.9.2/32', 'via', '10.99.1.2');
    ip('-n', NS.esxi, 'route', 'add', '192.168.33.2/32', 'via', '10.99.1.2');

    await Promise.all([
      start('meta-sim a', NS.a, 'meta-sim', [
        '--listen',
        '10.99.1.2,10.99.9.2',
        '--port',
        '80',
        '--cluster-file',
        clusterFile,
        '--self',
        'scvm-a',
      ]),
      start('nfs-sim a', NS.a, 'nfs-sim', ['--node', 'scvm-a']),
      start('nfs-sim b', NS.b, 'nfs-sim', ['--node', 'scvm-b']),
      start('host-monitor', NS.esxi, 'host-monitor', ['--host', 'esxi-t', '--out', ioLog]),
    ]);
  }, 60000);

  afterAll(async () => {
    for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
    await Promise.race([Promise.all(started.map((s) => s.exited)), sleep(3000)]);
    // Anything still inside (a wedged service, a grandchild like `ip monitor`) dies before its namespace goes.
    for (const ns of createdNs) {
      let pids: string[];
      try {
        pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 })
          .split(/\s+/)
          .filter((p) => /^\d+$/.test(p));
      } catch {
        pids = [];
      }
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of createdNs) {
      try {
        ip('netns', 'del', ns);
      } catch (e) {
        process.stderr.write(`could not delete netns ${ns}: ${(e as Error).message}\n`);
      }
    }
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  }, 20000);

  it('serves the session list over REST on every listen address, to a client in another namespace', async () => {
    const expected = sessionListResponse({
      version: 1,
      scvms: {
        'scvm-a': newScvmState('scvm-a', 1, '10.99.1.2', '10.99.9.2'),
        'scvm-b': newScvmState('scvm-b', 2, '10.99.2.2', '10.99.9.3'),
      },
    });
    for (const url of ['http://10.99.1.2/api/v2/zbs_session/session', 'http://10.99.9.2:80/api/v2/zbs_session/session?x=1']) {
      const r = await httpGet(NS.esxi, url);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body ?? '')).toEqual(expected);
    }
    const missing = await httpGet(NS.esxi, 'http://10.99.1.2/api/v1/nope');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body ?? '')).toMatchObject({ ec: 'ENotFound' });
  });

  it('reflects cluster-file faults at once: unhealthy drops the entry, metaUp=false refuses connections', async () => {
    updateScvm(clusterFile, 'scvm-b', { healthy: false });
    const r = await httpGet(NS.esxi, 'http://10.99.1.2/api/v2/zbs_session/session');
    expect((JSON.parse(r.body ?? '') as { data: { ip: string }[] }).data.map((x) => x.ip)).toEqual(['10.99.1.2']);

    // metaUp is applied by meta-sim's 200 ms poll; allow for a loaded machine.
    updateScvm(clusterFile, 'scvm-a', { metaUp: false });
    expect(await getUntil(NS.esxi, 'http://10.99.1.2/api/v2/zbs_session/session', (r) => r.error === 'ECONNREFUSED')).toEqual({
      error: 'ECONNREFUSED',
    });

    updateScvm(clusterFile, 'scvm-a', { metaUp: true, hung: true });
    expect(await getUntil(NS.esxi, 'http://10.99.1.2/api/v2/zbs_session/session', (r) => r.error !== 'ECONNREFUSED')).toEqual({
      error: 'ETIMEDOUT',
    });

    updateScvm(clusterFile, 'scvm-a', { hung: false });
    updateScvm(clusterFile, 'scvm-b', { healthy: true });
    expect((await httpGet(NS.esxi, 'http://10.99.9.2/api/v2/zbs_session/session')).status).toBe(200);
  }, 30000);

  async function httpSend(
    ns: string,
    method: string,
    url: string,
    body: string,
  ): Promise<{ status?: number; body?: string; error?: string }> {
    const script =
      "const h=require('http');const q=h.request(process.argv[1],{method:process.argv[2],timeout:2000,headers:{'Content-Type':'application/json'}},r=>{let b='';r.on('data',c=>b+=c);" +
      "r.on('end',()=>process.stdout.write(JSON.stringify({status:r.statusCode,body:b})))});" +
      "q.on('error',e=>process.stdout.write(JSON.stringify({error:e.code||e.message})));q.end(process.argv[3]);";
    const { stdout } = await execFileP('ip', ['netns', 'exec', ns, process.execPath, '-e', script, url, method, body], { timeout: 8000 });
    return JSON.parse(stdout) as { status?: number; body?: string; error?: string };
  }

  it("sets a session's local_clients_ips by REST PUT and by zbs-meta refresh_address; unknown ids get 404", async () => {
    const a = readClusterState(clusterFile).scvms['scvm-a']!;
    const b = readClusterState(clusterFile).scvms['scvm-b']!;
    const base = 'http://10.99.1.2/api/v2/zbs_session/session';
    const put = await httpSend(NS.esxi, 'PUT', `${base}/${b.sessionId}`, JSON.stringify({ local_clients_ips: '10.99.9.20,10.99.2.1' }));
    expect(put.status).toBe(200);
    expect(JSON.parse(put.body ?? '')).toMatchObject({
      ec: 'EOK',
      data: { session_id: b.sessionId, local_clients_ips: '10.99.9.20,10.99.2.1' },
    });
    const one = await httpGet(NS.esxi, `${base}/${b.sessionId}`);
    expect(JSON.parse(one.body ?? '')).toMatchObject({ ec: 'EOK', data: { ip: '10.99.2.2', local_clients_ips: '10.99.9.20,10.99.2.1' } });
    const list = JSON.parse((await httpGet(NS.esxi, base)).body ?? '') as { data: { ip: string; local_clients_ips: string }[] };
    expect(list.data.map((d) => d.local_clients_ips)).toEqual(['', '10.99.9.20,10.99.2.1']);
    expect(
      (await httpSend(NS.esxi, 'PUT', `${base}/00000000-0000-4000-8000-000000000000`, '{"local_clients_ips":"10.0.0.1"}')).status,
    ).toBe(404);
    expect((await httpSend(NS.esxi, 'PUT', `${base}/${b.sessionId}`, '{"local_clients_ips":"not-an-ip"}')).status).toBe(400);
    expect((await httpSend(NS.esxi, 'PUT', base, '{}')).status).toBe(405);

    // zbs-meta inside the SCVM namespace talks to its own meta-sim (with busybox's nc, as in the lab SCVM).
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const bb = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
    if (bb !== undefined && !fs.existsSync(path.join(bin, 'nc'))) fs.symlinkSync(bb, path.join(bin, 'nc'));
    const zbs = (args: string[]) =>
      spawnSync('ip', ['netns', 'exec', NS.a, 'sh', path.join(__dirname, 'zbs-meta'), 'session', ...args], {
        env: {
          ...process.env,
          PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          ZBS_SIM_DIR: dir,
          ZBS_SIM_SELF: 'scvm-a',
          ZBS_SIM_META: '10.99.1.2:80',
        },
        encoding: 'utf8',
        timeout: 10000,
      });
    const r = zbs(['refresh_address', a.sessionId, '10.99.9.10,10.99.1.1']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readClusterState(clusterFile).scvms['scvm-a']!.localClientsIps).toBe('10.99.9.10,10.99.1.1');
    expect(zbs(['show', a.sessionId]).stdout).toContain('10.99.9.10,10.99.1.1');
    const gone = zbs(['refresh_address', '00000000-0000-4000-8000-000000000000', '10.99.1.1']);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/not found/);
  }, 90000); // ten short-lived node clients: slow on a loaded 2-core machine

  it('prints the zbs-meta session list table from the same state, also under busybox', () => {
    const env = { ...process.env, ZBS_SIM_DIR: dir, ZBS_SIM_SELF: 'scvm-a' };
    const shells: string[][] = [['sh']];
    if (fs.existsSync('/bin/busybox') || fs.existsSync('/usr/bin/busybox')) shells.push(['busybox', 'sh']);
    const a = newScvmState('scvm-a', 1, '10.99.1.2', '10.99.9.2');
    const b = newScvmState('scvm-b', 2, '10.99.2.2', '10.99.9.3');
    for (const sh of shells) {
      const out = execFileSync(sh[0]!, [...sh.slice(1), ZBS_META, 'session', 'list'], { env, encoding: 'utf8', timeout: 5000 });
      // tabulate "simple": width = max(header + 2, longest value); Port and Cid right-aligned.
      const row = (c: string[]) =>
        [c[0]!.padEnd(36), c[1]!.padEnd(9), c[2]!.padStart(6), c[3]!.padStart(5), c[4]!.padEnd(19), c[5]!.padEnd(7), c[6]!.padEnd(36)].join(
          '  ',
        );
      const expected = [
        row(['UUID', 'Ip', 'Port', 'Cid', 'Secondary_data_ip', 'Zone', 'Machine UUID']),
        [36, 9, 6, 5, 19, 7, 36].map((w) => '-'.repeat(w)).join('  '),
        row([a.sessionId, '10.99.1.2', '10201', '1', '10.99.9.2', 'default', a.machineUuid]),
        row([b.sessionId, '10.99.2.2', '10201', '2', '10.99.9.3', 'default', b.machineUuid]),
      ];
      expect(out).toBe(expected.join('\n') + '\n');
    }
    updateScvm(clusterFile, 'scvm-a', { metaUp: false });
    try {
      expect(() => execFileSync('sh', [ZBS_META, 'session', 'list'], { env, stdio: 'pipe', timeout: 5000 })).toThrow(/ECONNREFUSED/);
      expect(() => execFileSync('sh', [ZBS_META, 'session', 'show'], { env, stdio: 'pipe', timeout: 5000 })).toThrow(/usage/);
    } finally {
      updateScvm(clusterFile, 'scvm-a', { metaUp: true });
    }
  });

  it('sees served-by follow the /32 route between SCVMs, and records each route change', async () => {
    await waitFor(
      'IO served by scvm-a',
      10000,
      () => (summary().servedBy === 'scvm-a' ? true : undefined),
      () => JSON.stringify(summary()),
    );

    const tSwitch = Date.now();
    ip('-n', NS.esxi, 'route', 'replace', '192.168.33.2/32', 'via', '10.99.2.2');
    const afterSwitch = await waitFor(
      'IO served by scvm-b',
      10000,
      () => {
        const s = summary(tSwitch);
        return s.servedBy === 'scvm-b' && s.routeChanges.length > 0 ? s : undefined;
      },
      () => JSON.stringify(summary(tSwitch)),
    );
    expect(afterSwitch.routeChanges).toContainEqual(expect.objectContaining({ action: 'add', dst: '192.168.33.2', via: '10.99.2.2' }));

    // Without the /32 the connected private link (192.168.33.0/24) carries IO to the local SCVM again.
    const tDel = Date.now();
    ip('-n', NS.esxi, 'route', 'del', '192.168.33.2/32');
    const afterDel = await waitFor(
      'IO back on scvm-a over the private link',
      10000,
      () => {
        const s = summary(tDel);
        return s.servedBy === 'scvm-a' && s.routeChanges.some((r) => r.action === 'del') ? s : undefined;
      },
      () => JSON.stringify(summary(tDel)),
    );
    expect(afterDel.routeChanges).toContainEqual(expect.objectContaining({ action: 'del', dst: '192.168.33.2', via: '10.99.2.2' }));

    const whole = summary();
    expect(whole.host).toBe('esxi-t');
    expect(whole.timeline.map((s) => s.node)).toEqual(['scvm-a', 'scvm-b', 'scvm-a']);
    // A route swap between live SCVMs costs at most a probe caught mid-connection (reset by the new SCVM).
    expect(whole.failed).toBeLessThanOrEqual(2);
  }, 20000);

  it('records failed probes as a gap while nothing answers, and stops cleanly on SIGTERM', async () => {
    const tBlack = Date.now();
    ip('-n', NS.esxi, 'route', 'add', 'blackhole', '192.168.33.2/32');
    await sleep(600);
    ip('-n', NS.esxi, 'route', 'del', 'blackhole', '192.168.33.2/32');
    const s = await waitFor(
      'IO to resume',
      10000,
      () => {
        const x = summary(tBlack);
        return x.failed > 0 && x.longestGap !== null && !x.longestGap.ongoing ? x : undefined;
      },
      () => JSON.stringify(summary(tBlack)),
    );
    expect(s.longestGapMs).toBeGreaterThanOrEqual(400);
    expect(s.routeChanges).toContainEqual(expect.objectContaining({ action: 'add', type: 'blackhole', dst: '192.168.33.2' }));

    const mon = started.find((x) => x.name === 'host-monitor')!;
    mon.child.kill('SIGTERM');
    expect(await Promise.race([mon.exited, sleep(3000).then(() => 'still running')])).toBe(0);
    const last = fs.readFileSync(ioLog, 'utf8').trimEnd().split('\n').pop()!;
    expect(JSON.parse(last)).toMatchObject({ type: 'stop', reason: 'SIGTERM' });
    // Its `ip monitor` child went with it.
    await sleep(200);
    const left = execFileSync('ip', ['netns', 'pids', NS.esxi], { encoding: 'utf8', timeout: 5000 }).trim();
    expect(left).toBe('');
  }, 20000);
});
