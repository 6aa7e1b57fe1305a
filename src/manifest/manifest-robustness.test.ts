import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { InputError } from '../errors/reroute-error';
import { parseManifest } from './manifest-parse';

const example = fs.readFileSync(path.join(__dirname, '..', '..', 'examples', 'cluster-3node.yaml'), 'utf8');

/** parseManifest must either return a Manifest or throw InputError whose positions lie inside the text. */
function checkOutcome(text: string): void {
  try {
    parseManifest(text, 'fuzz.yaml', { bundledVersion: '1.0.0' });
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const lines = text.split('\n').length;
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) {
      expect(p.line).toBeGreaterThanOrEqual(1);
      expect(p.line).toBeLessThanOrEqual(lines);
      expect(p.col).toBeGreaterThanOrEqual(1);
    }
  }
}

describe('robustness', () => {
  it('never crashes on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), checkOutcome), { numRuns: 300 });
  });

  it('never crashes on arbitrary YAML data', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => checkOutcome(stringify(value))),
      { numRuns: 300 },
    );
  });

  it('never crashes when one line of a valid manifest is deleted or duplicated', () => {
    const lines = example.split('\n');
    fc.assert(
      fc.property(fc.nat(lines.length - 1), fc.boolean(), (i, duplicate) => {
        const copy = [...lines];
        if (duplicate) copy.splice(i, 0, lines[i]!);
        else copy.splice(i, 1);
        checkOutcome(copy.join('\n'));
      }),
      { numRuns: 200 },
    );
  });

  it('never crashes when one character of a valid manifest is replaced', () => {
    fc.assert(
      fc.property(fc.nat(example.length - 1), fc.constantFrom(...' :-{}[]"\'#&*!|>%@`$;\n\t0aZ'.split('')), (i, ch) => {
        checkOutcome(example.slice(0, i) + ch + example.slice(i + 1));
      }),
      { numRuns: 300 },
    );
  });
});
