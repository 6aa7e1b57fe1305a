import Table from 'cli-table3';
import type { HostApplyResult } from '../../apply/apply-events';
import type { HostVerification } from '../../apply/verify-host';
import type { ApplyRun } from '../../engine/reconciler';
import { sanitizeForDisplay } from '../../observe/sanitize';
import { refusedSummary } from '../../plan/plan-destroy';
import type { Plan } from '../../plan/plan-types';
import { EXIT_ERROR, EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { APPLY_OUTCOME_EXIT, applySummary, verdictCell } from './apply-outcome';

function resultTable(io: IoHost, results: HostApplyResult[], verifications: HostVerification[]): string {
  const table = new Table({
    head: ['node', 'host', 'result', 'actions', 'verification'],
    style: { head: io.color ? ['bold'] : [], border: [] },
  });
  for (const r of results) {
    const v = r.host === 'esxi' ? verifications.find((x) => x.node === r.node) : undefined;
    const verdict = v ? verdictCell(v) : '-';
    const result = r.error ? `${r.status}: ${r.error.message}` : r.status;
    table.push([
      r.node,
      r.host,
      sanitizeForDisplay(result, { multiline: false, maxLength: 160 }),
      `${r.actionsDone}/${r.actionsTotal}`,
      sanitizeForDisplay(verdict, { multiline: false, maxLength: 160 }),
    ]);
  }
  return table.toString();
}

/** Destroy's own words for refused hosts: which, why, and how to go on. */
function destroyRefusedText(plan: Plan): string {
  const lines = refusedSummary(plan.hosts);
  const names = plan.hosts.filter((h) => h.change === 'refused').map((h) => h.node);
  return `${names.length} host(s) refused and left exactly as they are (routes included): ${names.join(', ')}.\n${lines.map((l) => sanitizeForDisplay(l, { multiline: true, maxLength: 800 })).join('\n')}`;
}

/** The result of an apply or destroy (text and --json), and the exit status it stands for. */
export function renderApplyRun(io: IoHost, run: ApplyRun): number {
  const { plan, mode, refused } = run;
  if (run.kind === 'no-changes') {
    if (refused.length > 0) {
      io.result(destroyRefusedText(plan), { ok: false, changes: false, refused, plan });
      return EXIT_ERROR;
    }
    if (run.unseen.length > 0) {
      const list = run.unseen.map((h) => `${h.node} (${h.host})`).join(', ');
      io.result(
        `No changes on the reachable hosts, but ${run.unseen.length} host(s) could not be observed: ${list}. Run ${mode} again when they are back.`,
        {
          ok: false,
          changes: false,
          unreachable: run.unseen.map((h) => ({ node: h.node, host: h.host, reason: h.unreachableReason })),
          plan,
        },
      );
      return EXIT_ERROR;
    }
    io.result(`No changes. Nothing to ${mode === 'destroy' ? 'destroy' : 'apply'}.`, { ok: true, changes: false, plan });
    return EXIT_OK;
  }
  const { ok, outcome, results, verifications, failed } = run;
  const changed = results.filter((r) => r.status === 'applied').length;
  // apply: the worst verdict decides (exit-codes.ts APPLY_EXIT_CODES); destroy: ok or not.
  const exitCode = outcome !== undefined ? APPLY_OUTCOME_EXIT[outcome] : ok ? EXIT_OK : EXIT_ERROR;
  const summary =
    outcome !== undefined
      ? sanitizeForDisplay(applySummary(outcome, changed, failed.length, verifications), { multiline: true, maxLength: 4000 })
      : ok
        ? `Destroy complete: ${changed} host(s) cleaned.`
        : [
            failed.length > 0
              ? `Destroy finished with problems: ${changed} host(s) cleaned, ${failed.length} failed or skipped; fix them and run destroy again: it converges.`
              : `Destroy finished: ${changed} host(s) cleaned.`,
            ...(refused.length > 0 ? [destroyRefusedText(plan)] : []),
          ].join('\n');
  // Coded findings (a blind agent) in full below the table, whose cells are cut at 160 characters.
  const coded = verifications.flatMap((v) =>
    (v.findings ?? []).map((f) =>
      sanitizeForDisplay(`${v.node}: ${f.code}: ${f.message}\n  fix: ${f.fix}`, { multiline: true, maxLength: 800 }),
    ),
  );
  io.result(`${resultTable(io, results, verifications)}\n${summary}${coded.length > 0 ? `\n${coded.join('\n')}` : ''}`, {
    ok,
    ...(outcome !== undefined ? { outcome } : {}),
    exitCode,
    results,
    verifications,
    ...(refused.length > 0 ? { refused } : {}),
  });
  return exitCode;
}
