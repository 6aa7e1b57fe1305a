import { HostConnections, type HostConnectionsOptions } from '../remote/host-connections';
import type { RemoteHost } from '../remote/ssh-connection';
import type { WatchContext } from './watch-context';
import { WarmConnections } from './warm-connections';

type Fake = RemoteHost & { closed: boolean };

function setup(maxAgeMs = 60_000) {
  const dialled: Fake[] = [];
  // HostConnections stamps logins with the real clock; the watch's clock runs ahead of it by `skew`.
  let skew = 0;
  const open = (): HostConnections =>
    new HostConnections({
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
      connect: async () => {
        const h: Fake = { closed: false, exec: async () => ({ stdout: '', stderr: '', code: 0 }), close: () => void (h.closed = true) };
        dialled.push(h);
        return h as never;
      },
    });
  const warm = new WarmConnections(open, maxAgeMs, () => Date.now() + skew);
  return { warm, dialled, advance: (ms: number) => void (skew += ms) };
}

const ctxA = { sha: 'a' } as WatchContext;
const ctxB = { sha: 'b' } as WatchContext;
const esxi1 = { kind: 'esxi' as const, node: 'node-1', address: '10.0.0.1' };

async function check(warm: WarmConnections, ctx: WatchContext, failed = false): Promise<RemoteHost> {
  const lease = warm.acquire(ctx);
  const host = await lease.pool.get(esxi1);
  warm.release(lease, failed ? 'node-1' : undefined);
  return host;
}

describe('reroute watch keeps observation connections between checks', () => {
  it('reuses a host connection from one check to the next', async () => {
    const { warm, dialled } = setup();
    expect(await check(warm, ctxA)).toBe(await check(warm, ctxA));
    expect(dialled).toHaveLength(1);
  });

  it('dials afresh after a check that found the host unreachable', async () => {
    const { warm, dialled } = setup();
    await check(warm, ctxA, true);
    await check(warm, ctxA);
    expect(dialled).toHaveLength(2);
    expect(dialled[0]?.closed).toBe(true);
  });

  it('closes a connection older than the age limit before the next check', async () => {
    const { warm, dialled, advance } = setup(60_000);
    await check(warm, ctxA);
    advance(59_000);
    await check(warm, ctxA);
    expect(dialled).toHaveLength(1);
    advance(2_000);
    await check(warm, ctxA);
    expect(dialled).toHaveLength(2);
    expect(dialled[0]?.closed).toBe(true);
  });

  it('closes the old manifest version’s connections when the last check using them ends', async () => {
    const { warm, dialled } = setup();
    const lease = warm.acquire(ctxA);
    await lease.pool.get(esxi1);
    await check(warm, ctxB);
    expect(dialled[0]?.closed).toBe(false);
    warm.release(lease);
    await new Promise((r) => setImmediate(r));
    expect(dialled[0]?.closed).toBe(true);
  });

  it('closes everything when the watch stops', async () => {
    const { warm, dialled } = setup();
    await check(warm, ctxA);
    warm.closeAll();
    await new Promise((r) => setImmediate(r));
    expect(dialled.every((h) => h.closed)).toBe(true);
  });
});
