/**
 * The setup most e2e suites share: a lab of their own (named per jest process, a leftover of a
 * killed run removed first), a scratch folder, and a lab manifest in it; torn down after the
 * suite, with the given faults healed first so a failed case leaves no cluster file saying an
 * SCVM is cut off. Jest runs afterAll hooks in the order they were declared, so the suite's own
 * cleanup that needs the lab goes in `beforeStop`, not in a later afterAll. Call it at the top of a
 * test file (or of the describe block that owns the lab); read the fields inside hooks and tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Lab, type LabNode } from '../../lab/lab';
import type { FaultName } from '../../lab/lab-faults-table';
import type { LabOptions } from '../../lab/lab-topology';
import { testLabName } from '../../lab/test-support';
import { IS_ROOT } from './describe-lab';

import { writeLabManifest, type LabManifestOptions } from './lab-manifest';

/** Leave the lab and the scratch folder up after the suite, to look at what a failure left (lab/jest-global-teardown.ts honours it too). */
const LAB_KEEP = process.env.LAB_KEEP === '1';

export interface LabCluster {
  readonly lab: Lab;
  /** Scratch folder of the suite (the manifest, the state folder, outputs). */
  readonly dir: string;
  readonly manifest: string;
  /** `--state DIR/state`, for a CLI line. */
  state(): string;
  /** Node i (1-based), or a clear error. */
  node(i: number): LabNode;
}

export function useLabCluster(
  tag: string,
  opts: {
    /** Lab options; nodes defaults to 3. */
    lab?: Omit<LabOptions, 'name' | 'nodes'> & { nodes?: number };
    manifest?: LabManifestOptions;
    healOnStop?: FaultName[];
    /** The suite's own cleanup that needs the lab still up (stop a watch, restore a file); runs first. */
    beforeStop?: () => Promise<void>;
  } = {},
): LabCluster {
  const name = testLabName(tag);
  let lab: Lab | undefined;
  let dir: string | undefined;
  let manifest: string | undefined;
  const must = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`useLabCluster(${tag}): ${what} is read before beforeAll ran`);
    return v;
  };
  beforeAll(async () => {
    // Without root, describeLab's own failing test says why; a second failure here would only blur it.
    if (!IS_ROOT) return;
    if (Lab.list().includes(name)) await Lab.down(name);
    lab = await Lab.start({ nodes: 3, ...opts.lab, name });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `zbs-reroute-${tag}-`));
    manifest = writeLabManifest(lab, dir, 'cluster.yaml', { clusterName: tag, ...opts.manifest });
  }, 600_000);
  afterAll(async () => {
    if (lab && opts.beforeStop)
      await opts.beforeStop().catch((err: unknown) => console.error(`useLabCluster(${tag}) beforeStop: ${String(err)}`));
    if (lab && dir && LAB_KEEP) {
      console.error(`LAB_KEEP=1: lab ${name} and ${dir} left as they are; remove with \`npm run lab -- down --name ${name}\``);
      return;
    }
    if (lab) for (const f of opts.healOnStop ?? []) for (const n of lab.nodes) await lab.heal(f, n.scvm.target).catch(() => undefined);
    await lab?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 180_000);
  return {
    get lab() {
      return must(lab, 'the lab');
    },
    get dir() {
      return must(dir, 'the folder');
    },
    get manifest() {
      return must(manifest, 'the manifest');
    },
    state: () => `--state ${must(dir, 'the folder')}/state`,
    node(i: number): LabNode {
      const n = must(lab, 'the lab').nodes[i - 1];
      if (!n) throw new Error(`lab has no node ${i}`);
      return n;
    },
  };
}
