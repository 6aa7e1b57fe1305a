import { ChannelLimiter } from './channel-limiter';

describe('ChannelLimiter', () => {
  it('never lets more than max holders in at once, and serves waiters in order', async () => {
    const lim = new ChannelLimiter(2);
    const order: number[] = [];
    let peak = 0;
    let live = 0;
    const job = async (i: number): Promise<void> => {
      const release = await lim.acquire();
      live++;
      peak = Math.max(peak, live);
      order.push(i);
      await new Promise((r) => setTimeout(r, 5));
      live--;
      release();
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(job));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(lim.active).toBe(0);
  });

  it('ignores a second release of the same slot', async () => {
    const lim = new ChannelLimiter(1);
    const r1 = await lim.acquire();
    r1();
    r1();
    expect(lim.active).toBe(0);
    const r2 = await lim.acquire();
    expect(lim.active).toBe(1);
    r2();
  });

  it('drops an aborted waiter from the queue without taking a slot', async () => {
    const lim = new ChannelLimiter(1);
    const r1 = await lim.acquire();
    const ac = new AbortController();
    const waiting = lim.acquire(ac.signal);
    expect(lim.waiting).toBe(1);
    ac.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    expect(lim.waiting).toBe(0);
    r1();
    expect(lim.active).toBe(0);
  });

  it('rejects a nonsense maximum', () => {
    expect(() => new ChannelLimiter(0)).toThrow(RangeError);
  });
});
