/**
 * The one worker pool of apply, its verification and preflight: `access.parallelism` hosts in flight,
 * never more (a 16-node apply must not open 16 host conversations at once).
 */

/** Run `items` through `fn` with at most `limit` in flight; results keep input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
