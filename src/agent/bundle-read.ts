import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentBundle } from './agent-bundle';
import { RerouteError } from '../errors/reroute-error';
import { AGENT_LOOP_FILE } from './bundle-layout';
import { requireScriptVersion } from './agent-version';

/**
 * Read the agent scripts shipped in `dir` (esxi/agent). The one I/O edge of
 * src/agent: everything downstream works on the returned value. Only `*.sh`
 * files are part of the bundle, so tests and notes next to the scripts never
 * reach a host.
 */
export function readBundle(dir: string): AgentBundle {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.sh') && statSync(join(dir, n)).isFile());
  } catch (err) {
    throw new RerouteError(
      'INTERNAL',
      `Cannot read the agent bundle in ${dir}: ${(err as Error).message}`,
      'Run zbs-reroute from a complete checkout or release (esxi/agent/ must be present).',
      { cause: err },
    );
  }
  names.sort();
  const files: Record<string, string> = {};
  for (const name of names) files[name] = readFileSync(join(dir, name), 'utf8');
  const loop = files[AGENT_LOOP_FILE];
  if (loop === undefined) {
    throw new RerouteError(
      'INTERNAL',
      `The agent bundle in ${dir} has no ${AGENT_LOOP_FILE}`,
      'Run zbs-reroute from a complete checkout or release (esxi/agent/ must be present).',
    );
  }
  return { version: requireScriptVersion(loop, join(dir, AGENT_LOOP_FILE)), files };
}
