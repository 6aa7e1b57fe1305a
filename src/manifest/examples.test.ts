import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadManifest } from './manifest-load';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');
const examples = fs.readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));

describe('shipped examples', () => {
  it('includes the 1-, 3- and 16-node clusters', () => {
    expect(examples.sort()).toEqual(expect.arrayContaining(['cluster-16node.yaml', 'cluster-1node.yaml', 'cluster-3node.yaml']));
  });

  it.each(examples)('%s is accepted', (name) => {
    const file = path.join(EXAMPLES, name);
    const m = loadManifest(file, { bundledVersion: '1.0.0' });
    expect(m.source).toBe(file);
    expect(m.nodes.length).toBe(Number(/(\d+)node/.exec(name)![1]));
  });

  it.each(examples)('%s points editors at the schema', (name) => {
    const first = fs.readFileSync(path.join(EXAMPLES, name), 'utf8').split('\n')[0];
    expect(first).toBe('# yaml-language-server: $schema=../schemas/reroute-cluster.schema.json');
  });

  it.each(examples)('%s tells the reader commands the CLI accepts (the manifest after -f)', (name) => {
    const comments = fs
      .readFileSync(path.join(EXAMPLES, name), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('#'));
    const commands = comments.flatMap((l) => [...l.matchAll(/`reroute ([^`]*)`/g)].map((m) => m[1]!));
    for (const c of commands) {
      const words = c.split(/\s+/);
      if (['validate', 'plan', 'apply', 'destroy', 'status', 'watch'].includes(words[0]!)) expect(words).toContain('-f');
    }
  });

  it.each(examples)('%s follows the lab address plan', (name) => {
    const m = loadManifest(path.join(EXAMPLES, name), { bundledVersion: '1.0.0' });
    m.nodes.forEach((node, i) => {
      const n = i + 1;
      expect(node).toMatchObject({
        name: `node-${n}`,
        esxi: { address: `10.10.0.${10 + n}`, storageIp: `10.20.0.${10 + n}`, datastore: 'datastore1' },
        scvm: { managementIp: `10.10.0.${100 + n}`, storageIp: `10.20.0.${100 + n}` },
      });
    });
    expect(m.access.scvm.user).toBe('smartx');
  });
});
