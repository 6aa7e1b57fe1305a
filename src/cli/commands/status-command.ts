import { clusterStatus } from '../../engine/cluster-status';
import { offlineKeyInfo } from '../../engine/cluster-plan';
import type { ClusterSession } from '../../engine/cluster-session';
import { preflightContext, readScvmReleases } from '../../engine/preflight';
import type { PeerView } from '../../desired/peer-files';
import type { ObservedCluster } from '../../observe/observed-types';
import { sanitizeForDisplay } from '../../observe/sanitize';
import type { IoHost } from '../io-host';
import { observeProgress } from '../progress';
import { openSession } from './session-options';
import { degradedLines, shadowTable, statusExitCode, statusTable, summaryLines } from './status-render';

/** Placeholder key: the peer files (reroute.conf, known_hosts) do not depend on the cluster key. */
const NO_KEY = { publicKey: 'ssh-rsa AAAAstatusPlaceholder zbs-reroute:status', privateKeySha256: '0'.repeat(64) };

/**
 * Which files name which peer, as the planner would render them. Read-only: the state folder's key
 * if there is one, never a new one. Undefined (peer lists not judged) when the desired state
 * cannot be computed here.
 */
function peerViewFor(session: ClusterSession, observed: ObservedCluster, stateDir: string): PeerView | undefined {
  try {
    const key = offlineKeyInfo(session.manifest, stateDir, observed) ?? NO_KEY;
    return session.desired(observed, key, { allowVersionMismatch: true }).peerView;
  } catch {
    return undefined;
  }
}

export async function runStatus(
  io: IoHost,
  opts: { file: string; stateDir: string; check?: boolean; acceptNewHostKey?: string[] },
): Promise<number> {
  // Status installs nothing: it reports hosts against any wanted version, shipped or not.
  const session = await openSession(io, { ...opts, anyVersion: true });
  try {
    io.info(`Observing ${session.manifest.nodes.length} node(s) of cluster ${session.manifest.clusterName}…`);
    const observed = await session.observe(observeProgress(io));
    const releases = await readScvmReleases(session);
    const rows = clusterStatus(session.manifest, observed, {
      releases,
      agentSshUser: preflightContext(session.manifest).agentSshUser,
      peerView: peerViewFor(session, observed, opts.stateDir),
    });
    // A ZBS upgrade can break what the agent relies on (SMTX OS 5.1.2 refuses root ssh login): named with its fix.
    const broken = rows.filter((r) => r.zbsProblems.length > 0).map((r) => `${r.node}: ${r.zbsProblems.join(' ')}`);
    const zbsLines =
      broken.length > 0
        ? `\nSMTX OS version breaks the agent on ${broken.length} SCVM(s):\n  ${broken.map((b) => sanitizeForDisplay(b, { multiline: false, maxLength: 400 })).join('\n  ')}`
        : '';
    const text = `${statusTable(rows, io.color)}\n${summaryLines(rows, session.manifest.version)}${zbsLines}${degradedLines(rows)}${shadowTable(rows, io.color)}`;
    const code = statusExitCode(rows, opts.check === true);
    io.result(text, {
      cluster: session.manifest.clusterName,
      wantedVersion: session.manifest.version,
      routingMode: session.manifest.routing.mode,
      unreachable: rows.filter((r) => !r.reachable).map((r) => r.node),
      hosts: rows,
    });
    return code;
  } finally {
    await session.close();
  }
}
