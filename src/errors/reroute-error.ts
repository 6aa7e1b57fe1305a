/**
 * Every error the tool raises on purpose is a RerouteError: a stable `code`
 * (for scripts and docs), a human message, and the fix an operator should try.
 * The CLI maps `exitCode` straight to the process exit status.
 */
export type ErrorCode =
  | 'MANIFEST_INVALID'
  | 'MANIFEST_NOT_FOUND'
  | 'SNAPSHOT_INVALID'
  | 'PLAN_INVALID'
  | 'PLAN_STALE'
  | 'HOST_UNREACHABLE'
  | 'HOST_KEY_CHANGED'
  | 'AUTH_FAILED'
  | 'REMOTE_COMMAND_FAILED'
  | 'REMOTE_TIMEOUT'
  | 'LOCK_HELD'
  | 'LEASE_HELD'
  | 'VERIFY_FAILED'
  | 'PREFLIGHT_FAILED'
  | 'DATASTORE_NFS'
  | 'CREDENTIAL_MISSING'
  | 'USAGE'
  | 'INTERNAL';

export class RerouteError extends Error {
  readonly code: ErrorCode;
  readonly fix: string;
  readonly exitCode: number;
  /** Extra structured detail for --json output; never holds secrets. */
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    fix: string,
    opts: { exitCode?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RerouteError';
    this.code = code;
    this.fix = fix;
    this.exitCode = opts.exitCode ?? 1;
    this.details = opts.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, fix: this.fix, ...this.details };
  }
}

/** One problem found in an input file, with its position (1-based). */
export interface SourceProblem {
  file: string;
  line: number;
  col: number;
  /** Stable rule id, e.g. `schema.type`, `semantic.duplicate-ip`. */
  rule: string;
  message: string;
  fix: string;
}

export function formatProblem(p: SourceProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message} [${p.rule}]\n  fix: ${p.fix}`;
}

/** A manifest (or snapshot) with one or more problems; all of them, never only the first. */
export class InputError extends RerouteError {
  readonly problems: SourceProblem[];
  constructor(
    code: 'MANIFEST_INVALID' | 'SNAPSHOT_INVALID' | 'PLAN_INVALID' | 'MANIFEST_NOT_FOUND',
    problems: SourceProblem[],
    fix = 'Correct the listed lines and run `reroute validate` again.',
  ) {
    super(code, problems.map(formatProblem).join('\n'), fix, { details: { problems } });
    this.name = 'InputError';
    this.problems = problems;
  }
}
