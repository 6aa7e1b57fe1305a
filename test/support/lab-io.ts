import type { Lab } from '../../lab/lab';

/**
 * What a lab's hosts saw, read from the lab's own records (IO probes, route monitor, ps on the
 * host); nothing here fakes a host. The CLI runs through run-cli.ts.
 */

/** Route changes for 192.168.33.2 seen on each ESXi since `sinceMs`. */
export function nfsRouteChanges(lab: Lab, sinceMs: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [host, s] of Object.entries(lab.io(sinceMs))) {
    out[host] = s.routeChanges.filter((c) => c.dst === '192.168.33.2' || c.dst === '192.168.33.2/32').map((c) => c.line);
  }
  return out;
}

export function longestGaps(lab: Lab, sinceMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [host, s] of Object.entries(lab.io(sinceMs))) out[host] = s.longestGapMs;
  return out;
}

export function servedBy(lab: Lab, sinceMs?: number): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [host, s] of Object.entries(lab.io(sinceMs))) out[host] = s.servedBy;
  return out;
}

/**
 * How many agent loops run on a host. The loop's short-lived subshells (parallel pings) carry its
 * command line too, so the singleton is judged on the fewest copies over a few samples.
 */
export async function agentLoops(lab: Lab, host: string): Promise<number> {
  const counts: number[] = [];
  for (let i = 0; i < 6; i++) {
    counts.push(Number((await lab.execOk(host, 'ps -c | grep reroute-loop.sh | grep -v grep | wc -l')).trim()));
    await new Promise((r) => setTimeout(r, 300));
  }
  return Math.min(...counts);
}
