import type { ApplyEvent } from '../apply/apply-events';
import type { ObserveEvent } from '../observe/observe-cluster';
import { sanitizeForDisplay } from '../observe/sanitize';
import type { IoHost } from './io-host';

/** Observation progress, one line per host as it finishes (long runs on 16+ hosts stay readable). */
export function observeProgress(io: IoHost): (e: ObserveEvent) => void {
  return (e) => {
    if (e.type === 'host-observed') io.info(`  observed ${e.node} (${e.kind}) in ${e.ms} ms${e.warnings ? `, ${e.warnings} warning(s)` : ''}`);
    if (e.type === 'host-unreachable') io.info(`  ${e.node} (${e.kind}) unreachable: ${sanitizeForDisplay(e.reason, { multiline: false, maxLength: 300 })}`);
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
        io.info(`  ${e.node} (${e.host}): FAILED [${e.error.code}] ${sanitizeForDisplay(e.error.message, { multiline: false, maxLength: 500 })}`);
        break;
      case 'host-skipped':
        io.info(`  ${e.node} (${e.host}): skipped (${sanitizeForDisplay(e.reason, { multiline: false, maxLength: 300 })})`);
        break;
      case 'action-start':
        break;
    }
  };
}
