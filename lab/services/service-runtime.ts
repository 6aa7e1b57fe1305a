/**
 * Process lifecycle shared by the long-running lab services: argument parsing with a usage
 * exit, a bounded lifetime, and clean exit on SIGTERM/SIGINT. Bounded because the lab may
 * crash without stopping what it started; a forgotten service must die on its own.
 */
import { parseArgs } from 'node:util';

export type StopReason = 'SIGTERM' | 'SIGINT' | 'lifetime' | 'parent-exited';

export const DEFAULT_MAX_LIFETIME_S = 24 * 3600;

export interface ServiceArgs {
  str(name: string): string | undefined;
  flag(name: string): boolean;
  /** Number option with a floor; a bad value is a usage error (exit 2). */
  num(name: string, fallback: number, min: number): number;
}

/**
 * Options: name -> 'string' | 'boolean'. Missing required options or unknown ones print usage
 * and exit 2, so the lab core sees a wiring mistake at once instead of a half-working service.
 */
export function parseServiceArgs(
  program: string,
  usage: string,
  options: Record<string, 'string' | 'boolean'>,
  required: string[],
  argv = process.argv.slice(2),
): ServiceArgs {
  const fail = (msg: string): never => {
    process.stderr.write(`${program}: ${msg}\nusage: ${usage}\n`);
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined> = {};
  try {
    const config: Record<string, { type: 'string' | 'boolean' }> = {};
    for (const [k, type] of Object.entries(options)) config[k] = { type };
    values = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (e) {
    fail((e as Error).message);
  }
  const missing = required.filter((k) => values[k] === undefined || values[k] === '');
  if (missing.length > 0) fail(`missing --${missing.join(', --')}`);
  return {
    str: (name) => {
      const v = values[name];
      return typeof v === 'string' ? v : undefined;
    },
    flag: (name) => values[name] === true,
    num: (name, fallback, min) => {
      const raw = values[name];
      if (typeof raw !== 'string') return fallback;
      const n = Number(raw);
      if (!Number.isFinite(n) || n < min) fail(`--${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`);
      return n;
    },
  };
}

/**
 * Calls `stop(reason)` once on SIGTERM/SIGINT or when the lifetime ends, then exits 0.
 * `stop` must be synchronous: open sockets must not keep a stopping service alive.
 */
export function installShutdown(maxLifetimeS: number, stop: (reason: StopReason) => void, opts: { exitWithParent?: boolean } = {}): void {
  let stopping = false;
  const finish = (reason: StopReason) => {
    if (stopping) return;
    stopping = true;
    try {
      stop(reason);
    } catch (e) {
      process.stderr.write(`stop failed: ${(e as Error).message}\n`);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => finish('SIGTERM'));
  process.on('SIGINT', () => finish('SIGINT'));
  // setTimeout caps at ~24.8 days; lifetimes are far below that.
  setTimeout(() => finish('lifetime'), maxLifetimeS * 1000).unref();
  if (opts.exitWithParent === true) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) finish('parent-exited');
    }, 1000).unref();
  }
}
