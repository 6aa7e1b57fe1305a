/**
 * How the manifest code builds SourceProblems: one place that knows the file
 * name and the YAML positions, and how to name a data path for humans.
 */
import type { SourceProblem } from '../errors/reroute-error';
import type { DataPath, PositionTarget, SourceLocator } from './yaml-positions';

export interface ProblemContext {
  file: string;
  locate: SourceLocator;
}

export function problemAt(
  ctx: ProblemContext,
  path: DataPath,
  rule: string,
  message: string,
  fix: string,
  target: PositionTarget = 'value',
): SourceProblem {
  const { line, col } = ctx.locate.at(path, target);
  return { file: ctx.file, line, col, rule, message, fix };
}

/** `spec.nodes[0].esxi.datastore`: the way an operator reads a path. */
export function pathLabel(path: DataPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(String(seg))) out += `[${String(seg)}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? 'the manifest' : out;
}

/** Quotes a user value for a message; long or multi-line values are shortened so the message stays one line. */
export function showValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

export function sortProblems(problems: SourceProblem[]): SourceProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col || a.rule.localeCompare(b.rule));
}

/** A problem about the file as a whole (missing, empty, binary...): there is no better position than its start. */
export function fileProblem(
  file: string,
  rule: string,
  message: string,
  fix: string,
  at: { line: number; col: number } = { line: 1, col: 1 },
): SourceProblem {
  return { file, line: at.line, col: at.col, rule, message, fix };
}
