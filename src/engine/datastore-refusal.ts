/**
 * `plan` and `apply` refuse a plan that lists NFS datastores
 * (src/plan/datastore-guard.ts) with DATASTORE_NFS: each node with the
 * manifest's `file:line:col` of its datastore, what was found and the fix.
 * Not a preflight check, so `--skip-check` cannot let it through: there is no
 * host on which the agent belongs on NFS.
 */
import * as fs from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { RerouteError } from '../errors/reroute-error';
import { yamlLocator } from '../manifest/yaml-positions';
import type { Plan } from '../plan/plan-types';

/** `file:line:col` of each node's `esxi.datastore` in the manifest; {} when the file cannot be read or parsed. */
export function datastorePositions(file: string | undefined): Record<string, string> {
  if (!file) return {};
  try {
    const text = fs.readFileSync(file, 'utf8');
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter });
    const locate = yamlLocator(doc, lineCounter, text);
    const nodes = (doc.toJS() as { spec?: { nodes?: Array<{ name?: unknown }> } } | null)?.spec?.nodes ?? [];
    const out: Record<string, string> = {};
    nodes.forEach((n, i) => {
      if (typeof n?.name !== 'string') return;
      const p = locate.at(['spec', 'nodes', i, 'esxi', 'datastore']);
      out[n.name] = `${file}:${p.line}:${p.col}`;
    });
    return out;
  } catch {
    return {};
  }
}

/** Throws DATASTORE_NFS when the plan refuses any host's datastore. */
export function refuseNfsDatastores(plan: Plan, manifestFile?: string): void {
  const refusals = plan.datastoreRefusals ?? [];
  if (refusals.length === 0) return;
  const at = datastorePositions(manifestFile);
  const lines = refusals.map((r) => `${at[r.node] ? `${at[r.node]}: ` : ''}${r.detail}`);
  const fixes = [...new Set(refusals.map((r) => (refusals.length === 1 ? r.fix : `${r.node}: ${r.fix}`)))];
  throw new RerouteError(
    'DATASTORE_NFS',
    `the agent's datastore is mounted over NFS on ${refusals.length} host(s); nothing was changed:\n  ${lines.join('\n  ')}`,
    fixes.join(' '),
    { details: { refused: refusals.map((r) => ({ ...r, ...(at[r.node] ? { at: at[r.node] } : {}) })) } },
  );
}
