import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import type { Lab } from '../../lab/lab';

/** A manifest for a lab, as an operator would write it, with the short agent timings tests use. */

export interface LabManifestOptions {
  nodes?: number;
  clusterName?: string;
  routing?: Record<string, unknown>;
  /** Extra per-node fields by node name (e.g. drain). */
  nodeExtras?: Record<string, Record<string, unknown>>;
  version?: string;
}

/** Write a manifest for the first `nodes` lab nodes (short agent timings for tests) and return its path. */
export function writeLabManifest(lab: Lab, dir: string, file: string, opts: LabManifestOptions = {}): string {
  const doc = parse(lab.manifest({ clusterName: opts.clusterName ?? 'e2e' })) as {
    spec: Record<string, unknown> & { nodes: Array<Record<string, unknown>> };
  };
  const nodes = doc.spec.nodes.slice(0, opts.nodes ?? doc.spec.nodes.length);
  doc.spec.nodes = nodes.map((n) => ({ ...n, ...(opts.nodeExtras?.[n.name as string] ?? {}) }));
  doc.spec.routing = { intervalSeconds: 1, failbackDelaySeconds: 8, pingTimeoutSeconds: 1, ...(opts.routing ?? {}) };
  if (opts.version) doc.spec.version = opts.version;
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, file);
  fs.writeFileSync(p, stringify(doc));
  return p;
}
