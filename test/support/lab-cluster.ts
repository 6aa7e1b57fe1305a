/**
 * The setup most e2e suites share: a lab of their own (test/support/use-lab.ts), a scratch folder,
 * and a lab manifest in it, all torn down after the suite. Call it at the top of a test file (or of
 * the describe block that owns the lab); read the fields inside hooks and tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LabNode } from '../../lab/lab';
import { writeLabManifest, type LabManifestOptions } from './lab-manifest';
import { useLab, type LabHandle, type UseLabOptions } from './use-lab';

export interface LabCluster extends LabHandle {
  /** Scratch folder of the suite (the manifest, the state folder, outputs). */
  readonly dir: string;
  readonly manifest: string;
  /** `--state DIR/state`, for a CLI line. */
  state(): string;
  node(i: number): LabNode;
}

export function useLabCluster(
  tag: string,
  opts: Pick<UseLabOptions, 'lab' | 'healOnStop' | 'beforeStop'> & { manifest?: LabManifestOptions } = {},
): LabCluster {
  let dir: string | undefined;
  let manifest: string | undefined;
  const must = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`useLabCluster(${tag}): ${what} is read before beforeAll ran`);
    return v;
  };
  const handle = useLab(tag, {
    ...opts,
    ready: (lab) => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `zbs-reroute-${tag}-`));
      manifest = writeLabManifest(lab, dir, 'cluster.yaml', { clusterName: tag, ...opts.manifest });
    },
    afterStop: () => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
    kept: () => dir ?? '',
  });
  return {
    get lab() {
      return handle.lab;
    },
    node: (i) => handle.node(i),
    get dir() {
      return must(dir, 'the folder');
    },
    get manifest() {
      return must(manifest, 'the manifest');
    },
    state: () => `--state ${must(dir, 'the folder')}/state`,
  };
}
