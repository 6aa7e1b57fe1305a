import type { PeerView } from '../desired/peer-files';
import type { ObservedCluster } from '../observe/observed-types';
import type { PreflightReport } from '../preflight/preflight-types';
import { offlineKeyInfo } from './cluster-plan';
import type { ClusterSession } from './cluster-session';
import { clusterStatus, type HostStatus } from './cluster-status';
import type { EngineIo } from './engine-io';
import { preflightCluster, preflightContext, readScvmReleases } from './preflight';

/** Placeholder key: the peer files (reroute.conf, known_hosts) do not depend on the cluster key. */
const NO_KEY = { publicKey: 'ssh-rsa AAAAstatusPlaceholder zbs-reroute:status', privateKeySha256: '0'.repeat(64) };

/** What `reroute status` reports: one row per host, and the manifest's wanted state. */
export interface StatusReport {
  cluster: string;
  wantedVersion: string;
  routingMode: string;
  hosts: HostStatus[];
}

/**
 * Which files name which peer, as the planner would render them. Read-only: the state folder's key
 * if there is one, never a new one. Undefined (peer lists not judged) when the desired state
 * cannot be computed here.
 */
function peerViewFor(session: ClusterSession, observed: ObservedCluster): PeerView | undefined {
  try {
    const key = offlineKeyInfo(session.manifest, session.stateDir, observed) ?? NO_KEY;
    return session.desired(observed, key, { allowVersionMismatch: true }).peerView;
  } catch {
    return undefined;
  }
}

/** `reroute status`, read-only: observe every host and judge it (src/engine/cluster-status.ts). */
export async function statusReport(session: ClusterSession, io: EngineIo): Promise<StatusReport> {
  const m = session.manifest;
  io.emit({ code: 'OBSERVE_START', cluster: m.clusterName, nodes: m.nodes.length });
  const observed = await session.observe((event) => io.emit({ code: 'OBSERVE_PROGRESS', event }));
  const releases = await readScvmReleases(session);
  const hosts = clusterStatus(m, observed, {
    releases,
    agentSshUser: preflightContext(m).agentSshUser,
    peerView: peerViewFor(session, observed),
  });
  return { cluster: m.clusterName, wantedVersion: m.version, routingMode: m.routing.mode, hosts };
}

/** `reroute preflight`, read-only: every check on every (targeted) host. */
export async function preflightReport(session: ClusterSession, io: EngineIo, nodes?: string[]): Promise<PreflightReport> {
  io.emit({ code: 'PREFLIGHT_START', cluster: session.manifest.clusterName, nodes: session.manifest.nodes.length });
  return preflightCluster(session, { nodes });
}
