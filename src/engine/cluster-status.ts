import type { Manifest } from '../manifest/manifest-types';
import type { ObservedCluster } from '../observe/observed-types';
import { heartbeatStaleSeconds } from '../desired/desired-state';
import { parseSmtxRelease } from '../observe/esxi-tables';
import { zbsVersionProblems } from '../preflight/preflight-checks';
import { peerFileDrift, type PeerView } from '../desired/peer-files';
import { agentSight, blindFinding, type AgentSight } from '../observe/agent-health';

/**
 * The host's whole verdict, for scripts: `ok`; `failing` (what `status --check` fails on: off the
 * wanted version, degraded, an SCVM release that breaks the agent); `unknown` (not observed: the
 * agent may well be running, we cannot tell).
 */
export type HostState = 'ok' | 'failing' | 'unknown';

/** Does this host's agent know every peer of the manifest (and no other)? From file hashes (src/desired/peer-files.ts). */
export interface PeerListStatus {
  state: 'ok' | 'stale';
  /** Peers the host's files are missing, when the hashes say exactly which. */
  lacks: string[];
  /** One line per stale file: "reroute.conf lacks node-3", "known_hosts differs from the manifest's". */
  details: string[];
}

/** One row of `reroute status`: what an operator on call needs to see per host. */
export interface HostStatus {
  node: string;
  reachable: boolean;
  state: HostState;
  reason?: string;
  installedVersion?: string;
  wantedVersion: string;
  /** null: unknown (host not observed). */
  versionOk: boolean | null;
  /** null: unknown (host not observed) — never "not running" for a host we could not see. */
  agentAlive: boolean | null;
  agentProcesses: number;
  routeGateway?: string;
  routeLocal?: boolean;
  routeTargetNode?: string;
  heartbeatAgeSeconds?: number;
  legacy?: string;
  /** SMTX OS version of this node's SCVM (from /etc/smtxos-release), when it could be read. */
  scvmVersion?: string;
  /** What in that version breaks the agent as configured (preflight's scvm-version check); [] when nothing. */
  zbsProblems: string[];
  /** The agent's session-list sight and, in shadow mode, its would-be decisions (heartbeat keys since issue 12). */
  sight: AgentSight;
  /** Why this host is degraded beyond its version (a blind agent), each with its fix; [] when nothing. `--check` fails on any. */
  degraded: string[];
  /** Absent when not checked (host not observed, no agent installed, or no desired state given). */
  peerList?: PeerListStatus;
}

const FILE_LABEL = { conf: 'reroute.conf', known_hosts: 'known_hosts' } as const;

/** Compare the host's peer files with the manifest's, by hash; undefined when there is nothing to compare. */
export function peerListStatus(
  view: PeerView | undefined,
  node: string,
  files: Record<string, { sha256: string }>,
): PeerListStatus | undefined {
  const mine = view?.files[node];
  if (mine === undefined || mine.length === 0) return undefined;
  // No conf: no agent of ours here (or a partial install apply reports anyway), so no peer list to judge.
  const conf = mine.find((f) => f.kind === 'conf');
  if (conf === undefined || files[conf.path] === undefined) return undefined;
  const lacks: string[] = [];
  const details: string[] = [];
  for (const f of mine) {
    const d = peerFileDrift(f, files[f.path]?.sha256);
    if (!d.differs) continue;
    if (d.missing) details.push(`${FILE_LABEL[f.kind]} missing`);
    else if (d.lacks !== undefined) {
      details.push(`${FILE_LABEL[f.kind]} lacks ${d.lacks}`);
      if (!lacks.includes(d.lacks)) lacks.push(d.lacks);
    } else
      details.push(
        `${FILE_LABEL[f.kind]} differs from the manifest's (a peer added or removed, changed addresses or host keys, or other settings)`,
      );
  }
  return { state: details.length === 0 ? 'ok' : 'stale', lacks, details };
}

function peerFinding(p: PeerListStatus): string {
  const who = p.lacks.length > 0 ? `: it cannot fail over to the SCVM of ${p.lacks.join(', ')}` : '';
  const fix =
    p.lacks.length > 0 ? `run \`reroute apply\` (or \`reroute apply --target ${p.lacks.join(' --target ')}\`)` : 'run `reroute apply`';
  return `peer list stale (${p.details.join('; ')})${who}. Fix: ${fix}; a conf update needs no agent restart.`;
}

/** What status knows about each SCVM beyond observation: its release line (undefined: not read). */
export type ScvmReleases = Record<string, string | undefined>;

/** Pure: observation → per-host status rows. */
export function clusterStatus(
  manifest: Manifest,
  observed: ObservedCluster,
  scvm: { releases?: ScvmReleases; agentSshUser?: string; peerView?: PeerView } = {},
): HostStatus[] {
  const byIp = new Map<string, string>();
  for (const n of manifest.nodes) {
    byIp.set(n.scvm.storageIp, n.name);
    byIp.set(n.scvm.managementIp, `${n.name} (mgmt)`);
    if (n.scvm.accessIp !== undefined) byIp.set(n.scvm.accessIp, n.name);
  }
  const stale = heartbeatStaleSeconds(manifest);
  const zbs = (node: string): Pick<HostStatus, 'scvmVersion' | 'zbsProblems'> => {
    const line = scvm.releases?.[node];
    const version = line ? parseSmtxRelease(line) : undefined;
    if (!version) return { zbsProblems: [] };
    const problems = zbsVersionProblems(version, {
      sessionSource: manifest.routing.sessionSource,
      agentSshUser: scvm.agentSshUser ?? 'root',
    });
    return { scvmVersion: version, zbsProblems: problems.map((p) => `${p.detail}. ${p.fix}`) };
  };
  return manifest.nodes.map((n) => {
    const o = observed.esxi[n.name];
    if (!o || !o.reachable) {
      // Unknown, not "stopped" or "off version": a management link down leaves the agent running.
      return {
        node: n.name,
        reachable: false,
        state: 'unknown',
        reason: o && !o.reachable ? o.reason : 'not observed',
        wantedVersion: manifest.version,
        versionOk: null,
        agentAlive: null,
        agentProcesses: 0,
        ...zbs(n.name),
        sight: { blind: false },
        degraded: [],
      };
    }
    const hb = o.heartbeat;
    const age = hb ? Math.max(0, o.now - hb.updated) : undefined;
    const loop = Object.values(o.files).find((f) => f.path.endsWith('/reroute-loop.sh'));
    const installed = loop?.version ?? (o.legacy ? `legacy ${o.legacy.version ?? '?'}` : undefined);
    const sight = agentSight(hb, o.now, (ip) => byIp.get(ip));
    // Blind fails --check in both modes: once active, a blind agent would not move IO off a dead SCVM.
    // A shadow disagreement does not: it is what shadow mode is there to show (docs/design.md §7).
    const degraded: string[] = [];
    if (sight.blind) {
      const f = blindFinding(manifest, sight);
      degraded.push(`${f.message}. Fix: ${f.fix}.`);
    }
    // The mode is in reroute.conf, which the agent re-reads every iteration: a mismatch is a conf not applied yet.
    const wantedMode = manifest.routing.mode;
    if (sight.mode !== undefined && sight.mode !== wantedMode) {
      degraded.push(
        `the agent runs in ${sight.mode} mode, the manifest wants ${wantedMode}${wantedMode === 'active' ? ' (it does not move the route)' : ''}. Fix: run \`reroute apply\` (a conf update; the agent picks it up within one interval).`,
      );
    }
    const peers = peerListStatus(scvm.peerView, n.name, o.files);
    if (peers?.state === 'stale') degraded.push(peerFinding(peers));
    const row: HostStatus = {
      node: n.name,
      reachable: true,
      state: 'ok',
      wantedVersion: manifest.version,
      versionOk: loop?.version === manifest.version && (hb === undefined || hb.version === manifest.version),
      // Forks of the loop (parallel pings) share its command line: alive = the heartbeat's pid runs and is fresh.
      agentAlive: hb !== undefined && o.agentProcesses.some((p) => p.pid === hb.pid) && age !== undefined && age <= stale,
      agentProcesses: o.agentProcesses.length,
      ...zbs(n.name),
      sight,
      degraded,
    };
    if (installed !== undefined) row.installedVersion = installed;
    if (o.nfsRoute) {
      row.routeGateway = o.nfsRoute.gateway;
      // RDMA: 33.2 via the local SCVM's access IP is the local steady state.
      row.routeLocal = o.nfsRoute.gateway === n.scvm.storageIp || o.nfsRoute.gateway === n.scvm.accessIp;
      const target = byIp.get(o.nfsRoute.gateway);
      if (target !== undefined) row.routeTargetNode = target;
    }
    if (age !== undefined) row.heartbeatAgeSeconds = age;
    if (o.legacy) row.legacy = o.legacy.dir;
    if (peers !== undefined) row.peerList = peers;
    if (row.versionOk === false || row.zbsProblems.length > 0 || row.degraded.length > 0) row.state = 'failing';
    return row;
  });
}
