import { renderChecksSection, renderPreflightText } from './render-preflight';
import { summarize, type PreflightCheck, type PreflightReport } from './preflight-types';

const checks: PreflightCheck[] = [
  { node: 'node-1', host: 'node-1/esxi', name: 'secure-boot', status: 'pass', detail: 'Secure Boot off', fix: '' },
  { node: 'node-2', host: 'node-2/esxi', name: 'secure-boot', status: 'fail', detail: 'UEFI Secure Boot is on', fix: 'Turn it off.' },
  {
    node: 'node-2',
    host: 'node-2/esxi',
    name: 'crond',
    status: 'warn',
    detail: 'crond is not running\u001b[31m',
    fix: 'apply starts crond',
  },
];
const report: PreflightReport = {
  format: 'zbs-reroute/preflight-v1',
  cluster: 'c',
  checkedAt: '2026-12-01T12:00:00.000Z',
  checks,
  skipped: [],
  summary: summarize(checks),
};

describe('preflight rendering', () => {
  test('the table lists every check with its fix and ends with the verdict; host text is sanitised', () => {
    const t = renderPreflightText(report, { color: false });
    expect(t).toContain('node-2/esxi');
    expect(t).toContain('FAIL');
    expect(t).toContain('Turn it off.');
    expect(t).not.toContain('\u001b[31m');
    expect(t.trim().split('\n').pop()).toBe(
      'Preflight failed: 1 passed, 1 warning(s), 1 failed. Fix the failed checks (or override one with `reroute apply --skip-check NAME`).',
    );
  });

  test('the plan section counts passes and lists failed and warned checks with their fixes; failed ones in red', () => {
    const lines = renderChecksSection({ checks, summary: report.summary }, { color: false });
    expect(lines).toEqual([
      'Checks: 1 passed, 1 warning(s), 1 failed',
      '  ✗ node-2/esxi secure-boot: UEFI Secure Boot is on',
      '      fix: Turn it off.',
      expect.stringContaining('! node-2/esxi crond: crond is not running'),
      '      fix: apply starts crond',
      '',
    ]);
    const red = renderChecksSection({ checks, summary: report.summary }, { color: true }).find((l) => l.includes('secure-boot'));
    expect(red).toContain('\u001b[31m');
    expect(renderChecksSection({ checks, summary: report.summary, skipped: ['secure-boot'] }, { color: false })[1]).toContain(
      '(skipped by --skip-check)',
    );
  });

  test('an offline plan says checks were not run, and why', () => {
    expect(renderChecksSection({ notRun: 'offline plan from --observed' }, { color: false })[0]).toBe(
      'Checks: not run (offline plan from --observed).',
    );
  });
});
