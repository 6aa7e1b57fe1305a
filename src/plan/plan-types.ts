/**
 * A plan is data: JSON-serialisable, printable (src/plan/render-*.ts) and
 * replayable (`reroute apply PLANFILE`). Built only by the pure planner.
 *
 * Route rule: in an `apply` plan no action touches a route. The only actions
 * that move IO on purpose are `write-pin` / `remove-pin` (drain), and the only
 * route action at all is `delete-route`, which exists in `destroy` plans only
 * and only for gateways that belong to this cluster.
 */

import type { PlanPreflight } from '../preflight/preflight-types';

export type PlanMode = 'apply' | 'destroy';

export type Action =
  | { op: 'mkdir'; path: string; mode: string }
  | {
      op: 'write-file';
      path: string;
      mode: string;
      sha256: string;
      content?: string;
      contentRef?: 'reroute-private-key';
      version?: string;
      /**
       * What is there now (absent = new file). `content` only when observation
       * reported it (small non-secret files), so the plan can show a diff.
       */
      before?: { sha256: string; version?: string; mode: string; content?: string };
    }
  | { op: 'delete-file'; path: string }
  /** `recursive`: remove the whole tree (our install dir at teardown, the legacy folder at takeover). */
  | { op: 'remove-dir'; path: string; recursive?: boolean }
  /**
   * Remove every line equal to one in `remove`, then append each `add` line not
   * present; every other line stays byte for byte (src/plan/text-edits.ts:
   * editCrontab is the reference implementation). `before` = the observed text, for diffs.
   */
  | { op: 'edit-crontab'; remove: string[]; add: string[]; before?: string }
  | { op: 'reload-crond' }
  /** Replace (or with block undefined, remove) our marked block; remove the given foreign-looking legacy lines. */
  | { op: 'edit-local-sh'; block?: string; removeLines: string[]; before?: string }
  | { op: 'auto-backup' }
  /** SIGTERM the loop(s) (they exit without touching the route); `start: true` starts the new loop at once. */
  | { op: 'restart-agent'; reason: string }
  /** Stop every process whose `ps -c` command line contains one of `match` (never touches the route). */
  | { op: 'stop-agent'; match: string[] }
  | { op: 'start-agent' }
  /**
   * Wait (bounded) until our agent's heartbeat is fresh at the wanted version;
   * the host's remaining actions run only if it is. Used before deleting a legacy install.
   */
  | { op: 'verify-agent'; timeoutSeconds: number }
  /** `path` = <installDir>/pin; content is `${target}\n` (src/agent/host-entries.ts: pinFileContent). */
  | { op: 'write-pin'; target: string; targetNode: string; path?: string }
  | { op: 'remove-pin'; path?: string }
  /** `orVia`: other gateways of this cluster; when the route was moved between observing and
   *  deleting (the agent's last switch finishes even after the agent is stopped), the route via the
   *  one of them it has now is deleted instead. Never a gateway outside the cluster. */
  | { op: 'delete-route'; network: string; prefixLength: number; gateway: string; orVia?: string[] }
  /**
   * Open (apply) or restore (teardown) one ESXi firewall ruleset: `steps` run in
   * order through esxcli, then the firewall is refreshed (src/plan/plan-firewall.ts).
   * `record` rewrites our firewall.prior (CAS on its observed hash) before the steps
   * when it grows, after them when it shrinks, so a crash never loses the prior state.
   */
  | {
      op: 'firewall-ruleset';
      ruleset: string;
      reason: string;
      steps: FirewallStep[];
      before: { enabled: boolean; allowedAll: boolean; allowedIps: string[] };
      record?: { path: string; beforeSha256: string; content?: string; sha256?: string; when: 'before' | 'after' };
    }
  /**
   * SCVM: register the local ESXi's client IPs in this SCVM's ZBS session
   * (`zbs-meta session refresh_address`, through sudo -n). Touches no route. `before` = what the
   * session listed; the session id changes when the SCVM's access restarts, so the plan names it.
   */
  | { op: 'register-session-clients'; sessionId: string; clientIps: string[]; before: string[]; reason: string }
  | { op: 'authorized-key-add'; entry: string }
  /** `file: 'root'`: our entry in /root/.ssh/authorized_keys, where releases before issue 11 put it (removed through sudo). */
  | { op: 'authorized-key-remove'; entry: string; file?: 'root' };

export type ActionOp = Action['op'];

/** One esxcli change to a firewall ruleset, as host-ops.sh's zr_fw_ruleset takes it. */
export type FirewallStep = `enabled=${'true' | 'false'}` | `allowed-all=${'true' | 'false'}` | `add=${string}` | `remove=${string}`;

/**
 * `refused`: destroy mode only; the host is left exactly as it is (no action at all) because tearing
 * the agent down there could hurt IO (failed over, drained, local SCVM unhealthy). See `routeDecision`.
 */
export type HostChange = 'create' | 'update' | 'delete' | 'noop' | 'unreachable' | 'takeover' | 'refused';

/**
 * What a destroy does with one ESXi host's routes, and why (src/plan/plan-destroy.ts):
 * - `no-route`: no /32 of this cluster on the host; nothing to keep or delete.
 * - `keep-local`: 33.2 via the local SCVM, which is healthy: left there (the default, like the seed's clear-hypervisor).
 * - `delete-local`: the same, with `--remove-routes`: this cluster's /32 routes are deleted.
 * - `keep-unmanaged`: left as it is because no agent of ours manages it: 33.2 via a gateway that is not
 *   this cluster's, or a host with nothing of ours left (a failed-over route there is no teardown's business).
 * - `refused-failed-over` / `refused-drained` / `refused-local-unhealthy`: the host is refused.
 * - `forced-keep`: `--force-host`: the agent is stopped and our files removed; every route stays as it is.
 */
export type RouteDecisionCode =
  | 'no-route'
  | 'keep-local'
  | 'delete-local'
  | 'keep-unmanaged'
  | 'refused-failed-over'
  | 'refused-drained'
  | 'refused-local-unhealthy'
  | 'forced-keep';

export interface RouteDecision {
  code: RouteDecisionCode;
  /** One sentence for the operator: the route(s) and the evidence. */
  detail: string;
  /** `network/len via gateway` of each route of this cluster seen on the host. */
  routes: string[];
  /** Refused hosts: how to go on. */
  fix?: string;
}

/**
 * Why a host is in the plan, as data (like Terraform's action reasons): `code` says what kind of
 * drift, `item` which owned thing it is about (`crontab`, `local.sh`, `agent`, `pin`, `firewall`,
 * `authorized_keys`, a file name such as `reroute.conf`, …), `detail` is the operator's sentence.
 * Machines (watch logs, --json readers) use code and item; text output prints detail only.
 * Invariant: every code is produced by exactly one planner branch (src/plan/plan-reasons.ts lists them).
 */
export interface PlanReason {
  item: string;
  code: ReasonCode;
  detail: string;
}

export type ReasonCode =
  // files in the install folder
  | 'file-missing'
  | 'file-differs'
  | 'file-mode'
  | 'file-not-ours'
  | 'files-retired'
  | 'peer-file-gains'
  | 'peer-file-differs'
  // the agent process
  | 'agent-version'
  | 'agent-not-running'
  | 'agent-elsewhere'
  | 'agent-stale'
  | 'new-install'
  | 'legacy-takeover'
  // persistence
  | 'crontab-missing'
  | 'crontab-duplicated'
  | 'crontab-stale'
  | 'crontab-legacy'
  | 'crond-stopped'
  | 'local-sh-drift'
  | 'local-sh-legacy'
  | 'firewall-open'
  | 'firewall-restore'
  // deliberate IO moves
  | 'drain-start'
  | 'drain-end'
  // SCVM
  | 'key-missing'
  | 'key-duplicated'
  | 'key-changed'
  | 'key-stale'
  | 'key-root-old'
  | 'key-unneeded'
  | 'session-clients'
  // whole host
  | 'unreachable'
  | 'teardown';

export interface HostPlan {
  node: string;
  host: 'esxi' | 'scvm';
  address: string;
  /** ESXi only: /vmfs/volumes/<datastore>/<dirName>, where the agent and the host lease live. */
  installDir?: string;
  change: HostChange;
  /** sha256 of the observed record the plan was computed from; apply refuses if it changed. */
  observedFingerprint: string;
  /** One per drifted item, in the order the actions fix them (src/plan/plan-reasons.ts). */
  reasons: PlanReason[];
  actions: Action[];
  /** Set when change is 'unreachable'. */
  unreachableReason?: string;
  /** Destroy mode, reachable ESXi hosts: what happens to the routes and why. */
  routeDecision?: RouteDecision;
  /** Things left alone on purpose that the operator should know (e.g. a firewall ruleset already open to all). */
  notes?: string[];
}

export interface Plan {
  format: 'zbs-reroute/plan-v2';
  mode: PlanMode;
  cluster: string;
  version: string;
  createdAt: string;
  /** sha256 of the normalised manifest. */
  manifestSha256: string;
  /** Ordered: SCVM key entries first (so agents can log in), then ESXi hosts in manifest order. */
  hosts: HostPlan[];
  /** Things worth knowing that do not block the plan (from the desired state). */
  warnings?: string[];
  /** `reroute preflight`'s checks, shown above the actions (src/preflight); not part of what apply compares. */
  preflight?: PlanPreflight;
  /**
   * Apply mode: ESXi hosts whose manifest datastore the host mounts over NFS (src/plan/datastore-guard.ts).
   * They get no action; `plan` and `apply` refuse with DATASTORE_NFS while any is listed.
   */
  datastoreRefusals?: Array<{ node: string; datastore: string; type: string; detail: string; fix: string }>;
  /** `--target` / `--target-only` (apply): what was asked, which other hosts were planned or left stale, and why (src/plan/plan-targets.ts). */
  targets?: TargetScope;
  /** `refused` (destroy only, present when > 0): hosts left untouched on purpose (change 'refused'). */
  summary: { add: number; change: number; destroy: number; unreachable: number; refused?: number };
}

/** One host beyond the named targets: planned (`included`) or left stale (`leftOut`), and why. */
export interface TargetScopeEntry {
  node: string;
  host: 'esxi' | 'scvm';
  /** e.g. "peer list (reroute.conf) gains node-3", "key entry from= gains 10.10.0.13, 10.20.0.13". */
  because: string[];
}

export interface TargetScope {
  requested: string[];
  /** `--target-only`: the named ESXi hosts (and every SCVM) only. */
  only: boolean;
  included: TargetScopeEntry[];
  leftOut: TargetScopeEntry[];
}
