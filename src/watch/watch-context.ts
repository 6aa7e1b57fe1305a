import * as path from 'node:path';
import { loadShippedBundle } from '../agent/shipped-bundle';
import type { AgentBundle } from '../desired/desired-types';
import { manifestSha256 } from '../engine/cluster-session';
import { loadManifest } from '../manifest/manifest-load';
import type { Manifest } from '../manifest/manifest-types';
import { HostConnections } from '../remote/host-connections';
import { resolveCredential, type ResolvedCredential } from '../state/credentials';
import { KnownHostsStore, type PinResult } from '../state/known-hosts-store';
import { ensureStateDir } from '../state/state-dir';

/**
 * One manifest version as the watch loop uses it: the validated manifest and
 * its resolved credentials. Observation connections are kept between checks
 * by warm-connections.ts (bounded by age, dropped on failure, and a host that
 * rebooted is dialled again); corrections open their own and close them.
 */
export interface WatchContext {
  manifest: Manifest;
  bundle: AgentBundle;
  sha: string;
  stateDir: string;
  credentials: { esxi: ResolvedCredential; scvm: ResolvedCredential };
  store: KnownHostsStore;
  onPin?(r: PinResult): void;
}

/** Throws InputError (with file:line:col problems) for an invalid manifest, RerouteError for missing credentials. */
export async function openWatchContext(manifestPath: string, stateDir: string, onPin?: (r: PinResult) => void): Promise<WatchContext> {
  const bundle = loadShippedBundle();
  const manifest = loadManifest(manifestPath, { bundledVersion: bundle.version });
  const paths = ensureStateDir(stateDir);
  const baseDir = path.dirname(path.resolve(manifestPath));
  // No prompt: a watch runs unattended, so a credential must come from a file, an agent or the environment.
  const [esxi, scvm] = await Promise.all([
    resolveCredential(manifest.access.esxi.credential, { who: `${manifest.access.esxi.user} on the ESXi hosts`, baseDir }),
    resolveCredential(manifest.access.scvm.credential, { who: `${manifest.access.scvm.user} on the SCVMs`, baseDir }),
  ]);
  return { manifest, bundle, sha: manifestSha256(manifest), stateDir: paths.root, credentials: { esxi, scvm }, store: new KnownHostsStore(paths.knownHosts), onPin };
}

/** A fresh connection pool for one job; the caller closes it. */
export function connectionsFor(ctx: WatchContext): HostConnections {
  const { manifest, store } = ctx;
  return new HostConnections({
    ssh: manifest.access.ssh,
    users: { esxi: manifest.access.esxi.user, scvm: manifest.access.scvm.user },
    credentials: ctx.credentials,
    hostKeyPolicy: (e) => store.policyFor(`${e.node}/${e.kind}`, e.address, manifest.access.ssh.port, ctx.onPin),
    preferredHostKeyTypes: (e) => store.pinnedKeyTypes(e.address, manifest.access.ssh.port),
  });
}

export { observeConnect } from '../engine/observe-connect';
