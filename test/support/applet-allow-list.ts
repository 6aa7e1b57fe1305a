/**
 * The applet/option allow-lists (esxi/agent/applets.txt, probe-commands.txt, …) and the check that
 * holds a shipped script to one: every command it runs is listed, with only listed options.
 */
import { scanScript } from '../../src/preflight/shell-script-scan';

export interface AllowList {
  /** command name → allowed options */
  [name: string]: Set<string>;
}

/** Parse applets.txt: `NAME KIND [OPTION...]` lines, `#` comments. */
export function parseAllowList(text: string): AllowList {
  const out: AllowList = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '' || raw.trim().startsWith('#')) continue;
    const [name, kind, ...opts] = line.split(/\s+/);
    if (!name || !kind || !['builtin', 'busybox', 'esxi'].includes(kind)) {
      throw new Error(`applets.txt: bad line: ${raw}`);
    }
    out[name] = new Set(opts);
  }
  return out;
}

function optionAllowed(opt: string, allowed: Set<string>): boolean {
  if (allowed.has(opt)) return true;
  const m = /^-([A-Za-z]{2,})$/.exec(opt);
  if (!m) return false;
  return [...(m[1] as string)].every((ch) => allowed.has(`-${ch}`));
}

/** Every command not on the list, and every option not listed for its command. */
export function checkScript(src: string, allow: AllowList, wrappers: Record<string, number> = {}): string[] {
  const r = scanScript(src, wrappers);
  const own = new Set(r.functions);
  const errors = [...r.problems];
  for (const c of r.commands) {
    if (own.has(c.name)) continue;
    const allowed = allow[c.name];
    if (!allowed) {
      errors.push(`line ${c.line}: command '${c.name}' is not in applets.txt`);
      continue;
    }
    for (const o of c.options) {
      if (!optionAllowed(o, allowed)) errors.push(`line ${c.line}: option '${o}' of '${c.name}' is not in applets.txt`);
    }
  }
  return errors;
}
