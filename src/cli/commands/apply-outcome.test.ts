import type { HostVerification } from '../../apply/verify-host';
import { EXIT_APPLIED_WITH_WARNINGS, EXIT_ERROR, EXIT_OK, EXIT_UNKNOWN } from '../exit-codes';
import { APPLY_OUTCOME_EXIT, applyOutcome, applySummary, verdictCell } from './apply-outcome';

const v = (node: string, verdict: HostVerification['verdict'], extra: Partial<HostVerification> = {}): HostVerification => ({
  node,
  verdict,
  ok: verdict === 'ok' || verdict === 'warning',
  problems: [],
  warnings: [],
  unreachableIps: [],
  ...extra,
});
const exitOf = (failed: number, vs: HostVerification[]) => APPLY_OUTCOME_EXIT[applyOutcome(failed, vs)];

describe('apply exit status from the verdicts', () => {
  test('0: every changed host verified', () => {
    expect(exitOf(0, [v('node-1', 'ok'), v('node-2', 'ok')])).toBe(EXIT_OK);
    expect(exitOf(0, [])).toBe(EXIT_OK);
  });

  test('4: verified with a peer warning, distinct from success and from failure', () => {
    expect(exitOf(0, [v('node-1', 'ok'), v('node-2', 'warning')])).toBe(EXIT_APPLIED_WITH_WARNINGS);
    expect(new Set([EXIT_OK, EXIT_ERROR, EXIT_UNKNOWN, EXIT_APPLIED_WITH_WARNINGS]).size).toBe(4);
  });

  test('3: a host without a verdict wins over warnings', () => {
    expect(exitOf(0, [v('node-1', 'warning'), v('node-2', 'inconclusive')])).toBe(EXIT_UNKNOWN);
  });

  test('1: any failed verification or failed host wins over everything', () => {
    expect(exitOf(0, [v('node-1', 'inconclusive'), v('node-2', 'failed')])).toBe(EXIT_ERROR);
    expect(exitOf(1, [v('node-1', 'ok')])).toBe(EXIT_ERROR);
  });
});

describe('apply summary', () => {
  test('warnings name the host and the peer', () => {
    const s = applySummary('warnings', 2, 0, [
      v('node-1', 'ok'),
      v('node-2', 'warning', { warnings: ['peer node-3 (10.20.0.103) does not answer pings from node-2: a failover could not use it'] }),
    ]);
    expect(s).toContain('Apply complete with warnings: 2 host(s) changed, 2 verified');
    expect(s).toContain('  node-2: peer node-3 (10.20.0.103) does not answer pings from node-2');
  });

  test('inconclusive names the host and why, and says the others were judged', () => {
    const s = applySummary('inconclusive', 3, 0, [
      v('node-1', 'ok'),
      v('node-3', 'inconclusive', { reason: 'unreachable during verification: timed out' }),
    ]);
    expect(s).toMatch(/1 host\(s\) could not be verified \(inconclusive, exit 3\): node-3 \(unreachable during verification: timed out\)/);
  });

  test('table cell per verdict', () => {
    expect(verdictCell(v('node-1', 'ok', { route: { gateway: '10.20.0.101', local: true } }))).toBe('ok (route via 10.20.0.101, local)');
    expect(verdictCell(v('node-1', 'inconclusive', { reason: 'x' }))).toBe('inconclusive: x');
    expect(verdictCell(v('node-1', 'failed', { problems: ['a', 'b'] }))).toBe('a; b');
  });
});
