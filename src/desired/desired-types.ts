/**
 * What each host should look like, computed purely from the manifest and the
 * agent bundle (src/desired/desired-state.ts). Secrets never appear here: the
 * private key is a reference (`contentRef`) resolved by apply from the state folder.
 */

import type { PeerView } from './peer-files';

export interface DesiredFile {
  path: string; // absolute on the host
  mode: string; // octal, e.g. "0755" / "0600"
  sha256: string;
  /** Present for every non-secret file. */
  content?: string;
  /** For secret files: where apply reads the bytes from. */
  contentRef?: 'reroute-private-key';
  /** reroute_version= on line 2, for agent scripts. */
  version?: string;
}

export interface DesiredEsxi {
  node: string;
  address: string;
  /** /vmfs/volumes/<datastore>/<dirName> */
  installDir: string;
  files: DesiredFile[];
  /** The exact root crontab line we own. */
  crontabLine: string;
  /** Our local.sh block, markers included, newline-terminated. */
  localShBlock: string;
  /** Pin file content (a target IP) when the node is drained; undefined = no pin. */
  pinTarget?: string;
  /** Node whose SCVM the pin points at (for the plan's "IO drained to <node>"). */
  pinTargetNode?: string;
  /** Storage-gateway /32 route this cluster owns (only teardown removes it). */
  storageGateway?: string;
  /** The firewall ruleset the agent's session source needs, open to exactly these addresses. */
  firewall?: DesiredFirewall;
  /**
   * Files (and then empty dirs) of ours that must not be on the host, with why: the cluster
   * keypair and known_hosts when nothing on the host uses them (session source `rest`).
   */
  retired?: { files: string[]; dirs: string[]; reason: string };
}

export interface DesiredFirewall {
  /** httpClient (REST: the agent's wget) or sshClient (ssh session source). */
  ruleset: 'httpClient' | 'sshClient';
  /** The SCVM addresses the agent talks to (storage, management, access), manifest order. */
  allowedIps: string[];
  /** <installDir>/firewall.prior: how the rulesets were before we changed them. */
  recordPath: string;
}

export interface DesiredScvm {
  node: string;
  address: string; // SCVM management IP, what the reconciler connects to
  /**
   * The one authorized_keys line we own on this SCVM (the operator user's ~/.ssh/authorized_keys);
   * undefined: none wanted (nothing logs in with the cluster key), so every entry of ours goes.
   */
  authorizedKey?: string;
  /** Why no entry is wanted (shown as the plan's reason when one is removed). */
  noKeyReason?: string;
  /**
   * The local ESXi's client IPs (management, storage) that this SCVM's ZBS session must list
   * in local_clients_ips (src/observe/zbs-session.ts); absent = not managed (older callers).
   */
  sessionClientIps?: string[];
}

export interface DesiredCluster {
  cluster: string;
  version: string;
  nfsAddress: string;
  /** Every gateway a 33.2 route of this cluster may point at (SCVM storage, management and access IPs). */
  clusterGateways: string[];
  /**
   * Every address that belongs to the cluster (NFS address, SCVM and ESXi IPs, storage gateways).
   * Teardown deletes a /32 route only when its destination is one of these AND its gateway is a
   * cluster gateway or the host's own storage gateway.
   */
  clusterAddresses?: string[];
  /**
   * The manifest's routing.mode (absent = active). Shadow: our agent is installed and runs, but a
   * legacy seed agent stays in charge of the route (no stop, its crontab and local.sh lines kept).
   */
  routingMode?: 'active' | 'shadow';
  /** A heartbeat older than this (host clock) means the agent is hung: the plan restarts it. */
  heartbeatStaleSeconds?: number;
  /** Things the operator should know that do not stop planning (e.g. an SCVM host key not pinned yet). */
  warnings?: string[];
  esxi: DesiredEsxi[];
  /** Which files of each ESXi name its peers, and each node's addresses as peers see them (src/desired/peer-files.ts). */
  peerView?: PeerView;
  scvm: DesiredScvm[];
}

export type { AgentBundle } from '../agent/agent-bundle';

/** Cluster keypair material the desired state may see (no private bytes). */
export interface ClusterKeyInfo {
  publicKey: string; // OpenSSH one-line public key
  privateKeySha256: string; // hash of the private key file bytes, so drift is detectable
}
