/**
 * `it` for a suite whose tests are the steps of one story on one lab (deploy, then join, then
 * upgrade...): each step starts where the previous one left the cluster. Once a step fails (or runs
 * past its timeout), every later step fails at once saying which step broke the chain, instead of
 * failing on assertions about a state the story never reached: one failure, one cause to read.
 *
 *   const step = steps();
 *   step('deploys the whole cluster', async () => { ... });
 */
export type Step = (name: string, fn: () => Promise<unknown> | void, timeoutMs?: number) => void;

export function steps(): Step {
  let broken: string | undefined;
  return (name, fn, timeoutMs) => {
    it(
      name,
      async () => {
        if (broken !== undefined)
          throw new Error(`not run: the earlier step "${broken}" failed, and this step starts where that one should have left the lab`);
        // Set before and cleared after: a step that throws or times out leaves it set.
        broken = name;
        await fn();
        broken = undefined;
      },
      timeoutMs,
    );
  };
}
