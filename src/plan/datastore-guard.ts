/**
 * No agent on a datastore it needs (issue 13). The agent's files live in
 * /vmfs/volumes/<datastore>/; on an NFS datastore — worst, one ZBS itself
 * serves through 192.168.33.2 — they vanish (or every read of them hangs)
 * exactly during the storage outage the agent exists for, and cron can no
 * longer start it. So in apply mode the planner plans nothing on a host whose
 * install dir is on NFS (whatever the server) and records a refusal, which
 * `plan` and `apply` turn into DATASTORE_NFS before any change
 * (src/engine/datastore-refusal.ts); `watch` simply finds nothing to do there.
 *
 * Policy, as preflight's: refuse only on positive evidence (the host's own
 * filesystem list says NFS). A type that could not be read, a name the host
 * does not list, or a type that is neither VMFS nor NFS (vsan, vfat, …) is a
 * plan warning: the real host may know better than an old snapshot or a
 * stalled esxcli. Pure.
 */
import type { DesiredCluster } from '../desired/desired-types';
import { datastoreOfInstallDir, isNfsType, isVmfsDatastore } from '../observe/datastore-output';
import type { ObservedCluster } from '../observe/observed-types';
import type { Plan } from './plan-types';

export interface DatastoreRefusal {
  node: string;
  datastore: string;
  /** The host's filesystem type for it: `NFS` or `NFS41`. */
  type: string;
  /** One line: what was found. */
  detail: string;
  /** One line: what to do. */
  fix: string;
}

export type DatastoreVerdict =
  | { node: string; kind: 'refuse'; refusal: DatastoreRefusal }
  | { node: string; kind: 'warn'; warning: string }
  | { node: string; kind: 'ok' };

function fixFor(datastore: string, vmfs: string[]): string {
  const others = vmfs.filter((v) => v !== datastore);
  const names =
    others.length > 0
      ? ` This host's VMFS datastores: ${others.join(', ')}.`
      : ' (`esxcli storage filesystem list` on the host lists them, Type VMFS-5 or VMFS-6.)';
  return `Set nodes[].esxi.datastore to a local VMFS datastore of this host, never an NFS one.${names}`;
}

/** One verdict per targeted ESXi node that was observed. */
export function datastoreVerdicts(
  desired: DesiredCluster,
  observed: ObservedCluster,
  targeted: (node: string) => boolean = () => true,
): DatastoreVerdict[] {
  const out: DatastoreVerdict[] = [];
  for (const d of desired.esxi) {
    const o = observed.esxi[d.node];
    if (!targeted(d.node) || o === undefined || !o.reachable) continue;
    const name = datastoreOfInstallDir(d.installDir) ?? d.installDir;
    const ds = o.datastore;
    if (ds === undefined) {
      // A snapshot or probe from before issue 13: nothing known, nothing claimed (preflight still checks live hosts).
      out.push({ node: d.node, kind: 'ok' });
    } else if (ds.unreadable !== undefined) {
      out.push({
        node: d.node,
        kind: 'warn',
        warning: `${d.node}: the type of datastore ${name} is unknown (${ds.unreadable}); the agent must not live on NFS: check with \`esxcli storage filesystem list\` on the host`,
      });
    } else if (ds.type === undefined) {
      out.push({
        node: d.node,
        kind: 'warn',
        warning: `${d.node}: the host lists no datastore named ${name} (by name or UUID). ${fixFor(name, ds.vmfs)}`,
      });
    } else if (isNfsType(ds.type)) {
      const detail = `${d.node}: datastore ${name} is mounted over NFS (type ${ds.type}): the agent's files would be unreachable exactly when the storage fails, and if ZBS serves it (192.168.33.2) the agent goes down with the SCVM it must fail over from`;
      out.push({
        node: d.node,
        kind: 'refuse',
        refusal: { node: d.node, datastore: name, type: ds.type, detail, fix: fixFor(name, ds.vmfs) },
      });
    } else if (!isVmfsDatastore(ds.type)) {
      out.push({ node: d.node, kind: 'warn', warning: `${d.node}: datastore ${name} is ${ds.type}, not VMFS. ${fixFor(name, ds.vmfs)}` });
    } else {
      out.push({ node: d.node, kind: 'ok' });
    }
  }
  return out;
}

/**
 * Apply mode: a refused host gets no action at all (a note says why), the plan
 * lists the refusals and warns about the unknowns. Destroy mode is left alone:
 * removing an agent from an NFS datastore is what the operator should do.
 */
export function guardAgentDatastores(
  plan: Plan,
  desired: DesiredCluster,
  observed: ObservedCluster,
  targeted?: (node: string) => boolean,
): Plan {
  if (plan.mode !== 'apply') return plan;
  const verdicts = datastoreVerdicts(desired, observed, targeted);
  const refusals = verdicts.flatMap((v) => (v.kind === 'refuse' ? [v.refusal] : []));
  const warnings = verdicts.flatMap((v) => (v.kind === 'warn' ? [v.warning] : []));
  if (refusals.length === 0 && warnings.length === 0) return plan;
  const refused = new Map(refusals.map((r) => [r.node, r]));
  const hosts = plan.hosts.map((h) => {
    const r = h.host === 'esxi' ? refused.get(h.node) : undefined;
    if (!r) return h;
    return {
      ...h,
      change: 'noop' as const,
      reasons: [],
      actions: [],
      notes: [...(h.notes ?? []), `nothing planned: datastore ${r.datastore} is NFS (${r.type})`],
    };
  });
  const out: Plan = { ...plan, hosts };
  if (refusals.length > 0) {
    out.datastoreRefusals = refusals;
    const count = (...c: string[]) => hosts.filter((h) => c.includes(h.change)).length;
    out.summary = { ...plan.summary, add: count('create'), change: count('update', 'takeover') };
  }
  if (warnings.length > 0) out.warnings = [...(plan.warnings ?? []), ...warnings];
  return out;
}
