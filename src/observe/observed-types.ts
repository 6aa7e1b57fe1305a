/**
 * What observation reports about each host. Produced by parsing the probe
 * script's output (esxi/probe/probe.sh) or read back from a saved snapshot
 * (`reroute plan --observed SNAPSHOT.json`). Plain JSON, no classes.
 */

export interface ObservedFile {
  /** Absolute path on the host. */
  path: string;
  sha256: string;
  /** Value of `reroute_version=` on line 2, when present. */
  version?: string;
  size: number;
  /** Octal mode string, e.g. "0600". */
  mode: string;
}

export interface ObservedRoute {
  network: string; // e.g. 192.168.33.2
  prefixLength: number; // 32
  gateway: string;
  iface?: string;
}

export type TargetKind = 'local' | 'remote-storage' | 'remote-management' | 'pin' | 'none';

/**
 * Parsed heartbeat/status file the agent writes every iteration. The fields after `fetchMs` come
 * from agents since issue 12 and are absent when an older agent did not write them.
 */
export interface AgentHeartbeat {
  version: string;
  pid: number;
  target: string; // gateway IP 33.2 is really routed to ('' when none), in both modes
  targetKind: TargetKind;
  since: number; // epoch seconds when target was chosen/adopted
  updated: number; // epoch seconds of the last iteration
  fetch: 'ok' | 'fail';
  fetchMs: number;
  /** `shadow`: the agent decides and logs but never changes the route. */
  mode?: 'active' | 'shadow';
  /** No session list for BLIND_AFTER iterations: the agent cannot see an SCVM fail. */
  blind?: boolean;
  /** Consecutive iterations without a session list (0 when the last one had one). */
  fetchFails?: number;
  /** Seconds since the last good session list; absent when it never had one (or an old agent). */
  listAgeSeconds?: number;
  /** Shadow mode: the gateway the agent would route 33.2 through ('' = none). */
  shadowTarget?: string;
  shadowKind?: TargetKind;
  /** Shadow mode: route changes the agent would have made since it started. */
  shadowChanges?: number;
  /** Shadow mode: the real route's gateway differs from shadowTarget now, since disagreeSince. */
  disagree?: boolean;
  disagreeSince?: number;
  /**
   * Counters since the host booted (issue 16): the agent reads them back from its status file when
   * cron restarts it, and RUN_DIR is a ramdisk, so they start at 0 after a reboot. Route changes the
   * agent made: `failovers` local → a remote SCVM or a pin, `failbacks` the way back to local,
   * `routeChanges` all of them. Iterations: `fetchFailures` without a session list, `blindIterations` blind.
   */
  failovers?: number;
  failbacks?: number;
  routeChanges?: number;
  fetchFailures?: number;
  blindIterations?: number;
  /** The agent's last route decision, why, and when (epoch seconds); absent before its first one. */
  lastDecision?: AgentDecision;
  lastReason?: AgentDecisionReason;
  lastDecisionAt?: number;
}

/**
 * A route decision of the agent (esxi/agent/README.md, "Status file"): `switch` is any other move
 * (remote to remote, or from no route or an unknown one); `adopt` takes the route it found (at
 * start, after a drift, when shadow mode ends); `change-failed` is a move the route tool refused.
 */
export type AgentDecision = 'failover' | 'failback' | 'switch' | 'adopt' | 'change-failed';

/** Why the agent decided (the fixed set of DECISION_REASONS in esxi/agent/reroute-loop.sh). */
export type AgentDecisionReason =
  | 'local-ping'
  | 'local-unlisted'
  | 'gateway-down'
  | 'gateway-unlisted'
  | 'failback-delay-passed'
  | 'better-tier'
  | 'pin'
  | 'unpin'
  | 'drain'
  | 'no-route'
  | 'foreign-route'
  | 'config'
  | 'route-drift'
  | 'mode-active'
  | 'start';

export interface LegacyInstall {
  /** Folder of the seed tooling, e.g. /vmfs/volumes/<uuid>/vmware_scvm_failure */
  dir: string;
  version?: string; // reroute_version= on line 2 of scvm_failure_loop.sh
  crontabLine?: string;
  localShLines: string[];
  keyDir?: string; // .smartx_key
  /** Legacy loop processes seen in `ps -c` (stopped on takeover). */
  processes?: { pid: number; command: string }[];
}

/** One ESXi firewall ruleset (`esxcli network firewall ruleset list` + `allowedip list`). */
export interface FirewallRulesetState {
  enabled: boolean;
  /** `All` in the allowed-IP list: the ruleset's ports are open to every address. */
  allowedAll: boolean;
  /** Addresses or networks (`a.b.c.d` or `a.b.c.d/len`) when allowedAll is false. */
  allowedIps: string[];
}

/**
 * What a ruleset looked like before zbs-reroute first changed it, and which
 * addresses zbs-reroute added since (the install dir's `firewall.prior` file):
 * teardown puts the ruleset back from this.
 */
export interface FirewallPrior extends FirewallRulesetState {
  addedIps: string[];
}

/** The install dir's datastore on one host. Only fields that do not move by themselves (no free space: it would stale saved plans). */
export interface ObservedDatastore {
  /** The name in the install dir path (`/vmfs/volumes/<name>/...`), i.e. the manifest's datastore. */
  name: string;
  /** Type of the volume with that Volume Name or UUID: `VMFS-6`, `NFS`, `NFS41`, `vsan`, …; absent when the host lists none. */
  type?: string;
  mounted?: boolean;
  /** Named, mounted VMFS datastores on the host (not the VMFSOS system volume): what to suggest instead. */
  vmfs: string[];
  /** Set when the probe ran the filesystem list but could not read it (esxcli failed or hung): why. */
  unreadable?: string;
}

export interface EsxiObserved {
  kind: 'esxi';
  node: string;
  reachable: true;
  /** Epoch seconds on the host when probed. */
  now: number;
  esxiVersion?: string; // `vmware -v`
  /** Files in our install dir (absolute path → file). */
  files: Record<string, ObservedFile>;
  /** Directories we own (install dir, keys/, lease/): absolute path → octal mode. */
  dirs?: Record<string, { mode: string }>;
  /** Content of the pin file (a target IP) when present. */
  pinTarget?: string;
  /** Full text of /var/spool/cron/crontabs/root ('' when missing). */
  crontab: string;
  /** Full text of /etc/rc.local.d/local.sh ('' when missing). */
  localSh: string;
  /** Route for <nfsAddress>/32 if any. */
  nfsRoute?: ObservedRoute;
  /** Other /32 routes whose gateway or destination is a cluster IP (RDMA / storage-gateway leftovers). */
  otherHostRoutes: ObservedRoute[];
  /** Agent loop processes seen in `ps -c` (pids + command). */
  agentProcesses: { pid: number; command: string }[];
  heartbeat?: AgentHeartbeat;
  crondRunning: boolean;
  /** Public key text of the reroute key installed on the host, if any. */
  reroutePublicKey?: string;
  vmknics: { name: string; ip: string; netmask: string }[];
  legacy?: LegacyInstall;
  /**
   * The firewall rulesets an agent session source may need (httpClient, sshClient), by name;
   * absent when the probe could not read them (old probe, esxcli failed).
   */
  firewall?: Record<string, FirewallRulesetState>;
  /** Our record of rulesets as they were before we changed them (install dir `firewall.prior`). */
  firewallPrior?: Record<string, FirewallPrior>;
  /** A live host lease held by another operator (issue 5). */
  lease?: { owner: string; pid: number; expires: number };
  /**
   * The datastore the install dir is on, as `esxcli storage filesystem list` shows it (issue 13:
   * the agent must not live on NFS). Absent from older probes and snapshots; `unreadable` when
   * esxcli failed or hung (then nobody knows, and the plan says so).
   */
  datastore?: ObservedDatastore;
  /** Oddities seen while parsing the probe output (already sanitized for display). */
  warnings?: string[];
}

export interface ScvmObserved {
  kind: 'scvm';
  node: string;
  reachable: true;
  /** Lines of the operator user's ~/.ssh/authorized_keys that carry our marker comment. */
  managedKeys: string[];
  /** Our marked lines left in root's authorized_keys by releases before issue 11 (read through sudo; absent when unreadable). */
  rootManagedKeys?: string[];
  /** Count of other lines (never shown, never touched). */
  foreignKeyCount: number;
  /**
   * The SCVM's SSH host key as the reconciler saw (and pinned) it, one
   * known_hosts-style `type base64` string. The agent's known_hosts is built
   * from these, so offline planning from a snapshot needs no state folder.
   */
  hostKey?: string;
  /**
   * This SCVM's own ZBS session (the `zbs-meta session list` row whose Ip is its storage IP) and
   * the ESXi client IPs registered in it, or why it could not be read (meta down, access not
   * listed). Absent in snapshots from older releases: then nothing is planned for it.
   */
  zbsSession?: { sessionId: string; localClientsIps: string[] } | { problem: string };
}

export interface Unreachable {
  kind: 'esxi' | 'scvm';
  node: string;
  reachable: false;
  reason: string;
}

export type HostObservation = EsxiObserved | ScvmObserved | Unreachable;

export interface ObservedCluster {
  /** Snapshot format version. */
  format: 'zbs-reroute/observed-v1';
  takenAt: string; // ISO time
  esxi: Record<string, EsxiObserved | Unreachable>;
  scvm: Record<string, ScvmObserved | Unreachable>;
}
