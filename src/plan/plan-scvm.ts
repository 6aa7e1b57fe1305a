import { authorizedKeyForcesCommand, authorizedKeyFrom, isClusterAuthorizedKey } from '../desired/authorized-key';
import type { DesiredScvm } from '../desired/desired-types';
import type { ScvmObserved } from '../observe/observed-types';
import { because, becauseOf } from './plan-reasons';
import type { Action, PlanReason } from './plan-types';
import type { HostDraft } from './plan-esxi';
import { planSessionClients } from './plan-zbs-session';

/** "from= gains 10.0.0.4, 10.1.0.4; loses 10.0.0.9": why a join or removal touches every SCVM. */
function fromChange(oldEntry: string, newEntry: string): string | undefined {
  const a = authorizedKeyFrom(oldEntry);
  const b = authorizedKeyFrom(newEntry);
  const gains = b.filter((x) => !a.includes(x));
  const loses = a.filter((x) => !b.includes(x));
  const parts = [...(gains.length ? [`gains ${gains.join(', ')}`] : []), ...(loses.length ? [`loses ${loses.join(', ')}`] : [])];
  return parts.length ? `key entry from= ${parts.join('; ')}` : undefined;
}

/** Why an entry of ours is replaced: an old one without a forced command first (it granted a shell). */
function entryChange(oldEntry: string, newEntry: string): string {
  const parts: string[] = [];
  if (!authorizedKeyForcesCommand(oldEntry) && authorizedKeyForcesCommand(newEntry))
    parts.push('key entry gains restrict and a forced read-only command (the old one allowed any command)');
  const from = fromChange(oldEntry, newEntry);
  if (from !== undefined) parts.push(from);
  return parts.length > 0 ? parts.join('; ') : 'key entry differs';
}

/**
 * Our one entry on this SCVM. The new entry is added before stale ones of this
 * cluster are removed, so agents never lose their login in between. Entries
 * of other clusters and foreign lines are never touched.
 */
export function planScvmApply(d: DesiredScvm, o: ScvmObserved, cluster: string): HostDraft {
  if (d.authorizedKey === undefined) return planScvmWithoutKey(d, o, cluster);
  const ours = o.managedKeys.filter((l) => isClusterAuthorizedKey(l, cluster));
  const have = ours.filter((l) => l.trim() === d.authorizedKey).length;
  const stale = [...new Set(ours.filter((l) => l.trim() !== d.authorizedKey))];
  const actions: Action[] = [];
  const reasons: PlanReason[] = [];
  if (have > 1) {
    reasons.push(because('key-duplicated', 'key entry duplicated'));
    actions.push({ op: 'authorized-key-remove', entry: d.authorizedKey }, { op: 'authorized-key-add', entry: d.authorizedKey });
  } else if (have === 0) {
    actions.push({ op: 'authorized-key-add', entry: d.authorizedKey });
    const first = stale[0];
    reasons.push(
      first === undefined ? because('key-missing', 'key entry missing') : because('key-changed', entryChange(first, d.authorizedKey)),
    );
  }
  for (const s of stale) actions.push({ op: 'authorized-key-remove', entry: s });
  if (have === 1 && stale.length > 0) reasons.push(because('key-stale', 'stale key entry of this cluster'));
  // After the add: the agent logs in as the operator user now, root's old entry only grants root.
  const rootOld = rootEntries(o, cluster);
  for (const entry of rootOld) actions.push({ op: 'authorized-key-remove', entry, file: 'root' });
  if (rootOld.length > 0)
    reasons.push(because('key-root-old', "old key entry in root's authorized_keys (the agent logs in as the operator user now)"));
  // After the key: the session registration needs no login of the agent and touches no route.
  const session = planSessionClients(d, o);
  actions.push(...session.actions);
  reasons.push(...session.reasons);
  const keyChanged = actions.some((a) => a.op === 'authorized-key-add' || a.op === 'authorized-key-remove');
  return { change: actions.length === 0 ? 'noop' : keyChanged && ours.length === 0 ? 'create' : 'update', reasons, actions };
}

/** No entry wanted (nothing logs in with the cluster key): every entry of ours goes, with why. */
function planScvmWithoutKey(d: DesiredScvm, o: ScvmObserved, cluster: string): HostDraft {
  const ours = [...new Set(o.managedKeys.filter((l) => isClusterAuthorizedKey(l, cluster)))];
  const rootOld = rootEntries(o, cluster);
  const actions: Action[] = [
    ...ours.map((entry): Action => ({ op: 'authorized-key-remove', entry })),
    ...rootOld.map((entry): Action => ({ op: 'authorized-key-remove', entry, file: 'root' })),
  ];
  const reasons = actions.length > 0 ? [because('key-unneeded', `key entry ${d.noKeyReason ?? 'not needed'}`)] : [];
  const session = planSessionClients(d, o);
  actions.push(...session.actions);
  reasons.push(...session.reasons);
  return { change: actions.length === 0 ? 'noop' : 'update', reasons, actions };
}

function rootEntries(o: ScvmObserved, cluster: string): string[] {
  return [...new Set((o.rootManagedKeys ?? []).filter((l) => isClusterAuthorizedKey(l, cluster)))];
}

export function planScvmDestroy(o: ScvmObserved, cluster: string): HostDraft {
  const ours = [...new Set(o.managedKeys.filter((l) => isClusterAuthorizedKey(l, cluster)))];
  const rootOld = rootEntries(o, cluster);
  const actions: Action[] = [
    ...ours.map((entry): Action => ({ op: 'authorized-key-remove', entry })),
    ...rootOld.map((entry): Action => ({ op: 'authorized-key-remove', entry, file: 'root' })),
  ];
  return {
    change: actions.length > 0 ? 'delete' : 'noop',
    reasons: actions.length > 0 ? [becauseOf('authorized_keys', 'teardown', 'key entry')] : [],
    actions,
  };
}
