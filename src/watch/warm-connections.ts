import type { HostConnections } from '../remote/host-connections';
import { watchedConnections } from '../engine/node-reconciler';
import type { WatchContext } from './watch-context';

/**
 * How long `reroute watch` keeps an observation connection. Kept connections
 * save one SSH handshake per host per check (the key exchange was the CLI's
 * largest per-host CPU cost, issue 14); the age limit bounds how long a
 * connection lives, so a host key change is checked at least this often and a
 * half-dead connection the keepalive has not caught yet is not kept forever.
 */
export const WARM_CONNECTION_MAX_AGE_MS = 10 * 60_000;

interface Pool {
  ctx: WatchContext;
  pool: HostConnections;
  /** Observations using it now. */
  users: number;
  /** Replaced (manifest change) or stopped: closed when the last user is done. */
  retired: boolean;
}

export interface WarmLease {
  readonly pool: HostConnections;
  readonly entry: Pool;
}

/**
 * The watch's observation connections, kept between checks and bounded: at
 * most one per host of the current manifest (HostConnections keys them by
 * node and kind), none older than WARM_CONNECTION_MAX_AGE_MS, a host's dropped
 * when its check failed, all of them when the manifest changes (after the
 * checks still using them end) or the watch stops. A connection the host closed
 * (reboot, sshd restart) is dialled again by HostConnections. Corrections and
 * prunes do not use these: they open their own and close them.
 */
export class WarmConnections {
  private current: Pool | undefined;

  constructor(
    private readonly open: (ctx: WatchContext) => HostConnections = watchedConnections,
    private readonly maxAgeMs = WARM_CONNECTION_MAX_AGE_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The pool for this manifest version; connections past their age are closed first. */
  acquire(ctx: WatchContext): WarmLease {
    if (this.current && this.current.ctx !== ctx) {
      this.retire(this.current);
      this.current = undefined;
    }
    this.current ??= { ctx, pool: this.open(ctx), users: 0, retired: false };
    this.current.pool.retire(this.maxAgeMs, this.clock());
    this.current.users++;
    return { pool: this.current.pool, entry: this.current };
  }

  /** A check is done; `failedNode`: its connections are dropped so the next check dials afresh. */
  release(lease: WarmLease, failedNode?: string): void {
    const e = lease.entry;
    if (failedNode !== undefined) for (const kind of ['esxi', 'scvm'] as const) e.pool.drop({ kind, node: failedNode, address: '' });
    e.users = Math.max(0, e.users - 1);
    if (e.retired && e.users === 0) void e.pool.closeAll();
  }

  /** Stop: every kept connection is closed (those in use when their check ends). */
  closeAll(): void {
    if (this.current) this.retire(this.current);
    this.current = undefined;
  }

  private retire(e: Pool): void {
    e.retired = true;
    if (e.users === 0) void e.pool.closeAll();
  }
}
