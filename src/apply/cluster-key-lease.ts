import { KEY_LEASE_DIR } from '../agent/bundle-layout';
import { RerouteError } from '../errors/reroute-error';
import type { HostPlan, Plan } from '../plan/plan-types';

/**
 * One cluster identity, whoever applies (issue 13 item 6). Two operators with two state folders
 * could each install their own keypair on half the hosts and their own entry next to the other's
 * on the SCVMs. So an apply that installs the cluster key or edits an SCVM key entry first takes
 * the cluster key lease on every reachable ESXi host, in manifest order (an atomic mkdir, the
 * host lease's own zr_lease_take, owned by this run: user@machine:pid), then checks that the
 * key state it planned from is still what the hosts hold. Both operators try node-1 first, so
 * exactly one gets past it; the other fails before any change, with the holder named.
 */

/** Does this plan install the cluster key or change an SCVM key entry? */
export function planChangesClusterKey(plan: Plan): boolean {
  return plan.hosts.some((h) =>
    h.actions.some((a) => (a.op === 'write-file' && a.contentRef === 'reroute-private-key') || a.op === 'authorized-key-add'),
  );
}

/** The ESXi hosts that carry the lease, in plan (manifest) order: every reachable one with an install dir. */
export function keyLeaseHosts(plan: Plan): HostPlan[] {
  return plan.hosts.filter((h) => h.host === 'esxi' && h.change !== 'unreachable' && h.installDir !== undefined);
}

export function keyLeaseDir(h: HostPlan): string {
  return `${h.installDir ?? ''}/${KEY_LEASE_DIR}`;
}

/**
 * Long enough for the whole apply: ESXi hosts run `parallelism` at a time, each within the host
 * lease's TTL, after the SCVMs.
 */
export function keyLeaseTtlSeconds(hostTtlSeconds: number, esxiHosts: number, parallelism: number): number {
  return hostTtlSeconds * (2 + Math.ceil(esxiHosts / Math.max(1, parallelism)));
}

/** The loser of a race for the lease: nothing was changed. */
export function keyLeaseHeldError(node: string, holder: string): RerouteError {
  return new RerouteError(
    'LEASE_HELD',
    `another apply is changing this cluster's key right now: the cluster key lease on ${node} is held (${holder}); nothing was changed`,
    'Wait for that apply to finish, then obtain its state (`reroute state export` there, `reroute state import FILE` here) and run `reroute plan` again: it adopts the installed key. A lease left by a killed run expires by itself (its expiry is in the message).',
    { details: { node, rule: 'cluster-key-lease' } },
  );
}

/** The hosts' key state moved since this run observed them: another operator applied in between. */
export function keyChangedError(what: string[]): RerouteError {
  return new RerouteError(
    'PLAN_STALE',
    `the cluster key on the hosts changed since this run observed them (${what.join(', ')}): another operator applied meanwhile; nothing was changed`,
    'Obtain the state of whoever applied (`reroute state export` there, `reroute state import FILE` here), then run `reroute plan` again.',
    { details: { rule: 'cluster-key-changed', hosts: what } },
  );
}
