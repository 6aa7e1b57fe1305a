import { drainTarget } from '../desired/desired-state';
import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import type { EsxiObserved } from '../observe/observed-types';
import { agentSight, blindFinding } from '../observe/agent-health';
import { localScvmIps, ownerOf, pingTargets, scvmGateway } from './verify-targets';

/**
 * "How do we know it worked?" (the seed's residual issue 5). After apply, a
 * changed host passes when its agent is alive at the wanted version, its
 * 192.168.33.2 route points where the policy says, and it reaches its local
 * SCVM and its current gateway (src/apply/verify-targets.ts). Pure: the I/O
 * side gathers an observation and ping results.
 *
 * Verdicts (issue 14), worst first:
 * - `failed`: a finding that makes the host wrong (agent, route, local SCVM or gateway unreachable);
 * - `inconclusive`: the host could not be verified (unreachable, or a command timed out during
 *   verification): not known to be wrong, not known to be right;
 * - `warning`: verified, but a sampled peer SCVM does not answer from it (a failover could not use it);
 * - `ok`: verified.
 */
export type VerifyVerdict = 'ok' | 'warning' | 'inconclusive' | 'failed';

export interface HostVerification {
  node: string;
  verdict: VerifyVerdict;
  /** Verified: `ok` or `warning`. */
  ok: boolean;
  /** Human findings, each one line; empty unless `failed`. */
  problems: string[];
  /** Unreachable sampled peers, each one line (verdict `warning`). */
  warnings: string[];
  /** Why there is no verdict (verdict `inconclusive`). */
  reason?: string;
  /** The findings that have a stable code and a fix of their own (e.g. AGENT_BLIND), also in `problems`. */
  findings?: { code: string; message: string; fix: string }[];
  /** Where 33.2 is routed now and whether that is the local SCVM. */
  route?: { gateway: string; local: boolean };
  /** Every pinged address that did not answer (decisive or peer). */
  unreachableIps: string[];
}

/** No verdict for `node`: it could not be observed or a command timed out while verifying it. */
export function inconclusive(node: string, reason: string): HostVerification {
  return { node, verdict: 'inconclusive', ok: false, problems: [], warnings: [], reason, unreachableIps: [] };
}

export interface VerifyInputs {
  manifest: Manifest;
  node: NodeSpec;
  observed: EsxiObserved;
  /** When apply started on this host (host clock, epoch s): the heartbeat must be newer. */
  since: number;
  /** IP → reachable, from the host's own pings (src/apply/verify-targets.ts says which). */
  pings: Record<string, boolean>;
  /** The agent version apply leaves on this host (wantedAgentVersion); default the manifest's. */
  wantedVersion?: string;
}

/**
 * The agent version a host must report after apply. Apply asked for the manifest's version only
 * where it wrote the agent script or (re)started the loop. Elsewhere the running agent was left
 * alone and only re-reads the files apply wrote: a `--target` join updates its peers' reroute.conf
 * and known_hosts but does not upgrade them, so a peer on an older agent is verified at the
 * version it runs (status still reports it off version until a full apply upgrades it).
 */
export function wantedAgentVersion(
  manifestVersion: string,
  actions: readonly { op: string; path?: string }[],
  agentLoopPath: string,
  runningVersion: string | undefined,
): string {
  const touchesAgent = actions.some(
    (a) => a.op === 'restart-agent' || a.op === 'start-agent' || (a.op === 'write-file' && a.path === agentLoopPath),
  );
  return touchesAgent || runningVersion === undefined ? manifestVersion : runningVersion;
}

/** Where a drained host's route must point (the pin names the target's storage IP; the route uses its gateway). */
export function drainGateway(manifest: Manifest, node: NodeSpec): string | undefined {
  return node.drain === undefined ? undefined : scvmGateway(drainTarget(manifest, node));
}

export function judgeHost(v: VerifyInputs): HostVerification {
  const { manifest, node, observed } = v;
  const wanted = v.wantedVersion ?? manifest.version;
  const problems: string[] = [];
  const findings: NonNullable<HostVerification['findings']> = [];
  const hb = observed.heartbeat;
  // Shadow mode: the agent never moves the route (a legacy agent may still be in charge), so the
  // route is not held to the agent's choice, the policy or a drain; the agent itself still is.
  const shadow = manifest.routing.mode === 'shadow';
  // The loop's parallel pings are forks that show the same command line, so the
  // count of matching processes is not the count of loops; the lock makes the
  // loop a singleton, and the heartbeat names the one that holds it.
  if (observed.agentProcesses.length === 0) problems.push('no agent loop is running');
  else if (hb && !observed.agentProcesses.some((p) => p.pid === hb.pid))
    problems.push(`the heartbeat names pid ${hb.pid}, which is not running`);
  if (!hb) problems.push('the agent has written no heartbeat');
  else {
    if (hb.version !== wanted) problems.push(`agent reports version ${hb.version}, wanted ${wanted}`);
    if (hb.updated < v.since) problems.push('the agent heartbeat has not been updated since apply');
    const sight = agentSight(hb, observed.now, () => undefined);
    const wantedMode = manifest.routing.mode;
    // An old agent writes no mode: it is active (and already named by the version check).
    if ((hb.mode ?? 'active') !== wantedMode)
      problems.push(
        `the agent runs in ${hb.mode ?? 'active'} mode, the manifest wants ${wantedMode} (it re-reads reroute.conf every interval: wait one, or re-apply)`,
      );
    if (sight.blind) {
      // Blind fails in both modes: once active, it would not move IO off a dead SCVM.
      const f = blindFinding(manifest, sight);
      findings.push(f);
      problems.push(`[${f.code}] ${f.message}. Fix: ${f.fix}`);
    } else if (hb.fetch === 'fail') {
      // An agent that cannot read the session list never sees an SCVM fail: it would sit on the
      // local route whatever happens (issue 11: a firewall ruleset off, a command ESXi lacks).
      const ruleset = manifest.routing.sessionSource === 'ssh' ? 'sshClient' : 'httpClient';
      problems.push(
        `the agent cannot fetch the session list, so it would never fail over (is the ${ruleset} firewall ruleset open to the SCVMs? \`reroute preflight\` checks it)`,
      );
    }
  }
  const route = observed.nfsRoute;
  let routeInfo: HostVerification['route'];
  if (!route) {
    if (!shadow) problems.push(`no ${manifest.nfsAddress}/32 route`);
  } else {
    // Via the local SCVM's access IP (RDMA) is local as well; via the storage IP too (the agent moves it).
    routeInfo = { gateway: route.gateway, local: route.gateway === node.scvm.storageIp || route.gateway === node.scvm.accessIp };
    const clusterIps = manifest.nodes.flatMap(localScvmIps);
    if (!clusterIps.includes(route.gateway))
      problems.push(`${manifest.nfsAddress} is routed via ${route.gateway}, which is no SCVM of this cluster`);
    if (hb && hb.target !== '' && hb.target !== route.gateway)
      problems.push(`route points at ${route.gateway} but the agent believes ${hb.target}`);
    const pin = shadow ? undefined : drainGateway(manifest, node);
    if (pin !== undefined && route.gateway !== pin) {
      // The agent follows a pin only to a healthy access point: a drain that did not happen must not pass.
      problems.push(`IO is not drained: ${manifest.nfsAddress} is routed via ${route.gateway}, the drain wants ${pin}`);
    }
    const localReachable = v.pings[node.scvm.storageIp] !== false && v.pings[scvmGateway(node)] !== false;
    if (
      !shadow &&
      !routeInfo.local &&
      localReachable &&
      node.drain === undefined &&
      hb?.targetKind !== 'pin' &&
      hb?.targetKind !== 'remote-storage'
    ) {
      // Off-local while the local SCVM answers is only right during failback delay (remote-storage) or a drain.
      problems.push(`IO is served by ${route.gateway} although the local SCVM ${node.scvm.storageIp} answers`);
    }
  }
  const { unreachableIps, failing, warnings } = judgePings(manifest, node, routeInfo?.gateway, v.pings);
  if (failing.length > 0) problems.push(`cannot reach ${failing.join(', ')}`);
  const verdict: HostVerification = {
    node: node.name,
    verdict: problems.length > 0 ? 'failed' : warnings.length > 0 ? 'warning' : 'ok',
    ok: problems.length === 0,
    problems,
    warnings,
    route: routeInfo,
    unreachableIps,
  };
  if (findings.length > 0) verdict.findings = findings;
  return verdict;
}

/**
 * Addresses that did not answer, split: the local SCVM and the current gateway fail the host
 * (its IO path), a peer is a warning naming it (only a failover would need it).
 */
export function judgePings(
  manifest: Manifest,
  node: NodeSpec,
  gateway: string | undefined,
  pings: Record<string, boolean>,
): { unreachableIps: string[]; failing: string[]; warnings: string[] } {
  const unreachableIps = Object.entries(pings)
    .filter(([, ok]) => !ok)
    .map(([ip]) => ip)
    .sort();
  const decisive = pingTargets(manifest, node, gateway).decisive;
  const failing = unreachableIps.filter((ip) => decisive.includes(ip));
  const warnings = unreachableIps
    .filter((ip) => !decisive.includes(ip))
    .map((ip) => `peer ${ownerOf(manifest, ip) ?? 'SCVM'} (${ip}) does not answer pings from ${node.name}: a failover could not use it`);
  return { unreachableIps, failing, warnings };
}
