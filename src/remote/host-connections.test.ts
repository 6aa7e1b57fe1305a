import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { flushExecLog, HostConnections, type HostConnectionsOptions } from './host-connections';
import type { RemoteHost } from './ssh-connection';

function fakeHost(): RemoteHost {
  return { exec: async () => ({ stdout: 'ok', stderr: '', code: 0 }), close: () => undefined };
}

function options(host: RemoteHost): HostConnectionsOptions {
  return {
    ssh: {
      port: 22,
      connectTimeoutSeconds: 1,
      commandTimeoutSeconds: 1,
      hostTimeoutSeconds: 1,
      keepaliveSeconds: 1,
    } as HostConnectionsOptions['ssh'],
    users: { esxi: 'root', scvm: 'smartx' },
    credentials: { esxi: {}, scvm: {} },
    hostKeyPolicy: () => () => 'accept',
    connect: async () => host as never,
  };
}

const endpoint = { kind: 'esxi' as const, node: 'node-1', address: '10.0.0.1' };

describe('exec counter (ZBS_REROUTE_EXEC_LOG)', () => {
  const saved = process.env.ZBS_REROUTE_EXEC_LOG;
  afterEach(() => {
    if (saved === undefined) delete process.env.ZBS_REROUTE_EXEC_LOG;
    else process.env.ZBS_REROUTE_EXEC_LOG = saved;
  });

  it('is off by default: the connection is the one the dialer returned', async () => {
    delete process.env.ZBS_REROUTE_EXEC_LOG;
    const host = fakeHost();
    expect(await new HostConnections(options(host)).get(endpoint)).toBe(host);
  });

  it('records one connect and one line per exec, with host and exit code but no command text', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zr-exec-log-')), 'log.jsonl');
    process.env.ZBS_REROUTE_EXEC_LOG = file;
    const conns = new HostConnections(options(fakeHost()));
    const host = await conns.get(endpoint);
    expect((await host.exec('echo secret-command')).stdout).toBe('ok');
    await host.exec('true');
    flushExecLog();
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.event, l.kind, l.node])).toEqual([
      ['connect', 'esxi', 'node-1'],
      ['exec', 'esxi', 'node-1'],
      ['exec', 'esxi', 'node-1'],
    ]);
    expect(lines[1]?.code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).not.toContain('secret-command');
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});

describe('connections kept between checks (reroute watch)', () => {
  function closableHost(): RemoteHost & { closed: boolean; closes: number } {
    const h = {
      closed: false,
      closes: 0,
      exec: async () => ({ stdout: 'ok', stderr: '', code: 0 }),
      close: () => {
        h.closes += 1;
        h.closed = true;
      },
    };
    return h;
  }
  function counting(): { opts: HostConnectionsOptions; dials: () => number; hosts: Array<ReturnType<typeof closableHost>> } {
    const hosts: Array<ReturnType<typeof closableHost>> = [];
    const opts = {
      ...options(fakeHost()),
      connect: async () => {
        const h = closableHost();
        hosts.push(h);
        return h as never;
      },
    };
    return { opts, dials: () => hosts.length, hosts };
  }

  it('reuses one connection per host until it is retired by age', async () => {
    const c = counting();
    const conns = new HostConnections(c.opts);
    const first = await conns.get(endpoint);
    expect(await conns.get(endpoint)).toBe(first);
    expect(conns.retire(60_000)).toBe(0);
    expect(conns.retire(60_000, Date.now() + 61_000)).toBe(1);
    expect(c.hosts[0]?.closes).toBe(1);
    expect(await conns.get(endpoint)).not.toBe(first);
    expect(c.dials()).toBe(2);
  });

  it('dials again when the host closed the connection meanwhile', async () => {
    const c = counting();
    const conns = new HostConnections(c.opts);
    const first = (await conns.get(endpoint)) as ReturnType<typeof closableHost>;
    first.closed = true;
    expect(await conns.get(endpoint)).not.toBe(first);
    expect(c.dials()).toBe(2);
  });

  it('drops one host on request and keeps the others', async () => {
    const c = counting();
    const conns = new HostConnections(c.opts);
    const other = { ...endpoint, node: 'node-2', address: '10.0.0.2' };
    await conns.get(endpoint);
    const kept = await conns.get(other);
    conns.drop(endpoint);
    expect(conns.size).toBe(1);
    expect(await conns.get(other)).toBe(kept);
    expect(c.hosts[0]?.closes).toBe(1);
  });
});
