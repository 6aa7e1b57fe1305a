/**
 * What the agent's heartbeat says about its own sight and, in shadow mode, about the decisions it
 * would have made (issue 12). Pure; shared by `reroute status` (src/engine/cluster-status.ts)
 * and apply's verification (src/apply/verify-host.ts), so both name a blind agent the same way.
 */
import type { Manifest } from '../manifest/manifest-types';
import type { AgentHeartbeat, TargetKind } from './observed-types';

/** Shadow mode: the agent's own choice beside the route the host really has. */
export interface ShadowView {
  /** Gateway the agent would route 33.2 through ('' = none). */
  target: string;
  /** The node that gateway belongs to, when it is one of the cluster's. */
  targetNode?: string;
  kind?: TargetKind;
  /** Route changes the agent would have made since it started. */
  changes: number;
  /** The real route's gateway differs from `target` now. */
  disagree: boolean;
  /** Epoch seconds (host clock) since when it differs, and for how long at observation. */
  disagreeSince?: number;
  disagreeForSeconds?: number;
}

export interface AgentSight {
  /** From the heartbeat; absent for agents before issue 12. */
  mode?: 'active' | 'shadow';
  /** No session list for BLIND_AFTER iterations: the agent cannot see an SCVM fail. */
  blind: boolean;
  fetchFails?: number;
  /** Seconds since the last good session list; absent when it never had one. */
  listAgeSeconds?: number;
  shadow?: ShadowView;
}

export function agentSight(hb: AgentHeartbeat | undefined, now: number, nodeOfGateway: (ip: string) => string | undefined): AgentSight {
  if (hb === undefined) return { blind: false };
  const out: AgentSight = { blind: hb.blind === true };
  if (hb.mode !== undefined) out.mode = hb.mode;
  if (hb.fetchFails !== undefined) out.fetchFails = hb.fetchFails;
  if (hb.listAgeSeconds !== undefined) out.listAgeSeconds = hb.listAgeSeconds;
  if (hb.mode === 'shadow') {
    const target = hb.shadowTarget ?? '';
    const view: ShadowView = { target, changes: hb.shadowChanges ?? 0, disagree: hb.disagree === true };
    const node = target === '' ? undefined : nodeOfGateway(target);
    if (node !== undefined) view.targetNode = node;
    if (hb.shadowKind !== undefined) view.kind = hb.shadowKind;
    if (view.disagree && hb.disagreeSince !== undefined) {
      view.disagreeSince = hb.disagreeSince;
      view.disagreeForSeconds = Math.max(0, now - hb.disagreeSince);
    }
    out.shadow = view;
  }
  return out;
}

/** The session-list health in a few words, for a table cell. */
export function describeSight(s: AgentSight): string {
  const age = s.listAgeSeconds === undefined ? 'never had one' : `last ${s.listAgeSeconds}s ago`;
  if (s.blind) return `BLIND (${s.fetchFails ?? '?'} fails, ${age})`;
  if ((s.fetchFails ?? 0) > 0) return `${s.fetchFails} fail(s), ${age}`;
  return s.fetchFails === undefined ? '-' : 'ok';
}

/** Why a blind agent matters and what to check, naming this cluster's session source. */
export function blindFinding(manifest: Manifest, s: AgentSight): { code: 'AGENT_BLIND'; message: string; fix: string } {
  const age = s.listAgeSeconds === undefined ? 'it never had one' : `the last one is ${s.listAgeSeconds} s old`;
  const message = `the agent is blind: no session list for ${s.fetchFails ?? 'several'} iterations (${age}), so it cannot see an SCVM fail and keeps the route`;
  const fix =
    manifest.routing.sessionSource === 'ssh'
      ? `meta unreachable from this host: check the sshClient firewall ruleset, ssh from this ESXi host to the SCVMs as ${manifest.access.scvm.user} (cluster key in its authorized_keys), and run \`reroute preflight\``
      : `meta unreachable from this host: check the httpClient firewall ruleset, the REST port ${manifest.routing.rest.port} on the SCVMs (${manifest.routing.rest.path}), and run \`reroute preflight\``;
  return { code: 'AGENT_BLIND', message, fix };
}
