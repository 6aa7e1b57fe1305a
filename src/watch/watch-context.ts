import type { WatchedCluster } from '../engine/node-reconciler';
import { openCluster } from '../engine/open-cluster';
import type { PinResult } from '../state/known-hosts-store';

/**
 * One manifest version as the watch loop uses it: the opened cluster
 * (engine/open-cluster.ts). Observation connections are kept between checks
 * by warm-connections.ts (bounded by age, dropped on failure, and a host that
 * rebooted is dialled again); corrections open their own and close them.
 */
export type WatchContext = WatchedCluster;

/** Throws InputError (with file:line:col problems) for an invalid manifest, RerouteError for missing credentials. */
export async function openWatchContext(manifestPath: string, stateDir: string, onPin?: (r: PinResult) => void): Promise<WatchContext> {
  // No prompt: a watch runs unattended.
  return { ...(await openCluster({ manifestPath, stateDir })), onPin };
}
