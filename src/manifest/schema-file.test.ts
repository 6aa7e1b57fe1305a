import * as fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import { MANIFEST_SCHEMA_ID, MANIFEST_SCHEMA_PATH } from './schema-validate';

const schema = JSON.parse(fs.readFileSync(MANIFEST_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;

type Json = Record<string, unknown>;
/** Every object schema in the file, with its location. */
function objectSchemas(node: unknown, where: string, out: Array<[string, Json]> = []): Array<[string, Json]> {
  if (typeof node !== 'object' || node === null) return out;
  const s = node as Json;
  if (s.type === 'object') out.push([where, s]);
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' || k === '$defs')
      for (const [name, sub] of Object.entries(v as Json)) objectSchemas(sub, `${where}/${k}/${name}`, out);
    else if (k === 'items') objectSchemas(v, `${where}/items`, out);
  }
  return out;
}

describe('schemas/reroute-cluster.schema.json', () => {
  it('is found at the exported path and carries the exported $id', () => {
    expect(schema.$id).toBe(MANIFEST_SCHEMA_ID);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('is a valid draft 2020-12 schema', () => {
    const ajv = new Ajv2020({ strict: false });
    expect(ajv.validateSchema(schema)).toBe(true);
  });

  it('closes every object (additionalProperties: false) so typos are caught', () => {
    const objects = objectSchemas(schema, '#');
    expect(objects.length).toBeGreaterThan(10);
    for (const [where, s] of objects) expect([where, s.additionalProperties]).toEqual([where, false]);
  });

  it('describes every field, so editors can show help', () => {
    for (const [where, s] of objectSchemas(schema, '#')) {
      for (const [name, prop] of Object.entries((s.properties ?? {}) as Record<string, Json>)) {
        const described = typeof prop.description === 'string' || (typeof prop.$ref === 'string' && prop.$ref === '#/$defs/credential');
        expect([`${where}/${name}`, described]).toEqual([`${where}/${name}`, true]);
      }
    }
  });
});
