/**
 * parseManifest: manifest text → normalized Manifest, or an InputError listing
 * every problem with its line:col. Pure: the caller reads the file.
 */
import { isAlias, LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml';
import { InputError, type SourceProblem } from '../errors/reroute-error';
import { applyDefaults } from './apply-defaults';
import type { Manifest } from './manifest-types';
import { fileProblem, problemAt, sortProblems, type ProblemContext } from './problem';
import { schemaProblems } from './schema-validate';
import { semanticProblems } from './semantic-checks';
import { yamlLocator } from './yaml-positions';

export interface ManifestOptions {
  /** Version of the agent this release ships; the default for spec.version. */
  bundledVersion: string;
  /**
   * Accept a `spec.version` other than bundledVersion (teardown removes whatever is installed).
   * Otherwise such a manifest is refused here, at its line, before any host is contacted:
   * a release installs only the agent it carries.
   */
  anyVersion?: boolean;
}

/** A cluster of 256 nodes is about 60 KiB; anything near this is not a manifest. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;

/** Control characters other than tab/CR/LF, and U+FFFD left by a lossy decode, mean the file is not YAML text. */
function firstBinaryChar(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f || c === 0xfffd) return i;
  }
  return -1;
}

function positionOfIndex(text: string, index: number): { line: number; col: number } {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, col: index - before.lastIndexOf('\n') };
}

function yamlProblem(file: string, text: string, err: YAMLError, kind: 'error' | 'warning'): SourceProblem {
  const at = err.linePos?.[0] ?? { line: 1, col: 1 };
  // yaml appends " at line L, column C:" and a source excerpt; the position is reported separately.
  const message = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '');
  if (err.code === 'DUPLICATE_KEY') {
    const key = (/^[^:\n]*/.exec(text.slice(err.pos[0]))?.[0] ?? '').trim();
    return fileProblem(
      file,
      'yaml.duplicate-key',
      `key ${JSON.stringify(key)} appears twice in the same map`,
      'Keep one of the two lines with this key; YAML would silently drop one of them.',
      at,
    );
  }
  if (err.code === 'MULTIPLE_DOCS') {
    return fileProblem(
      file,
      'yaml.syntax',
      'the file holds more than one YAML document (a `---` line starts a second one)',
      'Keep one cluster per file: remove the `---` line and what follows it, or split it into separate files.',
      at,
    );
  }
  if (kind === 'warning') {
    return fileProblem(file, 'yaml.warning', message, 'Write plain YAML: maps, lists, strings and numbers, without custom tags.', at);
  }
  return fileProblem(
    file,
    'yaml.syntax',
    `YAML syntax error (${err.code}): ${message}`,
    'Fix the YAML here: check indentation, `key: value` colons, and matching quotes and brackets.',
    at,
  );
}

/** Where expanding aliases failed: the first alias with no anchor before it, else (too many aliases) the first alias. */
function aliasPosition(doc: Document, lineCounter: LineCounter): { line: number; col: number } {
  let unresolved: number | undefined;
  let first: number | undefined;
  visit(doc, {
    Alias(_, node) {
      const offset = node.range?.[0];
      if (offset === undefined) return undefined;
      first ??= offset;
      if (unresolved === undefined && isAlias(node) && node.resolve(doc) === undefined) unresolved = offset;
      return undefined;
    },
  });
  const offset = unresolved ?? first;
  return offset === undefined ? { line: 1, col: 1 } : lineCounter.linePos(offset);
}

export function parseManifest(text: string, file: string, opts: ManifestOptions): Manifest {
  const fail = (problems: SourceProblem[]): never => {
    throw new InputError('MANIFEST_INVALID', sortProblems(problems));
  };

  if (Buffer.byteLength(text, 'utf8') > MANIFEST_MAX_BYTES) {
    fail([
      fileProblem(
        file,
        'file.too-large',
        `the manifest is larger than ${MANIFEST_MAX_BYTES} bytes`,
        'Check that this is the cluster manifest (YAML, normally a few KiB).',
      ),
    ]);
  }
  const bad = firstBinaryChar(text);
  if (bad >= 0) {
    const code = text.charCodeAt(bad).toString(16).padStart(4, '0').toUpperCase();
    fail([
      fileProblem(
        file,
        'file.binary',
        `the manifest contains a binary/control character (U+${code}); it is not YAML text`,
        'Give the YAML manifest file (UTF-8 text), e.g. a copy of examples/cluster-3node.yaml.',
        positionOfIndex(text, bad),
      ),
    ]);
  }
  const emptyFix = 'Write the cluster manifest; start from examples/cluster-3node.yaml.';
  if (text.replace(/^\ufeff/, '').trim() === '') {
    fail([fileProblem(file, 'file.empty', 'the manifest is empty', emptyFix)]);
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  // One syntax slip often trips several parser errors on the same line; the first says the most.
  const yamlProblems = [
    ...doc.errors.map((e) => yamlProblem(file, text, e, 'error')),
    ...doc.warnings.map((w) => yamlProblem(file, text, w, 'warning')),
  ].filter((p, i, all) => all.findIndex((q) => q.line === p.line && q.rule === p.rule) === i);
  // Duplicate keys leave a usable document: keep going so the schema and
  // semantic problems are reported in the same run. Any other YAML error
  // means the data cannot be trusted.
  if (doc.errors.some((e) => e.code !== 'DUPLICATE_KEY')) fail(yamlProblems);
  if (doc.contents === null) {
    fail([...yamlProblems, fileProblem(file, 'file.empty', 'the manifest has only comments', emptyFix)]);
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    fail([
      ...yamlProblems,
      fileProblem(
        file,
        'yaml.alias',
        `YAML aliases could not be expanded: ${(err as Error).message}`,
        'Write the values out instead of using many nested aliases.',
        aliasPosition(doc, lineCounter),
      ),
    ]);
  }

  const ctx: ProblemContext = { file, locate: yamlLocator(doc, lineCounter, text) };
  const problems = [...yamlProblems, ...schemaProblems(data, ctx), ...semanticProblems(data, ctx)];
  if (problems.length === 0 && opts.anyVersion !== true) problems.push(...versionProblems(data, ctx, opts.bundledVersion));
  if (problems.length > 0) fail(problems);
  return applyDefaults(data, file, opts.bundledVersion);
}

/** A version this release does not ship (the desired state's own check, its last line of defence, uses the same rule). */
export const VERSION_UNAVAILABLE_RULE = 'semantic.version-unavailable';

function versionProblems(data: unknown, ctx: ProblemContext, shipped: string): SourceProblem[] {
  const wanted = (data as { spec?: { version?: unknown } }).spec?.version;
  if (typeof wanted !== 'string' || wanted === shipped) return [];
  return [
    problemAt(
      ctx,
      ['spec', 'version'],
      VERSION_UNAVAILABLE_RULE,
      `the manifest wants reroute agent ${wanted}, but this zbs-reroute release ships ${shipped} only`,
      `Remove \`version\` (or set it to ${shipped}) to install the shipped agent, or run the zbs-reroute release that ships ${wanted}. A teardown (\`reroute destroy\`) accepts any version.`,
    ),
  ];
}
