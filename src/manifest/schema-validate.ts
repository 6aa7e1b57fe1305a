/**
 * Structural validation against schemas/reroute-cluster.schema.json (ajv,
 * draft 2020-12), turning each ajv error into an operator-facing problem at
 * the YAML position of the offending value or key. The validator is compiled
 * at build time (schema-codegen.ts → generated/), not on every run.
 */
import * as path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import type { SourceProblem } from '../errors/reroute-error';
import schema from '../../schemas/reroute-cluster.schema.json';
import generatedValidator from './generated/reroute-cluster.validate';
import { pathLabel, problemAt, showValue, type ProblemContext } from './problem';
import { pointerToPath, type DataPath } from './yaml-positions';

/** Where the schema file lives (for `reroute schema`, docs and editors). tsc copies the imported JSON beside the build. */
export const MANIFEST_SCHEMA_PATH = path.resolve(__dirname, '..', '..', 'schemas', 'reroute-cluster.schema.json');
export const MANIFEST_SCHEMA_ID: string = schema.$id;

interface SchemaNode {
  description?: string;
  properties?: Record<string, SchemaNode>;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  'x-hint'?: string;
  'x-rule'?: string;
  'x-not-rule'?: string;
  'x-not-hint'?: string;
}

// Compiled with verbose errors and the x-hint/x-rule annotation keywords (see VALIDATORS in schema-codegen.ts).
const validator = (): ValidateFunction => generatedValidator as unknown as ValidateFunction;

/** Field names that mean someone pasted a secret into the manifest. */
const SECRET_FIELD = /^(password|passwd|pass|pwd|secret|passphrase|private_?key|key|token|api_?key)$/i;
/** Characters a shell would interpret; named in messages so the operator sees why a value is refused. */
const SHELL_META = /[\s$`;&|<>()'"\\*?[\]{}!#~=%^]/g;

const TYPE_WORDS: Record<string, string> = {
  object: 'a map (key: value lines)',
  array: 'a list',
  integer: 'a whole number',
  number: 'a number',
  string: 'text',
  boolean: 'true or false',
};

function describeType(value: unknown): string {
  if (value === null) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${showValue(value)}`;
}

function unsafeChars(value: unknown): string {
  if (typeof value !== 'string') return '';
  const found = [...new Set(value.match(SHELL_META) ?? [])].map((c) =>
    c === '\n' ? 'newline' : c === ' ' ? 'space' : c === '\t' ? 'tab' : c,
  );
  return found.length > 0 ? ` (contains ${found.map((c) => (c.length > 1 ? c : `"${c}"`)).join(', ')})` : '';
}

function closest(word: string, candidates: string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
        prev = cur;
      }
    }
    return row[b.length]!;
  };
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = dist(word, c);
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return bestDist <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function mapError(ctx: ProblemContext, err: ErrorObject): SourceProblem {
  const at: DataPath = pointerToPath(err.instancePath);
  const label = pathLabel(at);
  const ps = (err.parentSchema ?? {}) as SchemaNode;
  const params = err.params as Record<string, unknown>;
  const hint = ps['x-hint'];
  switch (err.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      const about = ps.properties?.[missing]?.description;
      return problemAt(
        ctx,
        at,
        'schema.required',
        `${label} is missing the required field "${missing}"`,
        `Add \`${missing}:\` under ${label}.${about ? ` ${about}` : ''}`,
      );
    }
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const keyPath = [...at, key];
      if (SECRET_FIELD.test(key)) {
        const envField = /phrase/i.test(key) ? 'passphraseEnv: KEY_PASSPHRASE' : 'passwordEnv: ESXI_PASSWORD';
        return problemAt(
          ctx,
          keyPath,
          'security.inline-secret',
          `${pathLabel(keyPath)}: secrets must not be written in the manifest (value not shown)`,
          `Delete this line, rotate the secret if the file was shared, and reference it instead: \`${envField}\` (the name of an environment variable holding it), or use \`keyFile:\`, \`agent: true\` or \`prompt: true\`.`,
          'key',
        );
      }
      const known = Object.keys(ps.properties ?? {});
      const guess = closest(key, known);
      return problemAt(
        ctx,
        keyPath,
        'schema.unknown-field',
        `${label} has an unknown field "${key}"`,
        `${guess ? `Did you mean "${guess}"? ` : ''}Allowed here: ${known.join(', ')}.`,
        'key',
      );
    }
    case 'type': {
      const expected = String(params.type);
      const value = err.data;
      // `datastore:` left empty is how the seed tooling ended up with /vmfs/volumes/None.
      if (value === null && at[at.length - 1] === 'datastore') {
        return problemAt(
          ctx,
          at,
          'schema.datastore-placeholder',
          `${label} is empty (null); a datastore is required`,
          'Give the local datastore name as listed under /vmfs/volumes on the host, e.g. datastore1.',
        );
      }
      const wanted = TYPE_WORDS[expected] ?? `a ${expected}`;
      let fix = `Write ${label} as ${wanted}.`;
      if (value === null) fix = `Give ${label} a value or remove the line.`;
      else if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
        fix = `Quote the value so YAML keeps it as text: "${ctx.locate.textAt(at) ?? String(value)}".`;
      }
      return problemAt(ctx, at, 'schema.type', `${label} must be ${wanted}, got ${describeType(value)}`, fix);
    }
    case 'pattern':
    case 'format':
      return problemAt(
        ctx,
        at,
        `schema.${err.keyword}`,
        `${label} ${showValue(err.data)} is not valid${unsafeChars(err.data)}`,
        `Use ${hint ?? (err.keyword === 'format' ? `a valid ${String(params.format)}` : `a value matching ${String(params.pattern)}`)}.`,
      );
    case 'not':
      return problemAt(
        ctx,
        at,
        ps['x-not-rule'] ?? 'schema.not',
        `${label} ${showValue(err.data)} is not allowed: ${ps['x-not-hint'] ?? 'forbidden value'}`,
        `Use ${hint ?? 'another value'}.`,
      );
    case 'enum':
      return problemAt(
        ctx,
        at,
        'schema.enum',
        `${label} ${showValue(err.data)} is not one of ${(params.allowedValues as unknown[]).join(', ')}`,
        `Use one of: ${(params.allowedValues as unknown[]).join(', ')}.`,
      );
    case 'const':
      return problemAt(
        ctx,
        at,
        'schema.const',
        `${label} must be ${showValue(params.allowedValue)}, got ${showValue(err.data)}`,
        `Write \`${String(at[at.length - 1] ?? label)}: ${String(params.allowedValue)}\`${params.allowedValue === true ? ', or remove the line' : ''}.`,
      );
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return problemAt(
        ctx,
        at,
        'schema.range',
        `${label} ${showValue(err.data)} is out of range (${ps.minimum ?? '-'}..${ps.maximum ?? '-'})`,
        `Use a whole number from ${ps.minimum ?? '-'} to ${ps.maximum ?? '-'}.`,
      );
    case 'minItems':
    case 'maxItems':
      return problemAt(
        ctx,
        at,
        'schema.count',
        `${label} has ${(err.data as unknown[]).length} entries; allowed ${ps.minItems ?? 0}..${ps.maxItems ?? 'any'}`,
        `Give ${label} between ${ps.minItems ?? 0} and ${ps.maxItems ?? 'any'} entries.`,
      );
    case 'oneOf': {
      const several = Array.isArray(params.passingSchemas);
      return problemAt(
        ctx,
        at,
        ps['x-rule'] ?? 'schema.one-of',
        several ? `${label} sets more than one way to log in` : `${label} sets no way to log in`,
        'Set exactly one of: `keyFile: ~/.ssh/id_rsa`, `agent: true`, `passwordEnv: ENV_NAME`, `prompt: true`.',
      );
    }
    case 'dependentRequired':
      return problemAt(
        ctx,
        [...at, String(params.property)],
        'schema.dependent',
        `${label}.${String(params.property)} only works together with "${String(params.missingProperty)}"`,
        `Add \`${String(params.missingProperty)}:\` or remove \`${String(params.property)}\`.`,
        'key',
      );
    default:
      return problemAt(
        ctx,
        at,
        `schema.${err.keyword}`,
        `${label} ${err.message ?? 'is invalid'}`,
        'Check this value against schemas/reroute-cluster.schema.json.',
      );
  }
}

export function schemaProblems(data: unknown, ctx: ProblemContext): SourceProblem[] {
  const validate = validator();
  if (validate(data)) return [];
  // Errors from inside oneOf branches only say why each alternative failed;
  // the oneOf error itself carries the useful message.
  const all = validate.errors ?? [];
  // A credential holding an inline secret already gets a problem that says
  // what to write instead; "sets no way to log in" on the same map is noise.
  const secretHolders = new Set(
    all
      .filter((e) => e.keyword === 'additionalProperties' && SECRET_FIELD.test(String(e.params.additionalProperty)))
      .map((e) => e.instancePath),
  );
  const errors = all.filter((e) => !e.schemaPath.includes('/oneOf/') && !(e.keyword === 'oneOf' && secretHolders.has(e.instancePath)));
  const seen = new Set<string>();
  const out: SourceProblem[] = [];
  for (const err of errors) {
    const p = mapError(ctx, err);
    const id = `${p.line}:${p.col}:${p.rule}:${p.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(p);
    }
  }
  return out;
}
