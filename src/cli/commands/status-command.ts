import { Reconciler } from '../../engine/reconciler';
import { sanitizeForDisplay } from '../../observe/sanitize';
import type { IoHost } from '../io-host';
import { engineIo } from '../progress';
import { degradedLines, shadowTable, statusExitCode, statusTable, summaryLines } from './status-render';

/** `reroute status`: the report is the engine's (src/engine/cluster-report.ts); this renders it. */
export async function runStatus(
  io: IoHost,
  opts: { file: string; stateDir: string; check?: boolean; acceptNewHostKey?: string[] },
): Promise<number> {
  const report = await new Reconciler(engineIo(io), opts.stateDir).status(opts);
  const rows = report.hosts;
  // A ZBS upgrade can break what the agent relies on (SMTX OS 5.1.2 refuses root ssh login): named with its fix.
  const broken = rows.filter((r) => r.zbsProblems.length > 0).map((r) => `${r.node}: ${r.zbsProblems.join(' ')}`);
  const zbsLines =
    broken.length > 0
      ? `\nSMTX OS version breaks the agent on ${broken.length} SCVM(s):\n  ${broken.map((b) => sanitizeForDisplay(b, { multiline: false, maxLength: 400 })).join('\n  ')}`
      : '';
  const text = `${statusTable(rows, io.color)}\n${summaryLines(rows, report.wantedVersion)}${zbsLines}${degradedLines(rows)}${shadowTable(rows, io.color)}`;
  io.result(text, {
    cluster: report.cluster,
    wantedVersion: report.wantedVersion,
    routingMode: report.routingMode,
    unreachable: rows.filter((r) => !r.reachable).map((r) => r.node),
    hosts: rows,
  });
  return statusExitCode(rows, opts.check === true);
}
