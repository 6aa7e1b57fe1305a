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

export function exitCodeFor(err: unknown): number {
  if (err instanceof RerouteError) return err.exitCode;
  return EXIT_ERROR;
}
