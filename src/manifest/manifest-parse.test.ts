import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, type SourceProblem } from '../errors/reroute-error';
import { parseManifest } from './manifest-parse';

const BROKEN_DIR = path.join(__dirname, 'fixtures', 'broken');
const opts = { bundledVersion: '1.0.0' };

interface Expectation {
  rule: string;
  line: number;
  col: number;
}

/** Each fixture declares what it must produce in header comments: `# expect: RULE LINE:COL`. */
function expectationsOf(text: string): Expectation[] {
  return [...text.matchAll(/^# expect: (\S+) (\d+):(\d+)$/gm)].map((m) => ({ rule: m[1]!, line: Number(m[2]), col: Number(m[3]) }));
}

function problemsOf(text: string, file: string): SourceProblem[] {
  try {
    parseManifest(text, file, opts);
  } catch (err) {
    if (err instanceof InputError) return err.problems;
    throw err;
  }
  throw new Error(`${file} was accepted`);
}

const fixtures = fs
  .readdirSync(BROKEN_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('broken manifests', () => {
  it('has at least 40 fixtures, each declaring an expectation', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(40);
    for (const f of fixtures) expect(expectationsOf(fs.readFileSync(path.join(BROKEN_DIR, f), 'latin1')).length).toBeGreaterThan(0);
  });

  it.each(fixtures)('%s is rejected with exactly the declared rules at the declared positions', (name) => {
    const file = path.join(BROKEN_DIR, name);
    const text = fs.readFileSync(file, 'utf8');
    const problems = problemsOf(text, file);
    const got = problems.map((p) => `${p.rule} ${p.line}:${p.col}`).sort();
    const want = expectationsOf(text)
      .map((e) => `${e.rule} ${e.line}:${e.col}`)
      .sort();
    expect(got).toEqual(want);
    for (const p of problems) {
      expect(p.file).toBe(file);
      expect(p.message.length).toBeGreaterThan(0);
      expect(p.fix.length).toBeGreaterThan(0);
    }
  });
});

describe('the agent version', () => {
  const text = fs.readFileSync(path.join(BROKEN_DIR, 'version-not-shipped.yaml'), 'utf8');
  it('a teardown accepts a version this release does not ship (it removes whatever is installed)', () => {
    expect(parseManifest(text, 'm.yaml', { ...opts, anyVersion: true }).version).toBe('0.9.0');
  });
  it('the shipped version is accepted without anyVersion', () => {
    expect(parseManifest(text.replace('version: 0.9.0', 'version: 1.0.0'), 'm.yaml', opts).version).toBe('1.0.0');
  });
});
