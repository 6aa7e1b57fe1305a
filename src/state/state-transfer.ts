import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { RerouteError } from '../errors/reroute-error';
import { normaliseRsaPrivateKey } from './cluster-keypair';
import { ensureStateDir } from './state-dir';

/**
 * `reroute state export | import`: how a second operator obtains the cluster identity (issue 13
 * item 6). The file carries the cluster keypair's private half (the public half is derived) and
 * the pinned host keys; it is a secret, written 0600 and never printed.
 */
export const STATE_EXPORT_FORMAT = 'zbs-reroute/state-export-v1';

export interface StateExport {
  format: typeof STATE_EXPORT_FORMAT;
  /** PKCS#1 PEM, or absent when the state folder has no keypair (REST session source). */
  privateKeyPem?: string;
  /** OpenSSH known_hosts text ('' when nothing is pinned yet). */
  knownHosts: string;
}

function sha256(x: string | Buffer): string {
  return createHash('sha256').update(x).digest('hex');
}

/** Write `text` to `file` 0600 without ever leaving it readable by others, nor half-written. */
function writeSecret(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Export the state folder's identity to `out` (0600). Refuses to overwrite an existing file. */
export function exportState(stateDir: string, out: string, opts: { force?: boolean } = {}): { hasKey: boolean; pinned: number } {
  const paths = ensureStateDir(stateDir);
  const doc: StateExport = { format: STATE_EXPORT_FORMAT, knownHosts: existsSync(paths.knownHosts) ? readFileSync(paths.knownHosts, 'utf8') : '' };
  if (existsSync(paths.privateKey)) doc.privateKeyPem = readFileSync(paths.privateKey, 'utf8');
  if (existsSync(out) && opts.force !== true) {
    throw new RerouteError('USAGE', `${out} exists already`, 'Choose another file name, or pass --force to overwrite it.');
  }
  writeSecret(out, `${JSON.stringify(doc, null, 2)}\n`);
  return { hasKey: doc.privateKeyPem !== undefined, pinned: knownHostsLines(doc.knownHosts).length };
}

function knownHostsLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** `host keytype` → blob of every pinned key. */
function pins(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of knownHostsLines(text)) {
    const [host, type, blob] = l.split(/\s+/);
    if (host !== undefined && type !== undefined && blob !== undefined) m.set(`${host} ${type}`, blob);
  }
  return m;
}

export function readStateExport(file: string): StateExport {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RerouteError('USAGE', `${file} is not a readable state export (${(err as Error).message})`, 'Create it with `reroute state export --out FILE` in the other operator\'s state folder.');
  }
  const d = doc as Partial<StateExport> | null;
  if (d === null || typeof d !== 'object' || d.format !== STATE_EXPORT_FORMAT || typeof d.knownHosts !== 'string' || (d.privateKeyPem !== undefined && typeof d.privateKeyPem !== 'string')) {
    throw new RerouteError('USAGE', `${file} is not a zbs-reroute state export`, 'Create it with `reroute state export --out FILE` in the other operator\'s state folder.');
  }
  return d as StateExport;
}

/**
 * Import an export into `stateDir`. A different keypair already there, or a host pinned with a
 * different key, is refused unless `force` (then the import's wins); equal content is a no-op.
 */
export function importState(stateDir: string, file: string, opts: { force?: boolean } = {}): { key: 'imported' | 'same' | 'none'; pinsWritten: number; hostsRepinned: number } {
  const doc = readStateExport(file);
  const paths = ensureStateDir(stateDir);
  let key: 'imported' | 'same' | 'none' = 'none';
  let pem: Buffer | undefined;
  if (doc.privateKeyPem !== undefined) {
    pem = normaliseRsaPrivateKey(Buffer.from(doc.privateKeyPem), file);
    const mine = existsSync(paths.privateKey) ? readFileSync(paths.privateKey) : undefined;
    if (mine !== undefined && sha256(mine) === sha256(pem)) key = 'same';
    else if (mine !== undefined && opts.force !== true) {
      throw new RerouteError(
        'USAGE',
        `the state folder ${paths.root} holds a different cluster keypair than ${file}`,
        'If the hosts carry the exported key (the other operator applied it), re-run with --force to replace this one; otherwise keep this folder and export it to the other operator instead.',
      );
    } else key = 'imported';
  }
  const have = existsSync(paths.knownHosts) ? readFileSync(paths.knownHosts, 'utf8') : '';
  const havePins = pins(have);
  const conflicts = [...pins(doc.knownHosts)].filter(([k, blob]) => havePins.has(k) && havePins.get(k) !== blob).map(([k]) => k.split(' ')[0] ?? k);
  if (conflicts.length > 0 && opts.force !== true) {
    throw new RerouteError('HOST_KEY_CHANGED', `${file} pins other host keys than this state folder for ${[...new Set(conflicts)].join(', ')}`, 'Check those hosts\' fingerprints on their consoles; re-run with --force to take the imported pins.');
  }
  // Keep every local pin the import does not replace; add the rest.
  const replaced = new Set(conflicts);
  const keep = knownHostsLines(have).filter((l) => !replaced.has(l.split(/\s+/)[0] ?? ''));
  const keepSet = new Set(keep);
  const added = knownHostsLines(doc.knownHosts).filter((l) => !keepSet.has(l));
  if (pem !== undefined && key === 'imported') writeSecret(paths.privateKey, pem.toString('utf8'));
  if (added.length > 0 || conflicts.length > 0) writeFileSync(paths.knownHosts, [...keep, ...added].map((l) => `${l}\n`).join(''), { mode: 0o600 });
  return { key, pinsWritten: added.length, hostsRepinned: replaced.size };
}
