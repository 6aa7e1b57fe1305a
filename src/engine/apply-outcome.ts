import type { HostVerification } from '../apply/verify-host';

/** The whole apply run, worst first: a failure, then a host without a verdict, then warnings. */
export type ApplyOutcome = 'failed' | 'inconclusive' | 'warnings' | 'ok';

/** `failedHosts`: hosts whose apply failed or was skipped. */
export function applyOutcome(failedHosts: number, verifications: HostVerification[]): ApplyOutcome {
  if (failedHosts > 0 || verifications.some((v) => v.verdict === 'failed')) return 'failed';
  if (verifications.some((v) => v.verdict === 'inconclusive')) return 'inconclusive';
  if (verifications.some((v) => v.verdict === 'warning')) return 'warnings';
  return 'ok';
}
