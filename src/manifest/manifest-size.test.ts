import { InputError } from '../errors/reroute-error';
import { parseManifest } from './manifest-parse';

/** A cluster of `count` nodes on /16 networks so any count up to 256+ fits the address plan. */
function cluster(count: number): string {
  const lines = [
    'apiVersion: zbs-reroute/v1',
    'kind: RerouteCluster',
    'metadata: { name: big }',
    'spec:',
    '  networks: { storage: 10.20.0.0/16, management: 10.10.0.0/16 }',
    '  access:',
    '    esxi: { user: root, credential: { agent: true } }',
    '    scvm: { user: smartx, credential: { agent: true } }',
    '  nodes:',
  ];
  for (let n = 1; n <= count; n++) {
    const hi = Math.floor(n / 200);
    const lo = n % 200;
    lines.push(
      `    - { name: node-${n}, esxi: { address: 10.10.${hi}.${lo + 1}, storageVmk: vmk1, storageIp: 10.20.${hi}.${lo + 1}, datastore: datastore1 }, scvm: { managementIp: 10.10.${hi + 10}.${lo + 1}, storageIp: 10.20.${hi + 10}.${lo + 1} } }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('cluster size', () => {
  // No time limit here (a loaded machine breaks it, issue 14): bench/cli-cost.ts measures validate's CPU.
  it('accepts the largest allowed cluster (256 nodes)', () => {
    expect(parseManifest(cluster(256), 'big.yaml', { bundledVersion: '1.0.0' }).nodes).toHaveLength(256);
  });

  it('refuses 257 nodes at the nodes list', () => {
    try {
      parseManifest(cluster(257), 'big.yaml', { bundledVersion: '1.0.0' });
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).problems.map((p) => `${p.rule} ${p.line}:${p.col}`)).toEqual(['schema.count 10:5']);
    }
  });
});
