import { Reconciler } from '../../engine/reconciler';
import { renderPreflightText } from '../../preflight/render-preflight';
import { EXIT_ERROR, EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { engineIo } from '../progress';

/** `reroute preflight`: read-only checks of every host; exit 1 when any check fails. */
export async function runPreflight(
  io: IoHost,
  opts: { file: string; stateDir: string; target?: string[]; acceptNewHostKey?: string[] },
): Promise<number> {
  const report = await new Reconciler(engineIo(io), opts.stateDir).preflight(opts);
  io.result(renderPreflightText(report, { color: io.color }), report);
  return report.summary.fail > 0 ? EXIT_ERROR : EXIT_OK;
}
