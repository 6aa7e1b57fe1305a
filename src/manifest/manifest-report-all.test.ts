import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors/reroute-error';
import { parseManifest } from './manifest-parse';

const FIXTURE = path.join(__dirname, 'fixtures', 'several-problems.yaml');

function rejection(text: string, file: string): InputError {
  try {
    parseManifest(text, file, { bundledVersion: '1.0.0' });
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('manifest was accepted');
}

describe('reporting', () => {
  it('reports schema and semantic problems of one file together, in line order', () => {
    const err = rejection(fs.readFileSync(FIXTURE, 'utf8'), FIXTURE);
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.problems.map((p) => `${p.line}:${p.col} ${p.rule}`)).toEqual([
      '5:9 schema.pattern',
      '10:39 security.inline-secret',
      '11:19 semantic.scvm-root-user',
      '14:88 schema.datastore-placeholder',
      '17:65 semantic.duplicate-ip',
    ]);
  });

  it('puts every problem in the error message as file:line:col with its fix', () => {
    const err = rejection(fs.readFileSync(FIXTURE, 'utf8'), 'cluster.yaml');
    const lines = err.message.split('\n');
    expect(lines.filter((l) => /^cluster\.yaml:\d+:\d+: /.test(l))).toHaveLength(5);
    expect(lines.filter((l) => l.startsWith('  fix: '))).toHaveLength(5);
    expect(err.toJSON()).toMatchObject({ code: 'MANIFEST_INVALID', problems: err.problems });
  });

  it('never echoes an inline secret', () => {
    const err = rejection(fs.readFileSync(FIXTURE, 'utf8'), FIXTURE);
    expect(JSON.stringify(err.toJSON())).not.toContain('hunter2');
    expect(err.message).not.toContain('hunter2');
  });

  it('reports a duplicate key together with the schema problems of the same file', () => {
    const text = fs
      .readFileSync(FIXTURE, 'utf8')
      .replace('    storage: 10.20.0.0/24\n', '    storage: 10.20.0.0/24\n    storage: 10.30.0.0/24\n');
    const rules = rejection(text, FIXTURE).problems.map((p) => p.rule);
    expect(rules).toContain('yaml.duplicate-key');
    expect(rules).toContain('semantic.scvm-root-user');
  });

  it('stops at a syntax error instead of guessing at the data', () => {
    const err = rejection('apiVersion: zbs-reroute/v1\nkind: [RerouteCluster\nspec: {}\n', 'bad.yaml');
    expect(err.problems.every((p) => p.rule === 'yaml.syntax')).toBe(true);
  });
});
