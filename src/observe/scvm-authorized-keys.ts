/**
 * Observing the SCVM operator user's ~/.ssh/authorized_keys, where the cluster key
 * lives: root ssh login is forbidden on SMTX OS (>= 5.1.2 sets PermitRootLogin no),
 * so the agent's ssh session source logs in as that user. The file is read as the
 * user itself (`sudo: false`); `sudo -n` stays available for other files. Only our
 * marked entries are kept; every other line is counted and never shown or stored.
 */

import { AUTHORIZED_KEY_MARKER, SCVM_AUTHORIZED_KEYS } from '../agent/bundle-layout';
import { shellQuote } from '../core/shell-quote';

export interface AuthorizedKeysSummary {
  /** Lines whose last word is `zbs-reroute:<cluster>` (this cluster's entries), trimmed. */
  managedKeys: string[];
  /** Other key lines (other clusters' entries included): counted, never shown, never touched. */
  foreignKeyCount: number;
}

/** Parse authorized_keys text. Blank lines and `#` comments are not keys. */
export function parseAuthorizedKeys(text: string, cluster: string): AuthorizedKeysSummary {
  const marker = `${AUTHORIZED_KEY_MARKER}${cluster}`;
  const out: AuthorizedKeysSummary = { managedKeys: [], foreignKeyCount: 0 };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = line.split(/\s+/);
    if (words.length > 1 && words[words.length - 1] === marker) out.managedKeys.push(line);
    else out.foreignKeyCount++;
  }
  return out;
}

/** First line of the read command's output says what it found. */
export type AuthorizedKeysReadStatus = 'present' | 'absent' | 'not-a-file';

const READ_SCRIPT = 'f=$1; if [ -f "$f" ]; then echo present; cat -- "$f"; elif [ -e "$f" ]; then echo not-a-file; else echo absent; fi';

/**
 * Command (for the operator user's login shell) that prints a status line and
 * then the file. `sudo: false` is for an operator that is root already.
 */
export function readAuthorizedKeysCommand(opts: { sudo: boolean; path?: string }): string {
  const inner = `sh -c ${shellQuote(READ_SCRIPT)} zbs-reroute-read ${shellQuote(opts.path ?? SCVM_AUTHORIZED_KEYS)}`;
  return opts.sudo ? `sudo -n ${inner}` : inner;
}

/**
 * Interpret the read command's stdout. Returns the file text ('' when absent),
 * or an error message when the output is not what the command prints.
 */
export function parseAuthorizedKeysRead(stdout: string): { status: AuthorizedKeysReadStatus; text: string } | { error: string } {
  const nl = stdout.indexOf('\n');
  const first = nl < 0 ? stdout : stdout.slice(0, nl);
  const rest = nl < 0 ? '' : stdout.slice(nl + 1);
  if (first === 'present') return { status: 'present', text: rest };
  if (first === 'absent') return { status: 'absent', text: '' };
  if (first === 'not-a-file') return { status: 'not-a-file', text: '' };
  return { error: 'unexpected output from the authorized_keys read command' };
}

/** Hint for the usual sudo failures, from stderr. */
export function explainSudoFailure(stderr: string, user: string): string | undefined {
  if (/a password is required|a terminal is required|no tty present/i.test(stderr)) {
    return `sudo needs a password for ${user}; grant NOPASSWD for this user (zbs-reroute never types a sudo password)`;
  }
  if (/not in the sudoers|not allowed to execute|may not run sudo/i.test(stderr)) return `${user} may not use sudo on this SCVM`;
  if (/sudo: .*command not found|sudo: not found/i.test(stderr)) return 'sudo is not installed on this SCVM';
  return undefined;
}
