import type { ApplyEvent } from '../apply/apply-events';
import type { EngineIo, EngineMessage } from '../engine/engine-io';
import type { ObserveEvent } from '../observe/observe-cluster';
import { sanitizeForDisplay } from '../observe/sanitize';
import { renderPlanText } from '../plan/render-plan-text';
import { describePin } from '../state/known-hosts-store';
import type { IoHost } from './io-host';

/** Observation progress, one line per host as it finishes (long runs on 16+ hosts stay readable). */
export function observeProgress(io: IoHost): (e: ObserveEvent) => void {
  return (e) => {
    if (e.type === 'host-observed')
      io.info(`  observed ${e.node} (${e.kind}) in ${e.ms} ms${e.warnings ? `, ${e.warnings} warning(s)` : ''}`);
    if (e.type === 'host-unreachable')
      io.info(`  ${e.node} (${e.kind}) unreachable: ${sanitizeForDisplay(e.reason, { multiline: false, maxLength: 300 })}`);
  };
}

export function applyProgress(io: IoHost): (e: ApplyEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'host-start':
        io.info(`  ${e.node} (${e.host}): ${e.actions} action(s)…`);
        break;
      case 'action-done':
        io.info(`  ${e.node} (${e.host}): ✓ ${e.action.op}${'path' in e.action ? ` ${e.action.path}` : ''}`);
        break;
      case 'host-done':
        io.info(`  ${e.node} (${e.host}): done`);
        break;
      case 'host-failed':
        io.info(
          `  ${e.node} (${e.host}): FAILED [${e.error.code}] ${sanitizeForDisplay(e.error.message, { multiline: false, maxLength: 500 })}`,
        );
        break;
      case 'host-skipped':
        io.info(`  ${e.node} (${e.host}): skipped (${sanitizeForDisplay(e.reason, { multiline: false, maxLength: 300 })})`);
        break;
      case 'action-start':
        break;
    }
  };
}

/** The engine's messages in words (src/engine/engine-io.ts): progress on stderr in --json mode, warnings marked. */
export function engineIo(io: IoHost): EngineIo {
  const observe = observeProgress(io);
  const apply = applyProgress(io);
  const emit = (m: EngineMessage): void => {
    switch (m.code) {
      case 'HOST_KEY_PINNED':
        if (m.pin.status !== 'match') io.info(`  ${describePin(m.pin)}`);
        return;
      case 'LOCK_WARNING':
        return io.warn(m.message);
      case 'RUN_INCOMPLETE':
        return io.warn(`the previous run (${m.runId}) did not finish; hosts are re-observed, so this run picks up where it stopped`);
      case 'OBSERVE_START':
        return io.info(`Observing ${m.nodes} node(s) of cluster ${m.cluster}…`);
      case 'PREFLIGHT_START':
        return io.info(`Checking ${m.nodes} node(s) of cluster ${m.cluster}…`);
      case 'OBSERVE_PROGRESS':
        return observe(m.event);
      case 'PLAN_SHOWN':
        return io.info(renderPlanText(m.plan, { color: io.color }));
      case 'APPLY_START':
        return io.info(m.mode === 'destroy' ? 'Destroying…' : 'Applying…');
      case 'APPLY_PROGRESS':
        return apply(m.event);
      case 'VERIFY_START':
        return io.info(`Verifying ${m.hosts} host(s)…`);
      case 'VERIFY_PROGRESS':
        return io.info(m.message);
      case 'KEY_PENDING':
        return io.warn(
          'no cluster keypair in the state folder or on any host: the plan shows a placeholder key; apply creates the real one',
        );
      case 'DISCOVER_START':
        return io.info(`Reading ${m.hosts} ESXi host(s)…`);
      case 'DISCOVER_PROGRESS':
        return io.info(m.message);
      case 'DISCOVERED':
        for (const p of m.pairings) io.info(`  ${p.esxi} ↔ SCVM ${p.scvm.storageIp} / ${p.scvm.mgmtIp} (${p.evidence})`);
        if (m.guesses.length > 0) io.warn(`guessed (see the comments in the file): ${m.guesses.join('; ')}`);
        return;
      case 'EVENTS_START':
        return io.info(`Reading the agent logs of ${m.nodes} host(s) of cluster ${m.cluster}…`);
      case 'EVENTS_HOST':
        return io.info(
          m.read
            ? `  ${m.node}: ${m.lines} log line(s) in ${m.ms} ms`
            : `  ${m.node}: log not read: ${sanitizeForDisplay(m.reason ?? 'unknown', { multiline: false, maxLength: 300 })}`,
        );
    }
  };
  return {
    emit,
    confirm: (r) => io.confirm(`Do you want to ${r.mode === 'destroy' ? 'remove zbs-reroute from these hosts' : 'perform these actions'}?`),
    ...(io.askSecret ? { askSecret: io.askSecret } : {}),
  };
}
