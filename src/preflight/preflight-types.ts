/**
 * What `reroute preflight` reports: one verdict per check and host. Check
 * names are stable (scripts, `--skip-check NAME`, docs/design.md §7 list them).
 *
 * Verdict policy: `fail` only on positive evidence that the install would not
 * work (or not survive a reboot); `warn` when a check could not be made or the
 * problem is one apply fixes itself; `pass` otherwise.
 */
export type CheckStatus = 'pass' | 'warn' | 'fail';

export const CHECK_NAMES = [
  'reachable',
  'esxi-version',
  'commands',
  'firewall',
  'session-list',
  'datastore',
  'nfs-datastore',
  'secure-boot',
  'persistence',
  'crond',
  'clock',
  'scvm-login',
  'scvm-version',
  'scvm-sshd',
] as const;

export type CheckName = (typeof CHECK_NAMES)[number];

export interface PreflightCheck {
  node: string;
  /** `NODE/esxi` or `NODE/scvm`, the naming of --accept-new-host-key. */
  host: string;
  name: CheckName;
  status: CheckStatus;
  /** What was found, one line. */
  detail: string;
  /** One line: what to do about it ('' on pass). */
  fix: string;
}

export interface PreflightReport {
  format: 'zbs-reroute/preflight-v1';
  cluster: string;
  checkedAt: string;
  checks: PreflightCheck[];
  /** Checks the operator chose to override (apply --skip-check). */
  skipped: string[];
  summary: { pass: number; warn: number; fail: number };
}

export function isCheckName(s: string): s is CheckName {
  return (CHECK_NAMES as readonly string[]).includes(s);
}

export function summarize(checks: PreflightCheck[]): PreflightReport['summary'] {
  return {
    pass: checks.filter((c) => c.status === 'pass').length,
    warn: checks.filter((c) => c.status === 'warn').length,
    fail: checks.filter((c) => c.status === 'fail').length,
  };
}

/** What a plan carries about preflight: the checks, or why there are none (offline plan). */
export interface PlanPreflight {
  checks?: PreflightCheck[];
  summary?: PreflightReport['summary'];
  /** Set when no checks were run, saying why. */
  notRun?: string;
  /** Check names the operator overrides (apply --skip-check). */
  skipped?: string[];
}
