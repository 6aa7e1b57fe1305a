import type { Action, HostPlan } from '../plan/plan-types';

/** What apply reports while it works. The CLI turns these into progress lines; tests assert on them. */
export type ApplyEvent =
  | { type: 'host-start'; node: string; host: HostPlan['host']; actions: number }
  | { type: 'action-start'; node: string; host: HostPlan['host']; index: number; action: Action }
  | { type: 'action-done'; node: string; host: HostPlan['host']; index: number; action: Action }
  | { type: 'host-done'; node: string; host: HostPlan['host'] }
  | { type: 'host-failed'; node: string; host: HostPlan['host']; error: { code: string; message: string; fix: string } }
  | { type: 'host-skipped'; node: string; host: HostPlan['host']; reason: string };

export type ApplyEventSink = (event: ApplyEvent) => void;

export interface HostApplyResult {
  node: string;
  host: HostPlan['host'];
  status: 'applied' | 'unchanged' | 'failed' | 'skipped';
  actionsDone: number;
  actionsTotal: number;
  error?: { code: string; message: string; fix: string };
}
