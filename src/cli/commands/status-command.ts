import Table from 'cli-table3';
import { clusterStatus } from '../../engine/cluster-status';
import { preflightContext, readScvmReleases } from '../../engine/preflight';
import { sanitizeForDisplay } from '../../observe/sanitize';
import { EXIT_CHANGES, EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { observeProgress } from '../progress';
import { openSession } from './session-options';
import { checkFails, degradedLines, shadowTable, sightCell } from './status-render';

export async function runStatus(io: IoHost, opts: { file: string; stateDir: string; check?: boolean; acceptNewHostKey?: string[] }): Promise<number> {
  const session = await openSession(io, opts);
  try {
    io.info(`Observing ${session.manifest.nodes.length} node(s) of cluster ${session.manifest.clusterName}…`);
    const observed = await session.observe(observeProgress(io));
    const releases = await readScvmReleases(session);
    const rows = clusterStatus(session.manifest, observed, { releases, agentSshUser: preflightContext(session.manifest).agentSshUser });
    const table = new Table({ head: ['node', 'reachable', 'agent version', 'wanted', 'SMTX OS', 'agent alive', 'route 192.168.33.2 via', 'local', 'session list', 'heartbeat'], style: { head: io.color ? ['bold'] : [], border: [] } });
    for (const r of rows) {
      table.push([
        r.node,
        r.reachable ? 'yes' : `no: ${sanitizeForDisplay(r.reason ?? '', { multiline: false, maxLength: 60 })}`,
        r.installedVersion ?? '-',
        r.wantedVersion + (r.versionOk ? '' : ' (!)'),
        (r.scvmVersion ?? '-') + (r.zbsProblems.length > 0 ? ' (!)' : ''),
        r.agentAlive ? 'yes' : r.agentProcesses === 0 ? 'no (not running)' : 'no (heartbeat stale)',
        r.routeGateway ? `${r.routeGateway}${r.routeTargetNode ? ` (${r.routeTargetNode})` : ''}` : '-',
        r.routeLocal === undefined ? '-' : r.routeLocal ? 'yes' : 'NO',
        sightCell(r),
        r.heartbeatAgeSeconds === undefined ? '-' : `${r.heartbeatAgeSeconds}s ago`,
      ]);
    }
    const off = rows.filter((r) => !r.versionOk);
    const summary = off.length === 0 ? `All ${rows.length} host(s) run agent ${session.manifest.version}.` : `${off.length} of ${rows.length} host(s) are not on agent ${session.manifest.version}: ${off.map((r) => r.node).join(', ')}. Run \`reroute apply\` to upgrade.`;
    // A ZBS upgrade can break what the agent relies on (SMTX OS 5.1.2 refuses root ssh login): named with its fix.
    const broken = rows.filter((r) => r.zbsProblems.length > 0).map((r) => `${r.node}: ${r.zbsProblems.join(' ')}`);
    const zbsLines = broken.length > 0 ? `\nSMTX OS version breaks the agent on ${broken.length} SCVM(s):\n  ${broken.map((b) => sanitizeForDisplay(b, { multiline: false, maxLength: 400 })).join('\n  ')}` : '';
    const text = `${table.toString()}\n${summary}${zbsLines}${degradedLines(rows)}${shadowTable(rows, io.color)}`;
    io.result(text, { cluster: session.manifest.clusterName, wantedVersion: session.manifest.version, routingMode: session.manifest.routing.mode, hosts: rows });
    return opts.check && checkFails(rows) ? EXIT_CHANGES : EXIT_OK;
  } finally {
    await session.close();
  }
}
