/**
 * Counts SSH channels open on one connection. OpenSSH's MaxSessions (10 by
 * default) refuses extra channels with `Channel open failure`, so callers wait
 * for a slot instead. FIFO, so no command starves.
 */
export class ChannelLimiter {
  private inUse = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`ChannelLimiter max must be a positive integer, got ${max}`);
  }

  get active(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolve with a release function once a slot is free. `signal` lets a
   * caller that gave up (timeout, connection lost) leave the queue.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.inUse < this.max) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.inUse++;
        resolve(this.releaser());
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      const next = this.waiters.shift();
      if (next) next();
    };
  }
}
