/**
 * Destroy must never hurt IO (issue 13). Per ESXi host, the planner decides from
 * observation what a teardown may do with the 192.168.33.2 route (and the other
 * /32 routes this cluster owns), and whether the host may be torn down at all:
 *
 * - 33.2 via the local SCVM, nothing says it is unhealthy: tear down, leave the route
 *   there (as the seed's clear-hypervisor did) unless `--remove-routes`.
 * - failed over (33.2 via another SCVM), drained (pin) or the local SCVM unhealthy (the
 *   agent's fresh heartbeat chose another target): refuse the host. Deleting the route
 *   would send IO to the SCVM that is down or in maintenance, and stopping the agent
 *   would leave IO on a remote SCVM with nobody to fail back or over again.
 * - `--force-host NODE`: stop the agent and remove our files, every route left as it is.
 *
 * Pure: desired + observed + options in, a decision out.
 */
import { AGENT_CONF_FILE, PIN_FILE } from '../agent/bundle-layout';
import type { DesiredCluster, DesiredEsxi } from '../desired/desired-types';
import type { EsxiObserved, ObservedRoute } from '../observe/observed-types';
import type { HostPlan, RouteDecision } from './plan-types';

export interface DestroyOptions {
  /** Also delete this cluster's /32 routes on hosts served by their healthy local SCVM. */
  removeRoutes?: boolean;
  /** Nodes to tear down although refused: agent stopped, files removed, every route left as is. */
  forceHosts?: string[];
}

/** May teardown delete this /32? Only a cluster destination via a cluster gateway (or the host's own storage gateway). */
export function routeIsOurs(r: ObservedRoute, d: DesiredEsxi, desired: DesiredCluster): boolean {
  if (r.prefixLength !== 32) return false;
  const gateways = new Set(desired.clusterGateways);
  if (d.storageGateway !== undefined) gateways.add(d.storageGateway);
  const addresses = new Set(desired.clusterAddresses ?? [desired.nfsAddress, ...desired.clusterGateways]);
  addresses.add(desired.nfsAddress);
  if (d.storageGateway !== undefined) addresses.add(d.storageGateway);
  return gateways.has(r.gateway) && addresses.has(r.network);
}

/** This cluster's /32 routes on the host, 33.2 first, each once. */
export function ourRoutes(d: DesiredEsxi, o: EsxiObserved, desired: DesiredCluster): ObservedRoute[] {
  const seen = new Set<string>();
  return [...(o.nfsRoute ? [o.nfsRoute] : []), ...o.otherHostRoutes].filter((r) => {
    const k = `${r.network}/${r.prefixLength} ${r.gateway}`;
    if (!routeIsOurs(r, d, desired) || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function confValue(conf: string, key: string): string | undefined {
  const m = new RegExp(`^${key}=(?:'([^']*)'|(\\S*))$`, 'm').exec(conf);
  const v = m?.[1] ?? m?.[2];
  return v === undefined || v === '' || v === '-' ? undefined : v;
}

/**
 * The local SCVM's gateways (storage IP, and the access IP on RDMA clusters), read from the
 * desired reroute.conf: the very values the agent calls `local` (esxi/agent/reroute-loop.sh,
 * kind_of), so destroy and the agent never disagree on which SCVM is this host's own.
 */
export function localGateways(d: DesiredEsxi): string[] {
  const conf = d.files.find((f) => f.path === `${d.installDir}/${AGENT_CONF_FILE}`)?.content ?? '';
  return ['LOCAL_STORAGE_IP', 'LOCAL_ACCESS_IP'].flatMap((k) => confValue(conf, k) ?? []);
}

/** `node-2's SCVM` for a gateway that is another node's local SCVM address. */
function ownerOf(gateway: string, desired: DesiredCluster): string {
  const owner = desired.esxi.find((e) => localGateways(e).includes(gateway));
  return owner === undefined ? 'another SCVM of the cluster' : `${owner.node}'s SCVM`;
}

const routeText = (r: ObservedRoute) => `${r.network}/${r.prefixLength} via ${r.gateway}`;

function refuseFix(node: string, why: 'drained' | 'failed-over'): string {
  const first =
    why === 'drained'
      ? `remove \`drain\` from ${node} in the manifest and run \`reroute apply\` (IO returns by the failback policy)`
      : `heal ${node}'s SCVM and wait until the agent fails back (status shows the route local)`;
  return `${first}, then destroy again; or \`reroute destroy --force-host ${node}\` to stop the agent and leave the route as it is.`;
}

/**
 * What teardown does with one reachable ESXi host's routes. `hasOurs`: the host still has
 * something of ours (agent, crontab line, files): only then can it be refused; a host with
 * nothing left has no agent managing its route, which is then simply left as it is.
 */
export function decideDestroyRoutes(
  d: DesiredEsxi,
  o: EsxiObserved,
  desired: DesiredCluster,
  opts: { removeRoutes?: boolean; forced?: boolean; hasOurs: boolean },
): RouteDecision {
  const routes = ourRoutes(d, o, desired);
  const listed = routes.map(routeText);
  const nfs = o.nfsRoute;
  const local = localGateways(d);
  const nfsText = nfs === undefined ? 'no 192.168.33.2/32 route (the private link to the local SCVM)' : `${routeText(nfs)}`;
  if (opts.forced === true) {
    return {
      code: 'forced-keep',
      detail: `--force-host: the agent is stopped and our files removed; every route stays as it is (${nfsText})`,
      routes: listed,
    };
  }

  // Evidence against tearing down, strongest first. The heartbeat counts only while fresh.
  const hb = o.heartbeat;
  const fresh = hb !== undefined && o.now - hb.updated <= (desired.heartbeatStaleSeconds ?? 90);
  const pinned = o.pinTarget !== undefined || o.files[`${d.installDir}/${PIN_FILE}`] !== undefined;
  let refusal: RouteDecision | undefined;
  if (pinned || d.pinTarget !== undefined || (fresh && hb.targetKind === 'pin')) {
    const to = d.pinTargetNode ?? o.pinTarget?.trim() ?? d.pinTarget ?? 'another SCVM';
    refusal = {
      code: 'refused-drained',
      detail: `drained to ${to} (${nfsText}): tearing down would end the drain with nobody to move IO back`,
      routes: listed,
      fix: refuseFix(d.node, 'drained'),
    };
  } else if (nfs !== undefined && !local.includes(nfs.gateway) && desired.clusterGateways.includes(nfs.gateway)) {
    refusal = {
      code: 'refused-failed-over',
      detail: `failed over: ${routeText(nfs)} (${ownerOf(nfs.gateway, desired)}), not the local SCVM; deleting it would send IO to the local SCVM, and without the agent nothing fails back or over again`,
      routes: listed,
      fix: refuseFix(d.node, 'failed-over'),
    };
  } else if (fresh && (hb.targetKind === 'remote-storage' || hb.targetKind === 'remote-management')) {
    refusal = {
      code: 'refused-failed-over',
      detail: `failed over: the agent's heartbeat (${o.now - hb.updated} s old) routes via ${hb.target || 'a peer'} (${hb.targetKind})`,
      routes: listed,
      fix: refuseFix(d.node, 'failed-over'),
    };
  } else if (fresh && hb.mode === 'shadow' && hb.shadowKind !== undefined && hb.shadowKind !== 'local') {
    refusal = {
      code: 'refused-local-unhealthy',
      detail: `the local SCVM looks unhealthy: the agent (shadow mode) would route via ${hb.shadowTarget || 'nothing'} (${hb.shadowKind})`,
      routes: listed,
      fix: refuseFix(d.node, 'failed-over'),
    };
  }
  if (refusal !== undefined && opts.hasOurs) return refusal;

  const nfsLocal = nfs === undefined || local.includes(nfs.gateway);
  if (refusal !== undefined || !nfsLocal) {
    const why = refusal !== undefined ? 'nothing of ours is left on the host, so no agent manages it' : "the gateway is not this cluster's";
    return { code: 'keep-unmanaged', detail: `${nfsText} left as it is: ${why}`, routes: listed };
  }
  if (routes.length === 0) return { code: 'no-route', detail: 'no /32 route of this cluster on the host', routes: listed };
  if (opts.removeRoutes === true)
    return {
      code: 'delete-local',
      detail: `--remove-routes: ${listed.join(', ')} deleted (served by the healthy local SCVM)`,
      routes: listed,
    };
  return {
    code: 'keep-local',
    detail: `${listed.join(', ')} left in place (the local SCVM serves IO; --remove-routes deletes it)`,
    routes: listed,
  };
}

/**
 * A refused host's agent keeps running, and with the ssh session source it logs in to every
 * SCVM with the cluster key: while any host is refused, no SCVM key entry is removed (a later
 * destroy, once those hosts are healed or forced, removes them).
 */
export function holdKeysForRefused(esxiPlans: HostPlan[], scvmPlans: HostPlan[]): HostPlan[] {
  const refused = esxiPlans.filter((h) => h.change === 'refused').map((h) => h.node);
  if (refused.length === 0) return scvmPlans;
  const note = `key entry kept: the agent on ${refused.join(', ')} (refused) still runs and logs in with it; destroy again once ${refused.length === 1 ? 'that host is' : 'those hosts are'} torn down`;
  return scvmPlans.map((h) =>
    h.actions.length === 0 ? h : { ...h, change: 'noop', reasons: [], actions: [], notes: [...(h.notes ?? []), note] },
  );
}

/** `1 host refused (node-1): …` lines for the end of a destroy, with each host's fix. */
export function refusedSummary(hosts: HostPlan[]): string[] {
  return hosts
    .filter((h) => h.change === 'refused')
    .map(
      (h) =>
        `${h.node}: ${h.routeDecision?.detail ?? h.reasons[0]?.detail ?? 'refused'}\n  fix: ${h.routeDecision?.fix ?? 'heal or un-drain first'}`,
    );
}
