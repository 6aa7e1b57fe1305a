import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateValidatorSource, VALIDATORS } from './schema-codegen';

const REPO = path.resolve(__dirname, '..', '..');

describe('build-time schema validators (src/manifest/generated)', () => {
  it.each(VALIDATORS.map((v) => [v.schema, v] as const))(
    'are in step with %s (run `npm run gen:schemas` after editing a schema)',
    (_name, spec) => {
      const committed = fs.readFileSync(path.join(REPO, spec.out), 'utf8');
      expect(committed === generateValidatorSource(spec)).toBe(true);
    },
  );

  it('cover every schema in schemas/', () => {
    const schemas = fs
      .readdirSync(path.join(REPO, 'schemas'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => `schemas/${f}`);
    expect(VALIDATORS.map((v) => v.schema).sort()).toEqual(schemas.sort());
  });

  it('load no ajv compiler at run time (only small runtime helpers)', () => {
    for (const spec of VALIDATORS) {
      const required = [...fs.readFileSync(path.join(REPO, spec.out), 'utf8').matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
      for (const r of required)
        expect([spec.out, r]).toEqual([spec.out, expect.stringMatching(/^(ajv\/dist\/runtime\/|ajv-formats\/dist\/formats$)/)]);
    }
  });
});
