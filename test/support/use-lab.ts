/**
 * One lab per suite, the lifecycle every lab suite shares: named per jest process (a leftover of a
 * killed run of this process's name removed first), started in beforeAll, the suite's own cleanup
 * (`beforeStop`) run while the lab is still up, the given faults healed, then the lab stopped.
 * Jest runs afterAll hooks in declaration order, so cleanup that needs the lab belongs in
 * `beforeStop`, never in a later afterAll. Without root nothing starts: describeLab's failing test
 * says why. `LAB_KEEP=1` leaves the lab (and what `kept` names) up to look at what a failure left.
 * useLabCluster (a manifest) and test/agent's useAgentLab (a reroute key) are built on this.
 */
import { Lab, type LabNode } from '../../lab/lab';
import type { FaultName } from '../../lab/lab-faults-table';
import type { LabOptions } from '../../lab/lab-topology';
import { testLabName } from '../../lab/test-support';
import { IS_ROOT } from './describe-lab';

/** lab/jest-global-teardown.ts honours it too. */
export const LAB_KEEP = process.env.LAB_KEEP === '1';

/** Lab options of a suite; nodes defaults to 3, the name is the suite's tag made unique. */
export type SuiteLabOptions = Omit<LabOptions, 'name' | 'nodes'> & { nodes?: number };

export interface LabHandle {
  readonly lab: Lab;
  /** Node i (1-based), or a clear error. */
  node(i: number): LabNode;
}

export interface UseLabOptions {
  lab?: SuiteLabOptions;
  /** Runs once the lab is up, inside the same beforeAll (scratch folder, manifest, keys). */
  ready?: (lab: Lab) => void | Promise<void>;
  /** The suite's own cleanup that needs the lab still up (stop a watch, restore a file); runs first. */
  beforeStop?: () => Promise<void>;
  /** Faults healed on every SCVM before the stop, so a failed case leaves no cut-off SCVM behind. */
  healOnStop?: FaultName[];
  /** Runs after the lab stopped (remove the scratch folder, the key). */
  afterStop?: () => void;
  /** With LAB_KEEP=1: what else is left up besides the lab, for the message. */
  kept?: () => string;
}

export function useLab(tag: string, opts: UseLabOptions = {}): LabHandle {
  const name = testLabName(tag);
  let lab: Lab | undefined;
  const must = (): Lab => {
    if (lab === undefined) throw new Error(`lab of suite '${tag}' is read before beforeAll ran (or it failed to start)`);
    return lab;
  };
  beforeAll(async () => {
    if (!IS_ROOT) return;
    if (Lab.list().includes(name)) await Lab.down(name);
    lab = await Lab.start({ nodes: 3, ...opts.lab, name });
    await opts.ready?.(lab);
  }, 600_000);
  afterAll(async () => {
    if (lab && opts.beforeStop)
      await opts.beforeStop().catch((err: unknown) => console.error(`lab suite '${tag}' beforeStop: ${String(err)}`));
    if (lab && LAB_KEEP) {
      const also = opts.kept?.();
      console.error(
        `LAB_KEEP=1: lab ${name}${also ? ` and ${also} are` : ' is'} left up; remove the lab with \`npm run lab -- down --name ${name}\``,
      );
      return;
    }
    if (lab) for (const f of opts.healOnStop ?? []) for (const n of lab.nodes) await lab.heal(f, n.scvm.target).catch(() => undefined);
    await lab?.stop();
    opts.afterStop?.();
  }, 180_000);
  return {
    get lab() {
      return must();
    },
    node(i: number): LabNode {
      const n = must().nodes[i - 1];
      if (!n) throw new Error(`lab has no node ${i}`);
      return n;
    },
  };
}
