import type { ApplyRequest } from '../../engine/reconciler';
import { Reconciler } from '../../engine/reconciler';
import type { IoHost } from '../io-host';
import { engineIo } from '../progress';
import { renderApplyRun } from './apply-render';

export interface ApplyCommandOptions extends ApplyRequest {
  stateDir: string;
}

/** `reroute apply [PLANFILE]` and `reroute destroy`: the use case is the engine's (src/engine/reconciler.ts). */
export async function runApply(io: IoHost, opts: ApplyCommandOptions): Promise<number> {
  const run = await new Reconciler(engineIo(io), opts.stateDir).apply(opts);
  return renderApplyRun(io, run);
}
