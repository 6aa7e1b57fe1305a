import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { ensureStateDir } from './state-dir';

/** One line of state/apply-journal.jsonl. */
export type JournalEntry =
  | { type: 'run-start'; runId: string; at: string; command: string; pid: number; user: string; machine: string; planSha256?: string; nodes?: string[]; preflight?: PreflightOverride }
  | { type: 'action'; runId: string; at: string; node: string; host: string; index: number; op: string; state: 'started' | 'done' | 'failed'; error?: string }
  | { type: 'run-end'; runId: string; at: string; outcome: 'ok' | 'failed' | 'interrupted' };

/** Preflight checks the operator overrode with `apply --skip-check NAME`: the names, and each failure they let through (`HOST NAME: detail`). */
export interface PreflightOverride {
  skipped: string[];
  overridden: string[];
}

/** The record() shape apply's executor calls (src/apply/apply-plan.ts ApplyJournalSink). */
export interface ActionRecord {
  node: string;
  host: string;
  index: number;
  op: string;
  state: 'started' | 'done' | 'failed';
  error?: string;
}

/** Past this size the journal moves to `.1` when a new run starts (one generation kept). */
const ROTATE_BYTES = 4 * 1024 * 1024;

function appendLine(path: string, entry: JournalEntry): void {
  // fsync each line: after a crash (kill -9, power) the journal must show what was in flight.
  const fd = openSync(path, 'a', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** One apply run's handle: record actions, then end. */
export class ApplyRun {
  private ended = false;
  constructor(
    readonly runId: string,
    private readonly path: string,
  ) {}

  record(a: ActionRecord): void {
    appendLine(this.path, { type: 'action', runId: this.runId, at: new Date().toISOString(), node: a.node, host: a.host, index: a.index, op: a.op, state: a.state, ...(a.error !== undefined ? { error: a.error } : {}) });
  }

  end(outcome: 'ok' | 'failed' | 'interrupted'): void {
    if (this.ended) return;
    this.ended = true;
    appendLine(this.path, { type: 'run-end', runId: this.runId, at: new Date().toISOString(), outcome });
  }
}

/**
 * Append-only JSON-lines record of apply runs, so a re-run after a crash can
 * tell the operator which host actions were in flight. It is a report, not a
 * source of truth: the next run observes hosts again before planning.
 */
export class ApplyJournal {
  constructor(readonly path: string) {}

  static open(stateDir: string): ApplyJournal {
    return new ApplyJournal(ensureStateDir(stateDir).journal);
  }

  startRun(meta: { command: string; planSha256?: string; nodes?: string[]; preflight?: PreflightOverride }): ApplyRun {
    if (existsSync(this.path) && statSync(this.path).size > ROTATE_BYTES) renameSync(this.path, `${this.path}.1`);
    const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      /* no passwd entry */
    }
    appendLine(this.path, { type: 'run-start', runId, at: new Date().toISOString(), command: meta.command, pid: process.pid, user, machine: hostname(), ...(meta.planSha256 ? { planSha256: meta.planSha256 } : {}), ...(meta.nodes ? { nodes: meta.nodes } : {}), ...(meta.preflight ? { preflight: meta.preflight } : {}) });
    return new ApplyRun(runId, this.path);
  }

  read(): { entries: JournalEntry[]; badLines: number } {
    return existsSync(this.path) ? parseJournal(readFileSync(this.path, 'utf8')) : { entries: [], badLines: 0 };
  }

  /** The most recent run if it never recorded its end (crash, kill -9, power loss). */
  lastIncompleteRun(): RunSummary | undefined {
    const last = summarizeLastRun(this.read().entries);
    return last && !last.finished ? last : undefined;
  }
}

/** Parse journal text; a torn last line from a crash is skipped and counted, not fatal. */
export function parseJournal(text: string): { entries: JournalEntry[]; badLines: number } {
  const entries: JournalEntry[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const e = JSON.parse(line) as JournalEntry;
      if (e && typeof e === 'object' && typeof e.runId === 'string' && typeof e.type === 'string') entries.push(e);
      else badLines++;
    } catch {
      badLines++;
    }
  }
  return { entries, badLines };
}

export interface ActionSummary {
  node: string;
  host: string;
  index: number;
  op: string;
  state: 'in-flight' | 'done' | 'failed';
  error?: string;
}

export interface RunSummary {
  runId: string;
  command: string;
  startedAt: string;
  user: string;
  machine: string;
  pid: number;
  finished: boolean;
  outcome?: 'ok' | 'failed' | 'interrupted';
  actions: ActionSummary[];
}

export function summarizeLastRun(entries: JournalEntry[]): RunSummary | undefined {
  let start: Extract<JournalEntry, { type: 'run-start' }> | undefined;
  for (const e of entries) if (e.type === 'run-start') start = e;
  if (!start) return undefined;
  const runId = start.runId;
  const actions = new Map<string, ActionSummary>();
  let end: Extract<JournalEntry, { type: 'run-end' }> | undefined;
  for (const e of entries) {
    if (e.runId !== runId) continue;
    if (e.type === 'run-end') end = e;
    if (e.type !== 'action') continue;
    const key = `${e.node}\u0000${e.index}`;
    const state = e.state === 'started' ? 'in-flight' : e.state;
    actions.set(key, { node: e.node, host: e.host, index: e.index, op: e.op, state, ...(e.error !== undefined ? { error: e.error } : {}) });
  }
  return {
    runId,
    command: start.command,
    startedAt: start.at,
    user: start.user,
    machine: start.machine,
    pid: start.pid,
    finished: end !== undefined,
    ...(end ? { outcome: end.outcome } : {}),
    actions: [...actions.values()],
  };
}

/** Operator-facing text for an unfinished run. */
export function formatRunSummary(s: RunSummary): string {
  const head = s.finished
    ? `Last apply ${s.runId} (\`${s.command}\`, ${s.user}@${s.machine}, started ${s.startedAt}) ended: ${s.outcome}.`
    : `The last apply ${s.runId} (\`${s.command}\`, ${s.user}@${s.machine} pid ${s.pid}, started ${s.startedAt}) did not finish.`;
  const inFlight = s.actions.filter((a) => a.state === 'in-flight');
  const failed = s.actions.filter((a) => a.state === 'failed');
  const done = s.actions.filter((a) => a.state === 'done');
  const lines = [head, `  ${done.length} action(s) done, ${failed.length} failed, ${inFlight.length} in flight when it stopped.`];
  for (const a of inFlight) lines.push(`  in flight: ${a.node} (${a.host}) action #${a.index} ${a.op}`);
  for (const a of failed) lines.push(`  failed:    ${a.node} (${a.host}) action #${a.index} ${a.op}${a.error ? `: ${a.error}` : ''}`);
  if (!s.finished) lines.push('  Host writes are atomic, so each file is either old or new. This run observes every host again and plans from what it finds.');
  return lines.join('\n');
}
