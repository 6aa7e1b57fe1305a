import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import { shellQuote } from '../core/shell-quote';
import { KNOWN_HOSTS_FILE, PIN_FILE, PRIVATE_KEY_FILE } from './bundle-layout';
import { installDirFor } from './host-entries';

/** The agent's log is capped at this size (one rotation kept). */
export const LOG_MAX_BYTES = 262144;
/**
 * The user the agent's ssh session source logs in as on every SCVM: the manifest's operator user
 * (`access.scvm.user`), never root — SMTX OS 5.1.2 and later set `PermitRootLogin no`. The cluster
 * key is in that user's authorized_keys, restricted by `from=` to the ESXi addresses.
 */
export function agentSshUser(manifest: Manifest): string {
  return manifest.access.scvm.user;
}

/** Agent conf value for "this SCVM has no access IP" (keeps PEER_ACCESS_IPS aligned with PEER_STORAGE_IPS). */
export const NO_ACCESS_IP = '-';

/**
 * reroute.conf for one node: KEY=value lines the agent sources. Values go
 * through the one quoting function. The version is deliberately absent, so an
 * upgrade changes the script only and never this file.
 */
export function renderAgentConf(manifest: Manifest, node: NodeSpec): string {
  const dir = installDirFor(manifest, node);
  const peers = manifest.nodes.filter((n) => n.name !== node.name);
  const r = manifest.routing;
  const entries: [string, string][] = [
    ['NODE_NAME', node.name],
    ['NFS_ADDRESS', manifest.nfsAddress],
    ['LOCAL_STORAGE_IP', node.scvm.storageIp],
    ['LOCAL_MGMT_IP', node.scvm.managementIp],
    ['PEER_STORAGE_IPS', peers.map((p) => p.scvm.storageIp).join(' ')],
    ['PEER_MGMT_IPS', peers.map((p) => p.scvm.managementIp).join(' ')],
    // RDMA clusters only (absent otherwise, so other clusters' conf is unchanged): the address each
    // SCVM is routed and pinged through, aligned with PEER_STORAGE_IPS.
    ...(manifest.nodes.some((n) => n.scvm.accessIp !== undefined)
      ? ([
          ['LOCAL_ACCESS_IP', node.scvm.accessIp ?? NO_ACCESS_IP],
          ['PEER_ACCESS_IPS', peers.map((p) => p.scvm.accessIp ?? NO_ACCESS_IP).join(' ')],
        ] as [string, string][])
      : []),
    // Stretched clusters only (absent otherwise): the peers the agent tries before the other zone's.
    // A node alone in its zone renders '' ("every peer is in our zone" to the agent): with no
    // same-zone peer both readings give one tier of all peers, so the choice is the same.
    ...(manifest.nodes.some((n) => n.zone !== undefined)
      ? ([
          [
            'ZONE_PEER_STORAGE_IPS',
            peers
              .filter((p) => p.zone === node.zone)
              .map((p) => p.scvm.storageIp)
              .join(' '),
          ],
        ] as [string, string][])
      : []),
    ['INTERVAL', String(r.intervalSeconds)],
    ['FAILBACK_DELAY', String(r.failbackDelaySeconds)],
    ['PING_TIMEOUT', String(r.pingTimeoutSeconds)],
    ['FALLBACK_ORDER', r.fallbackOrder.join(' ')],
    // Always written, so a conf read on the host says which mode it runs in (shadow: never moves the route).
    ['MODE', r.mode],
    ['SESSION_SOURCE', r.sessionSource],
    ['REST_PORT', String(r.rest.port)],
    ['REST_PATH', r.rest.path],
    ['SSH_USER', agentSshUser(manifest)],
    ['SSH_KEY', `${dir}/${PRIVATE_KEY_FILE}`],
    ['SSH_KNOWN_HOSTS', `${dir}/${KNOWN_HOSTS_FILE}`],
    ['RUN_DIR', manifest.install.runDir],
    ['LOG_FILE', manifest.install.logFile],
    ['LOG_MAX_BYTES', String(LOG_MAX_BYTES)],
    ['PIN_FILE', `${dir}/${PIN_FILE}`],
  ];
  const header = [
    `# reroute.conf for ${node.name} in cluster ${manifest.clusterName}`,
    '# Written by zbs-reroute from the cluster manifest; local edits are replaced by the next apply.',
  ];
  return [...header, ...entries.map(([k, v]) => `${k}=${shellQuote(v)}`)].join('\n') + '\n';
}
