/**
 * `--target NODE` in an apply plan (issue 13): the named nodes, plus every host whose files
 * name them. A joining node is useless to its peers until their reroute.conf lists its SCVM,
 * their known_hosts pins its SCVM host key, their firewall allow-list lets the agent reach it,
 * and every SCVM's key entry lets the new ESXi log in. So the planner plans the whole cluster
 * and keeps, on the other hosts, exactly those items:
 *
 * - ESXi: writes of reroute.conf and keys/known_hosts (written whole: any other drift in the
 *   same file goes with it, the file has one content), the firewall-ruleset step when it adds
 *   an address of a target's SCVM (+ the auto-backup that keeps it over a reboot). Only on hosts
 *   with our agent installed (no conf, no agent that reads it). Nothing else: a hung agent,
 *   an old script or a crontab drift on a peer stays for a full apply.
 * - SCVM: every action but the ZBS session registration (the key entry lists every ESXi IP).
 *
 * `--target-only` keeps the narrow plan (the named ESXi hosts, every SCVM) and names the hosts
 * it leaves stale. Pure: plans in, plan parts and the explanation out.
 */
import { AGENT_CONF_FILE, KNOWN_HOSTS_FILE } from '../agent/bundle-layout';
import type { DesiredCluster, DesiredEsxi } from '../desired/desired-types';
import { peerFileDrift, type PeerFile } from '../desired/peer-files';
import type { ObservedCluster } from '../observe/observed-types';
import { because, becauseOf, reasonTexts } from './plan-reasons';
import type { Action, HostPlan, PlanReason, TargetScope, TargetScopeEntry } from './plan-types';

type FirewallAction = Extract<Action, { op: 'firewall-ruleset' }>;

function isPeerFilePath(d: DesiredEsxi, path: string): boolean {
  return path === `${d.installDir}/${AGENT_CONF_FILE}` || path === `${d.installDir}/${KNOWN_HOSTS_FILE}`;
}

function list(xs: string[]): string {
  return xs.join(', ');
}

/** "peer list gains node-3", or what else we can say about a differing peer file. */
function fileReason(f: PeerFile | undefined, path: string, observedSha: string | undefined, targets: string[]): PlanReason {
  const item = path.endsWith(`/${KNOWN_HOSTS_FILE}`) ? KNOWN_HOSTS_FILE : AGENT_CONF_FILE;
  const what = item === KNOWN_HOSTS_FILE ? 'SCVM host keys (known_hosts)' : 'peer list (reroute.conf)';
  if (f === undefined) return becauseOf(item, 'peer-file-differs', `${what} differs from the manifest's`);
  const drift = peerFileDrift(f, observedSha);
  if (drift.lacks !== undefined) return becauseOf(item, 'peer-file-gains', `${what} gains ${drift.lacks}`);
  const named = targets.filter((t) => f.withoutPeer[t] !== undefined);
  return becauseOf(
    item,
    'peer-file-differs',
    `${what} differs from the manifest's${named.length > 0 ? ` (the new one names ${list(named)})` : ''}; written whole`,
  );
}

/** The actions of a non-target ESXi host that depend on the targets, with why. */
function dependentEsxi(
  h: HostPlan,
  d: DesiredEsxi,
  desired: DesiredCluster,
  observed: ObservedCluster,
  targets: string[],
): { actions: Action[]; because: PlanReason[] } {
  const o = observed.esxi[h.node];
  if (o === undefined || !o.reachable) return { actions: [], because: [] };
  const targetIps = new Set((desired.peerView?.nodes ?? []).filter((n) => targets.includes(n.node)).flatMap((n) => n.scvmIps));
  const files = desired.peerView?.files[h.node] ?? [];
  const actions: Action[] = [];
  const why: PlanReason[] = [];
  let backup = false;
  for (const a of h.actions) {
    if (a.op === 'write-file' && isPeerFilePath(d, a.path)) {
      actions.push(a);
      why.push(
        fileReason(
          files.find((f) => f.path === a.path),
          a.path,
          o.files[a.path]?.sha256,
          targets,
        ),
      );
    } else if (a.op === 'firewall-ruleset') {
      const adds = (a as FirewallAction).steps.filter((s) => s.startsWith('add=') && targetIps.has(s.slice(4))).map((s) => s.slice(4));
      if (adds.length === 0) continue;
      actions.push(a);
      backup ||= a.steps.length > 0;
      why.push(because('firewall-open', `firewall ruleset ${a.ruleset} allows ${list(adds)}`));
    }
  }
  // The firewall lives in esx.conf: without auto-backup the allow-list change is lost at reboot.
  if (backup) actions.push({ op: 'auto-backup' });
  return { actions, because: why };
}

function agentInstalled(d: DesiredEsxi, observed: ObservedCluster): boolean {
  const o = observed.esxi[d.node];
  return o !== undefined && o.reachable && o.files[`${d.installDir}/${AGENT_CONF_FILE}`] !== undefined;
}

/**
 * Keep the targets' hosts, and of every other host what names a target. `esxi`/`scvm` are the
 * plans of every host of the cluster (apply mode), in manifest order.
 */
export function scopeToTargets(
  all: { esxi: HostPlan[]; scvm: HostPlan[] },
  desired: DesiredCluster,
  observed: ObservedCluster,
  targets: string[],
  only: boolean,
): { esxi: HostPlan[]; scvm: HostPlan[]; scope: TargetScope } {
  const isTarget = (node: string) => targets.includes(node);
  const included: TargetScopeEntry[] = [];
  const leftOut: TargetScopeEntry[] = [];
  const esxi: HostPlan[] = [];
  for (const h of all.esxi) {
    if (isTarget(h.node)) {
      esxi.push(h);
      continue;
    }
    const d = desired.esxi.find((x) => x.node === h.node);
    if (d === undefined) continue;
    if (h.change === 'unreachable') {
      // Its peer files could not be read: it may well lack the new peer. Reported, never skipped silently.
      const because = [`could not be observed (${h.unreachableReason ?? 'unreachable'}): its peer list may lack ${list(targets)}`];
      if (only) leftOut.push({ node: h.node, host: 'esxi', because });
      else {
        esxi.push(h);
        included.push({ node: h.node, host: 'esxi', because });
      }
      continue;
    }
    if (!agentInstalled(d, observed)) continue;
    const dep = dependentEsxi(h, d, desired, observed, targets);
    if (dep.actions.length === 0) continue;
    const entry = { node: h.node, host: 'esxi' as const, because: reasonTexts(dep.because) };
    if (only) {
      leftOut.push(entry);
      continue;
    }
    included.push(entry);
    const p: HostPlan = { ...h, change: 'update', reasons: dep.because, actions: dep.actions };
    // Notes are about the firewall ruleset; they go only where its step does.
    delete p.notes;
    if (h.notes !== undefined && dep.actions.some((a) => a.op === 'firewall-ruleset')) p.notes = h.notes;
    esxi.push(p);
  }

  const scvm: HostPlan[] = [];
  for (const h of all.scvm) {
    // --target-only keeps the earlier behaviour: every SCVM, whole (their entry lists every ESXi IP).
    if (only || isTarget(h.node) || h.change === 'unreachable') {
      scvm.push(h);
      if (!only && !isTarget(h.node))
        included.push({
          node: h.node,
          host: 'scvm',
          because: [`could not be observed (${h.unreachableReason ?? 'unreachable'}): its key entry may lack ${list(targets)}`],
        });
      continue;
    }
    const dropped = h.actions.filter((a): a is Extract<Action, { op: 'register-session-clients' }> => a.op === 'register-session-clients');
    const actions = h.actions.filter((a) => a.op !== 'register-session-clients');
    if (actions.length === 0) continue;
    const kept = h.reasons.filter((r) => !dropped.some((a) => a.reason === r.detail));
    included.push({ node: h.node, host: 'scvm', because: reasonTexts(kept) });
    scvm.push(dropped.length === 0 ? h : { ...h, reasons: kept, actions });
  }

  const scope: TargetScope = { requested: [...targets], only, included, leftOut };
  return { esxi, scvm, scope };
}

/** The plan warning for `--target-only`: which hosts keep a peer list without the targets. */
export function targetOnlyWarning(scope: TargetScope): string | undefined {
  if (!scope.only || scope.leftOut.length === 0) return undefined;
  const hosts = scope.leftOut.map((e) => `${e.node} (not applied: ${e.because.join('; ')})`);
  return `--target-only leaves ${scope.leftOut.length} host(s) stale: ${hosts.join(', ')}. Their agents cannot fail over to ${list(scope.requested)} until their files name it: run apply with --target ${scope.requested.join(' --target ')} (without --target-only) or a full apply.`;
}
