import type { ObserveConnection, ObserveTarget } from '../observe/observe-cluster';
import type { HostConnections, HostEndpoint } from '../remote/host-connections';

/**
 * observeCluster's connect over a connection pool: the pooled connection,
 * plus the host key it presented (the agent's known_hosts is built from it).
 * One adapter for plan, apply's verification and watch.
 */
export function observeConnect(pool: HostConnections): (t: ObserveTarget) => Promise<ObserveConnection> {
  return async (t) => {
    const endpoint: HostEndpoint = { kind: t.kind, node: t.node, address: t.address };
    const host = await pool.get(endpoint);
    return { exec: (cmd, o) => host.exec(cmd, o), close: () => host.close(), hostKey: pool.hostKeyOf(endpoint) };
  };
}
