/**
 * The cluster manifest after validation and defaulting. This is the only
 * shape the rest of the program sees; the raw YAML never leaves src/manifest.
 * Every string here has passed the schema's safe-character rules.
 */

export type SessionSource = 'rest' | 'ssh';
export type FallbackTier = 'local-storage' | 'remote-storage' | 'remote-management';
/** `shadow`: the agent decides and logs but never changes a route (first contact with a real cluster). */
export type RoutingMode = 'active' | 'shadow';

/** Where a secret comes from. Secrets are never written in the manifest itself. */
export type CredentialSource =
  | { kind: 'key-file'; path: string; passphraseEnv?: string } // path as written: `~/` is expanded by the caller, relative paths are not resolved here
  | { kind: 'agent'; socketEnv: string } // usually SSH_AUTH_SOCK
  | { kind: 'password-env'; env: string }
  | { kind: 'prompt' };

export interface SshSettings {
  port: number;
  connectTimeoutSeconds: number;
  commandTimeoutSeconds: number;
  hostTimeoutSeconds: number;
  keepaliveSeconds: number;
}

export interface RoutingPolicy {
  intervalSeconds: number; // default 3
  failbackDelaySeconds: number; // default 180
  pingTimeoutSeconds: number; // default 1
  fallbackOrder: FallbackTier[]; // default local-storage, remote-storage, remote-management
  sessionSource: SessionSource; // default rest
  mode: RoutingMode; // default active
  rest: { port: number; path: string }; // default port 80, path /api/v2/zbs_session/session
}

export interface NodeSpec {
  name: string; // ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$
  esxi: {
    address: string; // management IPv4 (what the reconciler connects to)
    storageVmk: string; // e.g. vmk1
    storageIp: string; // the ESXi storage vmknic address (NFS client source when routed via a SCVM)
    datastore: string; // name or UUID under /vmfs/volumes; never "None"/"null"
  };
  scvm: {
    managementIp: string;
    storageIp: string;
    /** RDMA clusters: the address the ESXi routes this SCVM (and 33.2) through; absent = the storage IP. */
    accessIp?: string;
  };
  /** Stretched clusters: the zone (site) of this node; given on every node or on none. */
  zone?: string;
  /** RDMA / storage-gateway /32 route this cluster owns on the host (seed residual issue 3). */
  storageGateway?: string;
  /** Planned maintenance: move this host's IO to another node's SCVM (issue 5). */
  drain?: { to?: string }; // `to` omitted: desiredCluster picks the next undrained node in manifest order
}

export interface Manifest {
  /** Path the manifest was read from (for messages). */
  source: string;
  clusterName: string;
  /** Wanted agent version; defaults to the bundled agent's version. */
  version: string;
  nfsAddress: string; // default 192.168.33.2
  networks: { storage: string; management?: string }; // CIDRs
  install: {
    /** Folder created under /vmfs/volumes/<datastore>/ on each host. */
    dirName: string; // default zbs-reroute
    logFile: string; // default /var/log/scvm_failure.log
    runDir: string; // default /var/run/zbs-reroute (ramdisk: lock + heartbeat)
  };
  routing: RoutingPolicy;
  access: {
    esxi: { user: string; credential: CredentialSource };
    scvm: { user: string; sudo: boolean; credential: CredentialSource };
    ssh: SshSettings;
    parallelism: number; // default 8
  };
  nodes: NodeSpec[];
}
