import * as path from 'node:path';
import { loadShippedBundle } from '../agent/shipped-bundle';
import type { AgentBundle } from '../desired/desired-types';
import { loadManifest } from '../manifest/manifest-load';
import type { Manifest } from '../manifest/manifest-types';
import { checkNodeNames, type NamedNodes } from '../manifest/node-names';
import { HostConnections } from '../remote/host-connections';
import { resolveCredential, type PromptFn, type ResolvedCredential } from '../state/credentials';
import { KnownHostsStore, type PinResult } from '../state/known-hosts-store';
import { ensureStateDir } from '../state/state-dir';
import { manifestSha256 } from './cluster-plan';

export interface OpenClusterOptions {
  manifestPath: string;
  stateDir: string;
  acceptNewHostKeyFor?: string[];
  /** Teardown: the manifest may name an agent version this release does not ship (what is removed is whatever is there). */
  anyVersion?: boolean;
  /** Absent for an unattended run (watch): a credential must then come from a file, an agent or the environment. */
  prompt?: PromptFn;
  /** Node names given on the command line: a typo is refused before any credential is asked for or host contacted. */
  namedNodes?: NamedNodes;
}

/** One manifest version, ready to connect: validated manifest, shipped agent, state folder, resolved credentials, host-key pins. */
export interface OpenedCluster {
  manifest: Manifest;
  bundle: AgentBundle;
  sha: string;
  stateDir: string;
  credentials: { esxi: ResolvedCredential; scvm: ResolvedCredential };
  store: KnownHostsStore;
}

/** Throws InputError (with file:line:col problems) for an invalid manifest, RerouteError for missing credentials. */
export async function openCluster(opts: OpenClusterOptions): Promise<OpenedCluster> {
  const bundle = loadShippedBundle();
  const manifest = loadManifest(opts.manifestPath, { bundledVersion: bundle.version, anyVersion: opts.anyVersion === true });
  if (opts.namedNodes)
    checkNodeNames(
      manifest.clusterName,
      manifest.nodes.map((n) => n.name),
      opts.namedNodes,
    );
  const paths = ensureStateDir(opts.stateDir);
  const baseDir = path.dirname(path.resolve(opts.manifestPath));
  // One after the other: two password prompts must not share the terminal at once.
  const esxi = await resolveCredential(manifest.access.esxi.credential, {
    who: `${manifest.access.esxi.user} on the ESXi hosts`,
    baseDir,
    prompt: opts.prompt,
  });
  const scvm = await resolveCredential(manifest.access.scvm.credential, {
    who: `${manifest.access.scvm.user} on the SCVMs`,
    baseDir,
    prompt: opts.prompt,
  });
  const store = new KnownHostsStore(paths.knownHosts, { acceptNewKeyFor: opts.acceptNewHostKeyFor ?? [] });
  return { manifest, bundle, sha: manifestSha256(manifest), stateDir: paths.root, credentials: { esxi, scvm }, store };
}

/** A connection pool to the cluster's hosts, checked against the pinned host keys; the caller closes it. */
export function connectionsFor(cluster: OpenedCluster, onPin?: (r: PinResult) => void): HostConnections {
  const { manifest, store } = cluster;
  return new HostConnections({
    ssh: manifest.access.ssh,
    users: { esxi: manifest.access.esxi.user, scvm: manifest.access.scvm.user },
    credentials: cluster.credentials,
    hostKeyPolicy: (e) => store.policyFor(`${e.node}/${e.kind}`, e.address, manifest.access.ssh.port, onPin),
    preferredHostKeyTypes: (e) => store.pinnedKeyTypes(e.address, manifest.access.ssh.port),
  });
}
