/**
 * An "older release" for upgrade and join tests: the shipped ESXi scripts copied to a temporary
 * folder with the agent's line 2 saying another version. Point ZBS_REROUTE_ESXI_DIR at it to run
 * the CLI as that release.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function makeOldRelease(version: string): string {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'zbs-reroute-old-'));
  fs.cpSync(path.join(__dirname, '..', '..', 'esxi'), out, { recursive: true });
  const loop = path.join(out, 'agent', 'reroute-loop.sh');
  const lines = fs.readFileSync(loop, 'utf8').split('\n');
  lines[1] = `reroute_version=${version}`;
  fs.writeFileSync(loop, lines.join('\n'));
  return out;
}
