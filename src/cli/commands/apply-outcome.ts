import type { HostVerification } from '../../apply/verify-host';
import type { ApplyOutcome } from '../../engine/apply-outcome';
import { EXIT_APPLIED_WITH_WARNINGS, EXIT_ERROR, EXIT_OK, EXIT_UNKNOWN } from '../exit-codes';

export { applyOutcome, type ApplyOutcome } from '../../engine/apply-outcome';

export const APPLY_OUTCOME_EXIT: Record<ApplyOutcome, number> = {
  ok: EXIT_OK,
  failed: EXIT_ERROR,
  inconclusive: EXIT_UNKNOWN,
  warnings: EXIT_APPLIED_WITH_WARNINGS,
};

const count = (vs: HostVerification[], verdict: HostVerification['verdict']): number => vs.filter((v) => v.verdict === verdict).length;

/** The line under the result table: what happened and what to do, every host's verdict counted. */
export function applySummary(outcome: ApplyOutcome, changed: number, failedHosts: number, verifications: HostVerification[]): string {
  const verified = verifications.length > 0 ? `, ${count(verifications, 'ok') + count(verifications, 'warning')} verified` : '';
  const unverified = count(verifications, 'inconclusive');
  switch (outcome) {
    case 'ok':
      return `Apply complete: ${changed} host(s) changed${verified}.`;
    case 'warnings': {
      const lines = verifications.flatMap((v) => v.warnings.map((w) => `  ${v.node}: ${w}`));
      return `Apply complete with warnings: ${changed} host(s) changed${verified}; a peer SCVM did not answer (exit ${EXIT_APPLIED_WITH_WARNINGS}):\n${lines.join('\n')}\nCheck the storage network to the named SCVM(s): \`reroute status\` shows where each host's IO goes.`;
    }
    case 'inconclusive':
      return `Apply finished, but ${unverified} host(s) could not be verified (inconclusive, exit ${EXIT_UNKNOWN}): ${verifications
        .filter((v) => v.verdict === 'inconclusive')
        .map((v) => `${v.node} (${v.reason ?? 'no verdict'})`)
        .join('; ')}. The other hosts' verdicts are above. Run \`reroute status\` when they answer again.`;
    case 'failed':
      return `Apply finished with problems: ${failedHosts} host(s) failed or skipped, ${count(verifications, 'failed')} failed verification${unverified > 0 ? `, ${unverified} inconclusive` : ''}. Fix them and run apply again: it converges.`;
  }
}

/** The verification cell of one host in the result table. */
export function verdictCell(v: HostVerification): string {
  const route = `route via ${v.route?.gateway ?? '?'}${v.route?.local ? ', local' : ''}`;
  switch (v.verdict) {
    case 'ok':
      return `ok (${route})`;
    case 'warning':
      return `ok with warning (${route}): ${v.warnings.join('; ')}`;
    case 'inconclusive':
      return `inconclusive: ${v.reason ?? 'no verdict'}`;
    case 'failed':
      return v.problems.join('; ');
  }
}
