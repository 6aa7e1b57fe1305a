import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RerouteError } from '../errors/reroute-error';

/** Relative to the working directory, like Terraform's .terraform; overridable with --state. */
export const DEFAULT_STATE_DIR = 'state';

/** Everything the tool keeps between runs, for one cluster. */
export interface StatePaths {
  root: string;
  /** Pinned SSH host keys of every ESXi host and SCVM (OpenSSH known_hosts format). */
  knownHosts: string;
  /** The cluster's reroute keypair (the agent's key for ESXi → SCVM ssh). */
  privateKey: string;
  publicKey: string;
  /** Exclusive lock held by apply/destroy. */
  lock: string;
  /** Append-only record of apply actions. */
  journal: string;
}

export function statePaths(root: string = DEFAULT_STATE_DIR): StatePaths {
  const r = resolve(root);
  return {
    root: r,
    knownHosts: join(r, 'known_hosts'),
    privateKey: join(r, 'reroute_id_rsa'),
    publicKey: join(r, 'reroute_id_rsa.pub'),
    lock: join(r, 'apply.lock'),
    journal: join(r, 'apply-journal.jsonl'),
  };
}

/**
 * Create the state folder (0700: it holds a private key) or tighten an
 * existing one. Fails with a clear error when the path is not a directory.
 */
export function ensureStateDir(root: string = DEFAULT_STATE_DIR): StatePaths {
  const paths = statePaths(root);
  try {
    mkdirSync(paths.root, { recursive: true, mode: 0o700 });
    const st = statSync(paths.root);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if ((st.mode & 0o077) !== 0) chmodSync(paths.root, 0o700);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new RerouteError('USAGE', `Cannot use ${paths.root} as the state folder (${code})`, 'Point --state at a directory this user can create and write, or remove the file in its way.', { cause: err });
  }
  return paths;
}
