/**
 * Preflight results for operators: a table for `reroute preflight`, and the
 * compact checks section `reroute plan` and `apply` show above the actions.
 * Pure: returns text; colour is the caller's decision. Host-controlled text
 * (details quote command output) is sanitised like every plan line.
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import { sanitizeForDisplay } from '../observe/sanitize';
import type { CheckStatus, PlanPreflight, PreflightReport } from './preflight-types';

type Colors = ReturnType<typeof pc.createColors>;

const safe = (s: string, max = 300): string => sanitizeForDisplay(s, { multiline: false, maxLength: max });

function paint(c: Colors, st: CheckStatus, text: string): string {
  return st === 'fail' ? c.red(text) : st === 'warn' ? c.yellow(text) : c.green(text);
}

export function summaryText(r: { summary: PreflightReport['summary'] }): string {
  const { pass, warn, fail } = r.summary;
  return `${pass} passed, ${warn} warning(s), ${fail} failed`;
}

/** `reroute preflight`: every check of every host, then the verdict line. */
export function renderPreflightText(r: PreflightReport, opts: { color: boolean }): string {
  const c = pc.createColors(opts.color);
  const table = new Table({
    head: ['host', 'check', 'result', 'detail', 'fix'],
    style: { head: opts.color ? ['bold'] : [], border: [] },
    colWidths: [null, null, null, 60, 50],
    wordWrap: true,
  });
  for (const k of r.checks) table.push([k.host, k.name, paint(c, k.status, k.status.toUpperCase()), safe(k.detail), safe(k.fix)]);
  const fails = r.checks.filter((k) => k.status === 'fail');
  const verdict =
    fails.length === 0
      ? c.green(`Preflight passed: ${summaryText(r)}.`)
      : c.red(`Preflight failed: ${summaryText(r)}. Fix the failed checks (or override one with \`reroute apply --skip-check NAME\`).`);
  return `${table.toString()}\n${c.bold(verdict)}\n`;
}

/** The checks section of a plan: counts, then every failed and warned check with its fix; passes are only counted. */
export function renderChecksSection(p: PlanPreflight, opts: { color: boolean }): string[] {
  const c = pc.createColors(opts.color);
  if (p.notRun !== undefined) return [c.dim(`Checks: not run (${safe(p.notRun)}).`), ''];
  const checks = p.checks ?? [];
  const skipped = new Set(p.skipped ?? []);
  const summary = p.summary ?? { pass: 0, warn: 0, fail: 0 };
  const out = [c.bold(`Checks: ${summaryText({ summary })}`)];
  for (const k of checks.filter((x) => x.status !== 'pass')) {
    const over = k.status === 'fail' && skipped.has(k.name) ? ' (skipped by --skip-check)' : '';
    const mark = k.status === 'fail' ? '✗' : '!';
    out.push(`  ${paint(c, k.status, `${mark} ${k.host} ${k.name}: ${safe(k.detail)}${over}`)}`);
    if (k.fix) out.push(`      ${c.dim(`fix: ${safe(k.fix)}`)}`);
  }
  out.push('');
  return out;
}
