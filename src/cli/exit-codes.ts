import { RerouteError } from '../errors/reroute-error';

/** Terraform's convention, which operators already script against. */
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
/** `--detailed-exitcode`: changes present; `status --check`: hosts off the wanted version. */
export const EXIT_CHANGES = 2;
/**
 * `status --check`: no host failed a check, but some host could not be observed, so its state is
 * unknown (monitoring's UNKNOWN, as in the Nagios plugin convention). A definite failure (2) wins.
 */
export const EXIT_UNKNOWN = 3;
/**
 * `apply`: every host applied and no verification failed or was inconclusive, but a sampled peer
 * SCVM does not answer pings from some host (a failover there could not use it): a warning.
 */
export const EXIT_APPLIED_WITH_WARNINGS = 4;

/** `reroute apply --help`: scripts key on these (docs/design.md). Worst outcome wins: 1, then 3, then 4. */
export const APPLY_EXIT_CODES = `
Exit codes:
  0  applied (or nothing to do) and every changed host verified
  1  a host failed or was skipped, or failed verification (agent, route, local SCVM or current gateway), or apply could not run
  3  applied, nothing failed, but a host could not be verified (unreachable or timed out during verification): verdict "inconclusive"
  4  applied and verified, with warnings: a sampled peer SCVM does not answer from a host (named in the output)
JSON: verifications[].verdict is ok | warning | inconclusive | failed; "outcome" and "exitCode" give the whole run's.`;

export function exitCodeFor(err: unknown): number {
  if (err instanceof RerouteError) return err.exitCode;
  return EXIT_ERROR;
}
