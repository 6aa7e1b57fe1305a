import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import type { Lab } from '../../lab/lab';

/**
 * Helpers for end-to-end tests: manifests for a lab, and what its hosts saw.
 * The CLI itself runs through test/support/run-cli.ts (`reroute(lab, args)`:
 * inside the lab's controller namespace as an operator would run it, through
 * the `reroute` on that namespace's PATH). Nothing here fakes a host.
 */

export interface LabManifestOptions {
  nodes?: number;
  clusterName?: string;
  routing?: Record<string, unknown>;
  /** Extra per-node fields by node name (e.g. drain). */
  nodeExtras?: Record<string, Record<string, unknown>>;
  version?: string;
}

/** Write a manifest for the first `nodes` lab nodes (short agent timings for tests) and return its path. */
export function writeLabManifest(lab: Lab, dir: string, file: string, opts: LabManifestOptions = {}): string {
  const doc = parse(lab.manifest({ clusterName: opts.clusterName ?? 'e2e' })) as {
    spec: Record<string, unknown> & { nodes: Array<Record<string, unknown>> };
  };
  const nodes = doc.spec.nodes.slice(0, opts.nodes ?? doc.spec.nodes.length);
  doc.spec.nodes = nodes.map((n) => ({ ...n, ...(opts.nodeExtras?.[n.name as string] ?? {}) }));
  doc.spec.routing = { intervalSeconds: 1, failbackDelaySeconds: 8, pingTimeoutSeconds: 1, ...(opts.routing ?? {}) };
  if (opts.version) doc.spec.version = opts.version;
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, file);
  fs.writeFileSync(p, stringify(doc));
  return p;
}

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

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs: number; everyMs?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (let i = 0; i < 10_000; i++) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
