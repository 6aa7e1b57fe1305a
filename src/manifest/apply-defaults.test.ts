import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseManifest } from './manifest-parse';
import type { Manifest } from './manifest-types';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');
const minimal = fs.readFileSync(path.join(EXAMPLES, 'cluster-1node.yaml'), 'utf8');
const parse = (text: string): Manifest => parseManifest(text, 'cluster.yaml', { bundledVersion: '2.3.4' });

describe('defaults', () => {
  it('fills every optional setting of a minimal manifest with the documented default', () => {
    const m = parse(minimal);
    expect(m).toEqual<Manifest>({
      source: 'cluster.yaml',
      clusterName: 'lab-single',
      version: '2.3.4',
      nfsAddress: '192.168.33.2',
      networks: { storage: '10.20.0.0/24' },
      install: { dirName: 'zbs-reroute', logFile: '/var/log/scvm_failure.log', runDir: '/var/run/zbs-reroute' },
      routing: {
        intervalSeconds: 3,
        failbackDelaySeconds: 180,
        pingTimeoutSeconds: 1,
        fallbackOrder: ['local-storage', 'remote-storage', 'remote-management'],
        sessionSource: 'rest',
        mode: 'active',
        rest: { port: 80, path: '/api/v2/zbs_session/session' },
      },
      access: {
        esxi: { user: 'root', credential: { kind: 'password-env', env: 'ESXI_PASSWORD' } },
        scvm: { user: 'smartx', sudo: true, credential: { kind: 'key-file', path: '~/.ssh/id_rsa' } },
        ssh: { port: 22, connectTimeoutSeconds: 10, commandTimeoutSeconds: 60, hostTimeoutSeconds: 300, keepaliveSeconds: 5 },
        parallelism: 8,
      },
      nodes: [
        {
          name: 'node-1',
          esxi: { address: '10.10.0.11', storageVmk: 'vmk1', storageIp: '10.20.0.11', datastore: 'datastore1' },
          scvm: { managementIp: '10.10.0.101', storageIp: '10.20.0.101' },
        },
      ],
    });
  });

  it('keeps explicit values over defaults, one field at a time', () => {
    const text = minimal
      .replace(
        'spec:\n',
        'spec:\n  version: "1.5.0-rc.1"\n  install: { runDir: /tmp/rr }\n  routing: { failbackDelaySeconds: 0, rest: { port: 8080 } }\n',
      )
      .replace('    scvm: {', '    ssh: { port: 2222 }\n    parallelism: 1\n    scvm: {');
    // A version other than the shipped one is what teardown accepts (validate refuses it; manifest-parse.test.ts).
    const m = parseManifest(text, 'cluster.yaml', { bundledVersion: '2.3.4', anyVersion: true });
    expect(m.version).toBe('1.5.0-rc.1');
    expect(m.install).toEqual({ dirName: 'zbs-reroute', logFile: '/var/log/scvm_failure.log', runDir: '/tmp/rr' });
    expect(m.routing.failbackDelaySeconds).toBe(0);
    expect(m.routing.intervalSeconds).toBe(3);
    expect(m.routing.rest).toEqual({ port: 8080, path: '/api/v2/zbs_session/session' });
    expect(m.access.ssh).toEqual({
      port: 2222,
      connectTimeoutSeconds: 10,
      commandTimeoutSeconds: 60,
      hostTimeoutSeconds: 300,
      keepaliveSeconds: 5,
    });
    expect(m.access.parallelism).toBe(1);
  });

  it.each([
    ['{ keyFile: ~/.ssh/id_rsa, passphraseEnv: KEY_PASS }', { kind: 'key-file', path: '~/.ssh/id_rsa', passphraseEnv: 'KEY_PASS' }],
    ['{ agent: true }', { kind: 'agent', socketEnv: 'SSH_AUTH_SOCK' }],
    ['{ agent: true, socketEnv: MY_AGENT }', { kind: 'agent', socketEnv: 'MY_AGENT' }],
    ['{ passwordEnv: ESXI_PASSWORD }', { kind: 'password-env', env: 'ESXI_PASSWORD' }],
    ['{ prompt: true }', { kind: 'prompt' }],
    ['{ keyFile: /etc/zbs/id_rsa }', { kind: 'key-file', path: '/etc/zbs/id_rsa' }],
    ['{ keyFile: state/lab/operator_id_rsa }', { kind: 'key-file', path: 'state/lab/operator_id_rsa' }],
  ])('turns credential %s into a tagged credential source', (yaml, expected) => {
    const m = parse(minimal.replace('credential: { passwordEnv: ESXI_PASSWORD }', `credential: ${yaml}`));
    expect(m.access.esxi.credential).toEqual(expected);
  });

  it('keeps optional node fields only when given', () => {
    const m = parse(minimal.replace('    - name: node-1\n', '    - name: node-1\n      storageGateway: 10.20.0.254\n'));
    expect(m.nodes[0]!.storageGateway).toBe('10.20.0.254');
    expect(m.nodes[0]).not.toHaveProperty('drain');
    expect(m.nodes[0]!.scvm).not.toHaveProperty('accessIp');
  });

  it('keeps a node zone when given and routing.mode shadow over the active default', () => {
    const m = parse(
      minimal
        .replace('    - name: node-1\n', '    - name: node-1\n      zone: site-a\n')
        .replace('spec:\n', 'spec:\n  routing: { mode: shadow }\n'),
    );
    expect(m.nodes[0]!.zone).toBe('site-a');
    expect(m.routing.mode).toBe('shadow');
    expect(parse(minimal).nodes[0]).not.toHaveProperty('zone');
  });

  it('keeps an SCVM access IP (RDMA), which need not lie in the storage network and may be the storage gateway', () => {
    const scvmStorage = /( +)storageIp: (10\.20\.0\.1\d\d)\n/;
    const withAccess = minimal.replace(
      scvmStorage,
      (_m, ind: string, ip: string) => `${ind}storageIp: ${ip}\n${ind}accessIp: 10.0.85.121\n`,
    );
    expect(withAccess).toContain('accessIp: 10.0.85.121');
    const m = parse(withAccess.replace('    - name: node-1\n', '    - name: node-1\n      storageGateway: 10.0.85.121\n'));
    expect(m.nodes[0]!.scvm.accessIp).toBe('10.0.85.121');
  });
});
