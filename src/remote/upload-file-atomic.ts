import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import { shellQuote } from '../core/shell-quote';
import type { RemoteHost } from './ssh-connection';

/** Temp files are `.<name>.zrr-<hex>.tmp` beside the target; a crash can leave one behind, never a half target. */
export const UPLOAD_TEMP_PATTERN = /^\.(.+)\.zrr-[0-9a-f]{12}\.tmp$/;

export interface UploadOptions {
  timeoutMs?: number;
  /** Node name, for messages. */
  label?: string;
}

export interface UploadResult {
  sha256: string;
  bytes: number;
}

function checkPath(path: string): void {
  if (!path.startsWith('/') || path.endsWith('/') || path.includes('\0') || posix.normalize(path) !== path) {
    throw new RerouteError(
      'INTERNAL',
      `Refusing to upload to a non-canonical path ${JSON.stringify(path)}`,
      'This is a bug in zbs-reroute; please report it.',
    );
  }
}

/**
 * Replace a file on a host atomically: stream the bytes over stdin into a temp
 * file in the same directory, set its mode, check its SHA-256, then `mv -f`
 * (a rename within one file system) over the target and hash the result.
 * Readers see the old file or the new one, never a partial one. Uses only
 * cat, chmod, sha256sum, mv and rm, which busybox on ESXi provides.
 */
export async function uploadFileAtomic(
  host: RemoteHost,
  path: string,
  content: Buffer,
  mode: number,
  opts: UploadOptions = {},
): Promise<UploadResult> {
  checkPath(path);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RerouteError('INTERNAL', `Invalid file mode ${mode} for ${path}`, 'This is a bug in zbs-reroute; please report it.');
  }
  const expected = createHash('sha256').update(content).digest('hex');
  const tmp = posix.join(posix.dirname(path), `.${posix.basename(path)}.zrr-${randomBytes(6).toString('hex')}.tmp`);
  const t = shellQuote(tmp);
  const d = shellQuote(path);
  const m = mode.toString(8).padStart(4, '0');
  // Exit codes tell the steps apart; stderr carries the system's own reason (disk full, read-only, ...).
  const script = [
    'umask 077',
    `cat > ${t} || { rm -f ${t}; exit 10; }`,
    `chmod ${m} ${t} || { rm -f ${t}; exit 11; }`,
    `got=$(sha256sum ${t}) || { rm -f ${t}; exit 12; }`,
    `if [ "\${got%% *}" != ${expected} ]; then rm -f ${t}; echo "uploaded copy hashes to \${got%% *}" >&2; exit 13; fi`,
    `mv -f ${t} ${d} || { rm -f ${t}; exit 14; }`,
    `sha256sum ${d} || exit 15`,
  ].join('\n');

  const where = opts.label ? `${opts.label}:${path}` : path;
  const r = await host.exec(script, { stdin: content, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  const reason = r.stderr.trim().split('\n').slice(-3).join('; ');
  const step: Record<number, string> = {
    10: 'writing the temp file',
    11: 'setting its mode',
    12: 'hashing the temp file',
    14: 'renaming it over the target',
    15: 'hashing the target after the rename',
  };
  if (r.code === 13) {
    throw new RerouteError(
      'VERIFY_FAILED',
      `Upload of ${where} arrived corrupted (${reason}, expected ${expected}); the target was left unchanged`,
      "Re-run; if it repeats, check the host's datastore and network.",
      { details: { path, expected } },
    );
  }
  if (r.code !== 0) {
    const what = r.code !== null && step[r.code] ? step[r.code] : `the upload command (exit ${r.code ?? r.signal ?? 'unknown'})`;
    throw new RerouteError(
      'REMOTE_COMMAND_FAILED',
      `Uploading ${where} failed while ${what}${reason ? `: ${reason}` : ''}; the target was left unchanged`,
      'Fix the cause on the host (free space on the datastore, a read-only file system, permissions) and re-run.',
      { details: { path, exitCode: r.code } },
    );
  }
  const got = r.stdout.trim().split(/\s+/)[0];
  if (got !== expected) {
    throw new RerouteError(
      'VERIFY_FAILED',
      `After the upload ${where} hashes to ${got ?? '(nothing)'}, expected ${expected}`,
      'Something else changed the file at the same moment; re-run and check for another tool writing there.',
      { details: { path, expected, got } },
    );
  }
  return { sha256: expected, bytes: content.length };
}
