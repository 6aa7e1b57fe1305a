/**
 * loadManifest: the file-reading edge in front of parseManifest. Turns every
 * way a path can fail to be a manifest into an InputError an operator can act on.
 */
import * as fs from 'node:fs';
import { InputError } from '../errors/reroute-error';
import type { Manifest } from './manifest-types';
import { MANIFEST_MAX_BYTES, parseManifest, type ManifestOptions } from './manifest-parse';
import { fileProblem } from './problem';

export function loadManifest(path: string, opts: ManifestOptions): Manifest {
  const invalid = (rule: string, message: string, fix: string): never => {
    throw new InputError('MANIFEST_INVALID', [fileProblem(path, rule, message, fix)]);
  };

  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new InputError(
        'MANIFEST_NOT_FOUND',
        [
          fileProblem(
            path,
            'file.not-found',
            `no manifest file at ${path}`,
            'Check the path; to start a new one, copy examples/cluster-3node.yaml.',
          ),
        ],
        'Give the path of an existing manifest file.',
      );
    }
    return invalid('file.unreadable', `cannot read ${path}: ${(err as Error).message}`, 'Check the path and its permissions.');
  }
  if (stat.isDirectory())
    invalid('file.is-directory', `${path} is a directory, not a manifest file`, 'Give the YAML file inside it, e.g. cluster.yaml.');
  // A FIFO or device would block or never end; only regular files are manifests.
  if (!stat.isFile()) invalid('file.not-regular', `${path} is not a regular file`, 'Give the path of the YAML manifest file.');
  if (stat.size > MANIFEST_MAX_BYTES)
    invalid(
      'file.too-large',
      `${path} is ${stat.size} bytes, more than ${MANIFEST_MAX_BYTES}`,
      'Check that this is the cluster manifest (YAML, normally a few KiB).',
    );

  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (err) {
    return invalid(
      'file.unreadable',
      `cannot read ${path}: ${(err as Error).message}`,
      'Check the file permissions (the manifest must be readable by the user running reroute).',
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return invalid(
      'file.binary',
      `${path} is not UTF-8 text`,
      'Give the YAML manifest file (UTF-8 text), e.g. a copy of examples/cluster-3node.yaml.',
    );
  }
  return parseManifest(text, path, opts);
}
