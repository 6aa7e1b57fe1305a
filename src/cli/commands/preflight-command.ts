import { preflightCluster } from '../../engine/preflight';
import { renderPreflightText } from '../../preflight/render-preflight';
import { EXIT_ERROR, EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { openSession } from './session-options';

/** `reroute preflight`: read-only checks of every host; exit 1 when any check fails. */
export async function runPreflight(
  io: IoHost,
  opts: { file: string; stateDir: string; target?: string[]; acceptNewHostKey?: string[] },
): Promise<number> {
  const session = await openSession(io, opts);
  try {
    io.info(`Checking ${session.manifest.nodes.length} node(s) of cluster ${session.manifest.clusterName}…`);
    const report = await preflightCluster(session, { nodes: opts.target });
    io.result(renderPreflightText(report, { color: io.color }), report);
    return report.summary.fail > 0 ? EXIT_ERROR : EXIT_OK;
  } finally {
    await session.close();
  }
}
