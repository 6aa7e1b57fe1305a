/**
 * Which commands must exist on an ESXi host: every command the shipped
 * agent, probe and host-ops scripts run, found by the same scanner the
 * applet-list tests use (shell-script-scan.ts), minus the scripts'
 * own functions and ash builtins. Derived from the scripts this release
 * ships, so a new command in a script is checked on the next preflight.
 */
import { scanScript } from './shell-script-scan';

export interface RequiredCommand {
  name: string;
  /** Shipped scripts that run it (e.g. `agent`, `probe`, `host-ops`). */
  usedBy: string[];
  /** Set when a missing command does not break anything: why. */
  optional?: string;
}

/** Builtins of every busybox ash (also the `builtin` lines of esxi/agent/applets.txt and probe-commands.txt). */
const ASH_BUILTINS = new Set([
  '.',
  ':',
  '[',
  '[[',
  'test',
  'break',
  'cd',
  'command',
  'continue',
  'echo',
  'eval',
  'exec',
  'exit',
  'export',
  'false',
  'kill',
  'local',
  'printf',
  'pwd',
  'read',
  'return',
  'set',
  'shift',
  'trap',
  'true',
  'type',
  'umask',
  'unset',
  'wait',
]);

/** Commands passed to wrappers: the agent's run_bounded (2 leading arguments), the probe's run_section (1), and `setsid`/`exec`, which run the command they name. */
const WRAPPERS = { run_bounded: 2, run_section: 1, setsid: 0, exec: 0 };

/** `builtin` lines of an applets.txt-format list. */
export function builtinsFromList(text: string): string[] {
  return text.split('\n').flatMap((l) => {
    const m = /^(\S+)\s+builtin\b/.exec(l.trim());
    return m && !l.trim().startsWith('#') ? [m[1] as string] : [];
  });
}

export function requiredCommands(
  scripts: Array<{ name: string; text: string }>,
  opts: { builtins?: string[]; sessionSource: 'rest' | 'ssh' },
): RequiredCommand[] {
  const builtins = new Set([...ASH_BUILTINS, ...(opts.builtins ?? [])]);
  const found = new Map<string, RequiredCommand>();
  for (const s of scripts) {
    const r = scanScript(s.text, WRAPPERS);
    const own = new Set(r.functions);
    for (const c of r.commands) {
      if (own.has(c.name) || builtins.has(c.name) || c.name.includes('$')) continue;
      const e = found.get(c.name) ?? { name: c.name, usedBy: [] };
      if (!e.usedBy.includes(s.name)) e.usedBy.push(s.name);
      found.set(c.name, e);
    }
  }
  // Only one session source runs; the other's client is not needed. openssl is the probe's fallback for sha256sum.
  const optional: Record<string, string> = {
    openssl: 'fallback when sha256sum is missing',
    setsid: 'without it the route switch runs as plain sh -c (still one unit)',
  };
  if (opts.sessionSource === 'rest') optional.ssh = 'only the ssh session source uses it';
  else optional.wget = 'only the rest session source uses it';
  return [...found.values()]
    .map((c) => (optional[c.name] ? { ...c, optional: optional[c.name] } : c))
    .sort((a, b) => a.name.localeCompare(b.name));
}
