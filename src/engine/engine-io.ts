import type { ApplyEvent } from '../apply/apply-events';
import type { Pairing } from '../discover/discover-types';
import type { ObserveEvent } from '../observe/observe-cluster';
import type { AgentHeartbeat } from '../observe/observed-types';
import type { Plan, PlanMode } from '../plan/plan-types';
import type { PinResult } from '../state/known-hosts-store';
import type { HostStatus } from './cluster-status';

/**
 * Everything the engine tells its caller while it works, as data with a stable
 * `code` (like aws-cdk toolkit-lib's IoMessage): the CLI renders each one, a
 * script or another front end may switch on the code. The engine never prints.
 */
export type EngineMessage =
  /** A host key pinned or re-pinned on contact (status 'match' too: the renderer decides what to show). */
  | { code: 'HOST_KEY_PINNED'; pin: PinResult }
  | { code: 'LOCK_WARNING'; message: string }
  /** The journal's last run has no end: this run re-observes and picks up where it stopped. */
  | { code: 'RUN_INCOMPLETE'; runId: string }
  | { code: 'OBSERVE_START'; cluster: string; nodes: number }
  | { code: 'PREFLIGHT_START'; cluster: string; nodes: number }
  | { code: 'OBSERVE_PROGRESS'; event: ObserveEvent }
  /** The plan as it will be carried out (checks, notes, warnings), also just before a refusal that names it. */
  | { code: 'PLAN_SHOWN'; plan: Plan }
  | { code: 'APPLY_START'; mode: PlanMode }
  | { code: 'APPLY_PROGRESS'; event: ApplyEvent }
  | { code: 'VERIFY_START'; hosts: number }
  | { code: 'VERIFY_PROGRESS'; message: string }
  /** An offline plan of an ssh-source cluster with no keypair anywhere shows PENDING_KEY. */
  | { code: 'KEY_PENDING' }
  | { code: 'DISCOVER_START'; hosts: number }
  | { code: 'DISCOVER_PROGRESS'; message: string }
  /** The manifest discover made passed validation: how ESXi hosts and SCVMs were paired, and what was guessed. */
  | { code: 'DISCOVERED'; pairings: Pairing[]; guesses: string[] }
  /**
   * watch: one record of what the loop decided or saw (the reducer's log effects, a correction's
   * host operation). `event` is its stable name, the `event` field of watch.log's JSON lines.
   */
  | { code: 'WATCH_RECORD'; level: MessageLevel; event: string; message: string; fields: Record<string, unknown> }
  /** watch: the nodes it now watches (at start and after each manifest change); others are gone. */
  | { code: 'NODES_WATCHED'; nodes: { node: string; failbackDelaySeconds: number }[] }
  /** watch: one node's check ended (what watch's metrics are made of, src/metrics). */
  | { code: 'NODE_CHECKED'; check: NodeCheck }
  /** `reroute events`: the agent logs of this many hosts are being read. */
  | { code: 'EVENTS_START'; cluster: string; nodes: number }
  /** One host's agent log read (or not, and why). */
  | { code: 'EVENTS_HOST'; node: string; read: boolean; lines: number; ms: number; reason?: string };

/** One node's check by watch: its `status` row and the agent's own heartbeat, as observed. */
export interface NodeCheck {
  node: string;
  /** Epoch ms when the check ended, and how long it took. */
  at: number;
  durationMs: number;
  esxiReachable: boolean;
  scvmReachable: boolean;
  /** Absent when the ESXi host could not be judged (unreachable, or the plan failed). */
  status?: HostStatus;
  heartbeat?: AgentHeartbeat;
  /** The host's clock when probed (epoch s): heartbeat ages and times are measured on it. */
  hostNow?: number;
  /** Drift items (`crontab`, `reroute.conf`, …) the check found on this node's hosts. */
  drift: string[];
}

export type MessageLevel = 'debug' | 'info' | 'warn' | 'error';

export type EngineMessageCode = EngineMessage['code'];

/** Where a long-running front end (watch) sends its messages: no questions, nobody to answer them. */
export type EngineSink = Pick<EngineIo, 'emit'>;

/** What the engine asks of its caller: where messages go, and the two questions only an operator can answer. */
export interface EngineIo {
  emit(message: EngineMessage): void;
  /** Go ahead with a plan that changes hosts? False when nobody can answer (no terminal). */
  confirm(request: { code: 'APPLY_CONFIRM'; mode: PlanMode }): Promise<boolean>;
  /** Ask for a credential without echoing it; absent when there is no terminal to ask on. */
  readonly askSecret?: (question: string) => Promise<string>;
}
