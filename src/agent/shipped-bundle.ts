import * as fs from 'node:fs';
import * as path from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import type { AgentBundle } from './agent-bundle';
import { readBundle } from './bundle-read';

/**
 * The shell files this release ships for ESXi live in esxi/ at the package
 * root (agent/, probe/, apply/). Found by walking up from this file, so it works
 * from src/ (tsx), dist/ (tsc) and a bundled build alike; ZBS_REROUTE_ESXI_DIR
 * overrides for packaging.
 */
export function shippedEsxiDir(): string {
  const override = process.env.ZBS_REROUTE_ESXI_DIR;
  if (override) return override;
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, 'esxi');
    if (fs.existsSync(path.join(candidate, 'agent', 'reroute-loop.sh'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new RerouteError(
    'INTERNAL',
    'the ESXi scripts shipped with zbs-reroute were not found (esxi/agent/reroute-loop.sh)',
    'Reinstall zbs-reroute, or set ZBS_REROUTE_ESXI_DIR to the folder holding agent/, probe/ and apply/.',
  );
}

/** Text of one shipped ESXi script, e.g. shippedEsxiScript('apply/host-ops.sh'). */
export function shippedEsxiScript(relative: string): string {
  return fs.readFileSync(path.join(shippedEsxiDir(), relative), 'utf8');
}

let cached: AgentBundle | undefined;
export function loadShippedBundle(): AgentBundle {
  cached ??= readBundle(path.join(shippedEsxiDir(), 'agent'));
  return cached;
}
