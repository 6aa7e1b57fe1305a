import { RerouteError } from '../errors/reroute-error';

/**
 * Words made only of these characters mean the same quoted or bare in every
 * POSIX shell (no expansion, globbing, splitting or assignment), so they stay
 * bare to keep logged commands readable. `=` is left out on purpose: a bare
 * `A=b` in command position is an assignment, not an argument.
 */
const BARE_SAFE = /^[A-Za-z0-9_/.,:@%+-]+$/;

/**
 * Quote one value for a POSIX shell (busybox ash on ESXi, dash/bash on SCVMs).
 * Every value that reaches a remote shell goes through here: inside single
 * quotes nothing is special except the quote itself, which is closed, escaped
 * and reopened (`'\''`). NUL cannot travel through argv or a shell word at
 * all, so a value holding one is refused instead of being silently cut.
 */
export function shellQuote(value: string): string {
  if (typeof value !== 'string') {
    throw new RerouteError(
      'INTERNAL',
      `shellQuote was given a ${typeof value}, not a string`,
      'This is a bug in zbs-reroute; please report it with the command you ran.',
    );
  }
  if (value.includes('\0')) {
    throw new RerouteError(
      'INTERNAL',
      'Refusing to pass a value containing a NUL byte to a remote shell',
      'A value (from the manifest or read back from a host) holds a NUL byte; remove it. If it came from a host, inspect that host for corrupted files.',
    );
  }
  if (value !== '' && BARE_SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Join arguments into one command line, each quoted by shellQuote. */
export function shellCommand(parts: readonly string[]): string {
  if (parts.length === 0) {
    throw new RerouteError('INTERNAL', 'shellCommand needs at least one word', 'This is a bug in zbs-reroute; please report it.');
  }
  return parts.map(shellQuote).join(' ');
}
