/**
 * The data of `reroute events` (issue 16): what every agent decided, on every host, in time order.
 * Plain JSON values (times as ISO strings with their epoch ms beside), so `--json` prints them as
 * they are and the SVG renderer and the text table read the same thing.
 */

/**
 * Where a host's IO to the NFS address is served: the agent's `KIND` words (reroute-loop.sh
 * `kind_of`, `choose`). `foreign`: a gateway outside the cluster; `unknown`: the log does not say
 * (before its first line, or after a route the agent adopted without naming its kind).
 */
export type RouteKind = 'local' | 'remote-storage' | 'remote-management' | 'pin' | 'none' | 'foreign' | 'unknown';

export const ROUTE_KINDS: readonly RouteKind[] = ['local', 'remote-storage', 'remote-management', 'pin', 'none', 'foreign', 'unknown'];

/** What a route change was, in the agent's words: away from the local SCVM, back to it, or any other move (remote to remote, the first route). */
export type DecisionKind = 'failover' | 'failback' | 'switch';

/**
 * Why, as a stable code. From the agent's own `[decision=… reason=…]` suffix when the line has one
 * (its codes: esxi/agent/reroute-loop.sh `move_reason`; any lower-case word it writes is kept as
 * it is), else derived from the lines before it: `local-ping` the local access stopped answering
 * ping; `local-unlisted` it left meta's session list; `drain` a drain pin (planned maintenance)
 * or its fallback; `pin` a pin; `gateway-down` the remote gateway in use stopped answering;
 * `failback-delay-passed` the local access stayed healthy for the failback delay; `no-route` there
 * was no route before; `unknown` nothing in the log says.
 */
export const REASON_CODES = [
  'local-ping',
  'local-unlisted',
  'drain',
  'pin',
  'gateway-down',
  'failback-delay-passed',
  'no-route',
  'unknown',
] as const;
export type KnownReason = (typeof REASON_CODES)[number];

/** The kinds of agent log lines the timeline keeps (every other line is counted, not shown). */
export type AgentEventType =
  | 'route'
  | 'route-failed'
  | 'start'
  | 'drift'
  | 'mode-active'
  | 'stop'
  | 'exit'
  | 'local-down'
  | 'local-unlisted'
  | 'blind'
  | 'sight-back'
  | 'no-target'
  | 'drain'
  | 'pin'
  | 'shadow';

export interface RouteDecision {
  decision: DecisionKind;
  reason: string;
  /** Gateways as logged (`none` when there was no route). */
  from: string;
  to: string;
  /** Where IO was served before (as the log tells it) and after. */
  fromKind: RouteKind;
  kind: RouteKind;
  /** RDMA clusters: the SCVM storage IP whose access IP `to` is. */
  viaAccessOf?: string;
  /** The agent saw the old gateway silent before it moved. */
  oldGatewayDown: boolean;
  /** True when decision and reason are the agent's own words (`[decision=… reason=…]`), false when derived here. */
  logged: boolean;
}

export interface AgentEvent {
  /** ISO 8601 UTC (the agent writes host time without a zone; ESXi runs in UTC: docs/field-notes.md §14). */
  at: string;
  atMs: number;
  /** The manifest node whose ESXi host wrote the line. */
  host: string;
  type: AgentEventType;
  /** The line's message, made safe for a terminal (src/observe/sanitize.ts). */
  message: string;
  /** Route lines only. */
  route?: RouteDecision;
  /** Where IO is served after this line, when the line says so (or the gateway was seen before). */
  served?: { kind: RouteKind; gateway: string };
}

/** A failover and what ended it: the failback (or a restarted agent finding the local route). */
export interface Episode {
  host: string;
  start: string;
  startMs: number;
  end: string | null;
  endMs: number | null;
  /** Seconds from the failover to the failback; null while still open. */
  durationSeconds: number | null;
  open: boolean;
  /** The failover's reason code. */
  reason: string;
  /** Where IO went, in order (a switch adds one). */
  kinds: RouteKind[];
  gateways: string[];
  switches: number;
  /** failback: a route line back to local; adopted: the agent (re)started or adopted a local route. */
  endedBy: 'failback' | 'adopted' | null;
  /** The log starts inside this episode: its real start is earlier than `start`. */
  partial: boolean;
}

/** One stretch of time during which a host's IO went one way. */
export interface ServedSegment {
  host: string;
  fromMs: number;
  toMs: number;
  kind: RouteKind;
  gateway: string;
}
