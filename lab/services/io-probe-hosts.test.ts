/**
 * One IO probe process for many ESXi namespaces (`lab-io-probe --hosts FILE`, what a lab runs):
 * each host's datagrams leave from a socket made in that host's own namespace and follow its
 * routes, each host's records go to its own file exactly as a probe of its own would write them,
 * and a fault in one host's namespace shows in that host's records only. Throwaway namespaces:
 * two "ESXi" E1/E2, their NFS stand-ins S1/S2 (lab-nfs-sim), the probe in a third namespace C
 * (the lab's controller), so no host's traffic can be the probe's own namespace's.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureServiceBin } from './service-bin';
import { describeLab } from '../../test/support/describe-lab';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms).unref());
}

interface Rec {
  t: number;
  type: string;
  ok?: boolean;
  node?: string;
  err?: string;
  host?: string;
  line?: string;
  reason?: string;
}

function records(file: string): Rec[] {
  return fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Rec)
    : [];
}

describeLab('lab-io-probe --hosts: one process probes every ESXi from its own namespace', () => {
  const tag = `zrp${process.pid % 100000}`;
  const NS = { c: `${tag}-c`, e1: `${tag}-e1`, e2: `${tag}-e2`, s1: `${tag}-s1`, s2: `${tag}-s2` };
  const children: ChildProcess[] = [];
  let dir = '';
  let out1 = '';
  let out2 = '';
  let probe: ChildProcess | undefined;
  let probeExit: Promise<number | null> = Promise.resolve(null);

  function start(ns: string, argv: string[]): { child: ChildProcess; ready: Promise<void> } {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${argv[0]} not READY in 20 s: ${err}`)), 20_000);
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        if (out.includes('READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${argv[0]} exited ${code}: ${err}`));
      });
    });
    ready.catch(() => undefined);
    return { child, ready };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrp-'));
    const bin = await ensureServiceBin(path.join(dir, 'cache'));
    for (const ns of Object.values(NS)) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    for (const [e, s, net] of [
      [NS.e1, NS.s1, '10.98.1'],
      [NS.e2, NS.s2, '10.98.2'],
    ] as const) {
      ip('-n', e, 'link', 'add', 'es', 'type', 'veth', 'peer', 'name', 'se', 'netns', s);
      ip('-n', e, 'addr', 'add', `${net}.1/24`, 'dev', 'es');
      ip('-n', s, 'addr', 'add', `${net}.2/24`, 'dev', 'se');
      ip('-n', s, 'addr', 'add', '192.168.33.2/32', 'dev', 'lo');
      ip('-n', e, 'link', 'set', 'es', 'up');
      ip('-n', s, 'link', 'set', 'se', 'up');
      ip('-n', e, 'route', 'add', '192.168.33.2/32', 'via', `${net}.2`);
    }
    const nfs1 = start(NS.s1, [bin.nfsSim, '--node', 'scvm-1', '--max-lifetime-s', '120']);
    const nfs2 = start(NS.s2, [bin.nfsSim, '--node', 'scvm-2', '--max-lifetime-s', '120']);
    await Promise.all([nfs1.ready, nfs2.ready]);
    out1 = path.join(dir, 'esxi-1.io.jsonl');
    out2 = path.join(dir, 'esxi-2.io.jsonl');
    const list = path.join(dir, 'hosts');
    fs.writeFileSync(list, `esxi-1 ${NS.e1} ${out1}\nesxi-2 ${NS.e2} ${out2}\n`);
    const p = start(NS.c, [bin.ioProbe, '--hosts', list, '--max-lifetime-s', '120']);
    probe = p.child;
    probeExit = new Promise((r) => p.child.once('exit', (code) => r(code)));
    await p.ready;
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of Object.values(NS)) {
      let pids: string[] = [];
      try {
        pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 })
          .split(/\s+/)
          .filter((x) => /^\d+$/.test(x));
      } catch {
        // namespace never made
      }
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    for (const ns of Object.values(NS)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // never made
      }
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  it('each host is served by the NFS stand-in its own routes lead to, in its own file', async () => {
    await sleep(1_000);
    const r1 = records(out1);
    const r2 = records(out2);
    expect(r1[0]).toMatchObject({ type: 'start', host: 'esxi-1' });
    expect(r2[0]).toMatchObject({ type: 'start', host: 'esxi-2' });
    const io1 = r1.filter((r) => r.type === 'io');
    const io2 = r2.filter((r) => r.type === 'io');
    // 50 ms period over ~1 s: the generous floor only says "sampling", not a rate.
    expect(io1.length).toBeGreaterThan(5);
    expect(io2.length).toBeGreaterThan(5);
    expect(new Set(io1.map((r) => r.node))).toEqual(new Set(['scvm-1']));
    expect(new Set(io2.map((r) => r.node))).toEqual(new Set(['scvm-2']));
  });

  it("a route change in one host's namespace shows in that host's records only", async () => {
    const since = Date.now();
    ip('-n', NS.e2, 'route', 'del', '192.168.33.2/32');
    await sleep(600);
    ip('-n', NS.e2, 'route', 'add', '192.168.33.2/32', 'via', '10.98.2.2');
    await sleep(600);
    const r1 = records(out1).filter((r) => r.t >= since);
    const r2 = records(out2).filter((r) => r.t >= since);
    expect(r2.some((r) => r.type === 'route' && /192\.168\.33\.2/.test(r.line ?? ''))).toBe(true);
    expect(r2.some((r) => r.type === 'io' && r.ok === false)).toBe(true);
    expect(r2.some((r) => r.type === 'io' && r.ok === true && r.t > since + 600)).toBe(true);
    // (E1 may still log its own IPv6 link-local route, which comes up a second or two after its link.)
    expect(r1.filter((r) => r.type === 'route' && /192\.168\.33\.2/.test(r.line ?? ''))).toEqual([]);
    expect(r1.filter((r) => r.type === 'io' && r.ok === false)).toEqual([]);
  });

  it('a target that never answers costs one timed-out record per probe, not one per timeout', async () => {
    // S2 stops answering and its ICMP errors are dropped: every probe from E2 waits out its 300 ms.
    ip('-n', NS.s2, 'route', 'add', 'blackhole', '10.98.2.1/32');
    children[1]?.kill('SIGKILL');
    const since = Date.now();
    await sleep(2_000);
    const timedOut = records(out2).filter((r) => r.type === 'io' && r.t >= since && r.err === 'ETIMEDOUT');
    // 40 probes in 2 s, of which the last 300 ms are still in flight; one per slot reuse would be ~7.
    expect(timedOut.length).toBeGreaterThanOrEqual(20);
  });

  it('SIGTERM ends every host file with a stop record', async () => {
    probe?.kill('SIGTERM');
    expect(await probeExit).toBe(0);
    expect(records(out1).at(-1)).toMatchObject({ type: 'stop', reason: 'SIGTERM' });
    expect(records(out2).at(-1)).toMatchObject({ type: 'stop', reason: 'SIGTERM' });
  });
});
