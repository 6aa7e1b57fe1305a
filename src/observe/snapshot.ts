/**
 * Saved observations (`reroute plan --observed SNAPSHOT.json`): validated
 * against schemas/observed-snapshot.schema.json so a hand-edited or truncated
 * snapshot is refused with every problem at its line, never half-used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import { LineCounter, parseDocument } from 'yaml';
import { InputError, type SourceProblem } from '../errors/reroute-error';
import { pointerToPath, yamlLocator, type SourceLocator } from '../manifest/yaml-positions';
import generatedValidator from '../manifest/generated/observed-snapshot.validate';
import type { ObservedCluster } from './observed-types';
import { secretFreeJson } from '../core/secret-free-json';

export const SNAPSHOT_SCHEMA_PATH = path.resolve(__dirname, '..', '..', 'schemas', 'observed-snapshot.schema.json');
const FIX = 'Save a fresh snapshot (observation writes a valid one) or correct the listed lines.';

// Compiled at build time (src/manifest/schema-codegen.ts), not on every run.
const validator = (): ValidateFunction => generatedValidator as unknown as ValidateFunction;

function locate(text: string): SourceLocator | undefined {
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
    return yamlLocator(doc, lineCounter, text);
  } catch {
    return undefined;
  }
}

function describeAjv(e: ErrorObject): { rule: string; message: string; key: boolean; extra?: string } {
  const where = e.instancePath === '' ? 'the snapshot' : e.instancePath;
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = String((e.params as { additionalProperty: string }).additionalProperty);
      return { rule: 'schema.additionalProperties', message: `${where}: unknown field "${prop}"`, key: true, extra: prop };
    }
    case 'required':
      return {
        rule: 'schema.required',
        message: `${where}: missing field "${String((e.params as { missingProperty: string }).missingProperty)}"`,
        key: false,
      };
    case 'const':
      return {
        rule: 'schema.const',
        message: `${where}: must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`,
        key: false,
      };
    case 'enum':
      return {
        rule: 'schema.enum',
        message: `${where}: must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`,
        key: false,
      };
    default:
      return { rule: `schema.${e.keyword}`, message: `${where}: ${e.message ?? 'is invalid'}`, key: false };
  }
}

/**
 * JSON.parse's error → 1-based line/col. V8 says "at position N" for some errors,
 * and for others only quotes the text around the bad token, which is located here.
 */
function syntaxPosition(message: string, text: string): { line: number; col: number } {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), col: Number(lc[2]) };
  let offset: number | undefined;
  const m = /position (\d+)/.exec(message);
  if (m) offset = Number(m[1]);
  else if (/end of JSON input/.test(message)) offset = text.length;
  else {
    const q = /^Unexpected token '([^']*)', (?:\.\.\.)?"([\s\S]*?)"(?:\.\.\.)? is not valid JSON/.exec(message);
    if (q) {
      const at = text.indexOf(q[2] as string);
      if (at >= 0) offset = at + Math.max(0, (q[2] as string).indexOf(q[1] as string));
    }
  }
  if (offset === undefined) return { line: 1, col: 1 };
  const lines = text.slice(0, offset).split('\n');
  return { line: lines.length, col: (lines[lines.length - 1] ?? '').length + 1 };
}

/** Pure: snapshot text → ObservedCluster, or InputError('SNAPSHOT_INVALID') listing every problem. */
export function parseSnapshot(text: string, file: string): ObservedCluster {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const at = syntaxPosition(msg, text);
    throw new InputError('SNAPSHOT_INVALID', [{ file, ...at, rule: 'json.syntax', message: `not valid JSON: ${msg}`, fix: FIX }], FIX);
  }
  const validate = validator();
  const problems: SourceProblem[] = [];
  const locator = () => (loc ??= locate(text));
  let loc: SourceLocator | undefined;
  if (!validate(data)) {
    // if/then/else adds a summary error on top of the real one; the real one is enough.
    const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
    const seen = new Set<string>();
    for (const e of errors) {
      const d = describeAjv(e);
      if (seen.has(d.message)) continue;
      seen.add(d.message);
      const p = pointerToPath(e.instancePath);
      const pos = locator()?.at(d.extra !== undefined ? [...p, d.extra] : p, d.key ? 'key' : 'value') ?? { line: 1, col: 1 };
      problems.push({ file, line: pos.line, col: pos.col, rule: d.rule, message: d.message, fix: FIX });
    }
  } else {
    const snap = data as ObservedCluster;
    for (const kind of ['esxi', 'scvm'] as const) {
      for (const [name, obs] of Object.entries(snap[kind])) {
        if (obs.node !== name) {
          const pos = locator()?.at([kind, name, 'node']) ?? { line: 1, col: 1 };
          problems.push({
            file,
            ...pos,
            rule: 'semantic.node-name',
            message: `/${kind}/${name}: node is "${obs.node}" but it is filed under "${name}"`,
            fix: FIX,
          });
        }
      }
    }
  }
  if (problems.length > 0) throw new InputError('SNAPSHOT_INVALID', problems, FIX);
  return data as ObservedCluster;
}

export function readSnapshot(file: string): ObservedCluster {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(
      'SNAPSHOT_INVALID',
      [
        {
          file,
          line: 1,
          col: 1,
          rule: 'file.read',
          message: `cannot read the snapshot (${code})`,
          fix: 'Check the path given to --observed.',
        },
      ],
      'Check the path given to --observed.',
    );
  }
  return parseSnapshot(text, file);
}

/** Canonical snapshot text (stable key order as produced, two-space indent, trailing newline). */
export function renderSnapshot(snapshot: ObservedCluster): string {
  return secretFreeJson(snapshot, 'snapshot', 2);
}

/** Validates, then writes atomically (temp file in the same directory + rename), mode 0600. */
export function writeSnapshot(file: string, snapshot: ObservedCluster): void {
  const text = renderSnapshot(snapshot);
  parseSnapshot(text, file);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
