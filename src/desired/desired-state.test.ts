import { desiredCluster, sha256Hex, VERSION_UNAVAILABLE_RULE } from './desired-state';
import { isClusterAuthorizedKey, renderAuthorizedKey } from './authorized-key';
import { hostKeysOf, knownHostsLines } from './known-hosts';
import { RerouteError } from '../errors/reroute-error';
import {
  FIXTURE_KEY,
  agentScript,
  fixtureBundle,
  fixtureDesired,
  fixtureHostKeys,
  fixtureManifest as restManifest,
  withSshSource,
  fixtureNode,
} from '../../test/support/plan-fixtures';

// These cases show the cluster key too: the ssh session source is the one that installs it.
const fixtureManifest = (...a: Parameters<typeof restManifest>) => withSshSource(restManifest(...a));
import { routeIsOurs } from '../plan/plan-esxi';

describe('desiredCluster', () => {
  const m = fixtureManifest(3);
  const d = fixtureDesired(m);

  test('every ESXi gets its five files with modes, hashes and the agent version; the private key only as a reference', () => {
    const e = d.esxi[0]!;
    expect(e.installDir).toBe('/vmfs/volumes/ds-1/zbs-reroute');
    expect(e.files.map((f) => [f.path.slice(e.installDir.length + 1), f.mode])).toEqual([
      ['keys/reroute_id_rsa', '0600'],
      ['keys/reroute_id_rsa.pub', '0644'],
      ['keys/known_hosts', '0644'],
      ['reroute.conf', '0600'],
      ['reroute-loop.sh', '0755'],
    ]);
    const priv = e.files[0]!;
    expect(priv).toEqual({
      path: `${e.installDir}/keys/reroute_id_rsa`,
      mode: '0600',
      sha256: FIXTURE_KEY.privateKeySha256,
      contentRef: 'reroute-private-key',
    });
    for (const f of e.files.slice(1)) expect(f.sha256).toBe(sha256Hex(f.content ?? ''));
    const loop = e.files[4]!;
    expect(loop.version).toBe('1.0.0');
    expect(loop.content).toBe(agentScript('1.0.0'));
    expect(e.crontabLine).toBe('* * * * * /bin/sh /vmfs/volumes/ds-1/zbs-reroute/reroute-loop.sh &');
    expect(e.localShBlock.startsWith('# BEGIN zbs-reroute')).toBe(true);
    expect(JSON.stringify(d)).not.toMatch(/PRIVATE KEY/);
  });

  test('known_hosts lists every SCVM host key under both its management and storage IP', () => {
    const kh = d.esxi[1]!.files.find((f) => f.path.endsWith('known_hosts'))!.content!;
    expect(kh.split('\n').filter(Boolean)).toEqual([
      '10.10.0.101,10.20.0.101 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIfixturehostkey0',
      '10.10.0.102,10.20.0.102 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIfixturehostkey1',
      '10.10.0.103,10.20.0.103 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIfixturehostkey2',
    ]);
    expect(d.warnings).toEqual([]);
  });

  test('an SCVM without a pinned host key is a warning, not an error', () => {
    const keys = fixtureHostKeys(m);
    delete keys['node-2'];
    const x = desiredCluster({ manifest: m, bundle: fixtureBundle(), key: FIXTURE_KEY, scvmHostKeys: keys });
    expect(x.warnings).toEqual([expect.stringMatching(/node-2/)]);
  });

  test('every SCVM gets the same restricted entry: from= all ESXi mgmt+storage IPs, our marker comment', () => {
    expect(d.scvm.map((s) => [s.node, s.address])).toEqual([
      ['node-1', '10.10.0.101'],
      ['node-2', '10.10.0.102'],
      ['node-3', '10.10.0.103'],
    ]);
    expect(new Set(d.scvm.map((s) => s.authorizedKey)).size).toBe(1);
    expect(d.scvm[0]!.authorizedKey).toBe(
      'restrict,command="zbs-meta session list",from="10.10.0.11,10.20.0.11,10.10.0.12,10.20.0.12,10.10.0.13,10.20.0.13" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDfixturekeyblob0123456789 zbs-reroute:prod-a',
    );
  });

  test('cluster gateways are the SCVM storage and management IPs; cluster addresses add NFS, ESXi and storage gateways', () => {
    const mg = fixtureManifest(2);
    mg.nodes[1] = fixtureNode(2, { storageGateway: '10.20.0.254' });
    const x = fixtureDesired(mg);
    expect(x.clusterGateways).toEqual(['10.20.0.101', '10.10.0.101', '10.20.0.102', '10.10.0.102']);
    expect(x.clusterAddresses).toEqual([
      '192.168.33.2',
      '10.20.0.101',
      '10.10.0.101',
      '10.20.0.102',
      '10.10.0.102',
      '10.10.0.11',
      '10.20.0.11',
      '10.10.0.12',
      '10.20.0.12',
      '10.20.0.254',
    ]);
    expect(x.esxi[1]!.storageGateway).toBe('10.20.0.254');
    expect(x.esxi[0]!.storageGateway).toBeUndefined();
  });

  test('drain: to a named node pins its SCVM storage IP; errors name the node and the fix', () => {
    const md = fixtureManifest(3);
    md.nodes[0] = fixtureNode(1, { drain: { to: 'node-3' } });
    const x = fixtureDesired(md);
    expect([x.esxi[0]!.pinTarget, x.esxi[0]!.pinTargetNode]).toEqual(['10.20.0.103', 'node-3']);
    expect(x.esxi[1]!.pinTarget).toBeUndefined();
    md.nodes[0] = fixtureNode(1, { drain: { to: 'node-1' } });
    expect(() => fixtureDesired(md)).toThrow(/drain.to "node-1" is not another node/);
    const one = fixtureManifest(1);
    one.nodes[0] = fixtureNode(1, { drain: {} });
    expect(() => fixtureDesired(one)).toThrow(/no other node/);
  });

  test('a wanted version this release does not ship is a clear error (the bundle is the only source of scripts)', () => {
    const want = fixtureManifest(2, { version: '2.0.0' });
    let err: unknown;
    try {
      desiredCluster({ manifest: want, bundle: fixtureBundle('1.0.0'), key: FIXTURE_KEY, scvmHostKeys: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RerouteError);
    const r = err as RerouteError;
    expect(r.code).toBe('MANIFEST_INVALID');
    expect(r.message).toMatch(/wants reroute agent 2\.0\.0, but this zbs-reroute release ships 1\.0\.0/);
    expect(r.fix).toMatch(/Remove `version`/);
    expect(r.details).toEqual({ rule: VERSION_UNAVAILABLE_RULE, wanted: '2.0.0', shipped: '1.0.0' });
    // Teardown writes no scripts, so it may go ahead.
    expect(
      desiredCluster({ manifest: want, bundle: fixtureBundle('1.0.0'), key: FIXTURE_KEY, scvmHostKeys: {}, allowVersionMismatch: true })
        .version,
    ).toBe('2.0.0');
  });

  test('a conf change never depends on the version: an upgrade changes the script only', () => {
    const a = fixtureDesired(fixtureManifest(2));
    const b = fixtureDesired(fixtureManifest(2, { version: '1.1.0' }));
    const changed = a.esxi[0]!.files.filter((f, i) => f.sha256 !== b.esxi[0]!.files[i]!.sha256).map((f) => f.path.split('/').pop());
    expect(changed).toEqual(['reroute-loop.sh']);
  });
});

describe('known_hosts helpers', () => {
  test('take type+blob from lines with or without a host field, skipping comments, markers and junk', () => {
    const text =
      '# pinned\n10.0.0.1 ssh-ed25519 AAAAC3Nza1\nssh-rsa AAAAB3Nz2 comment\n@cert-authority * ssh-rsa AAAAca\n10.0.0.1,h ecdsa-sha2-nistp256 AAAAE2Vj3=\n10.0.0.1 ssh-ed25519 AAAAC3Nza1\nnot a key\n10.0.0.1 ssh-rsa not!base64\n';
    expect(hostKeysOf(text)).toEqual(['ssh-ed25519 AAAAC3Nza1', 'ssh-rsa AAAAB3Nz2', 'ecdsa-sha2-nistp256 AAAAE2Vj3=']);
    expect(knownHostsLines(['a', 'b'], ['ssh-rsa X'])).toBe('a,b ssh-rsa X\n');
    expect(knownHostsLines(['a'], [])).toBe('');
  });
});

describe('authorized key entry', () => {
  test('recognises this cluster only (not a cluster whose name merely starts the same)', () => {
    const e = renderAuthorizedKey('prod-a', ['10.0.0.1'], FIXTURE_KEY.publicKey);
    expect(isClusterAuthorizedKey(e, 'prod-a')).toBe(true);
    expect(isClusterAuthorizedKey(e.replace('zbs-reroute:prod-a', 'zbs-reroute:prod-a-2'), 'prod-a')).toBe(false);
    expect(isClusterAuthorizedKey('ssh-rsa AAAA admin@laptop', 'prod-a')).toBe(false);
    expect(() => renderAuthorizedKey('x', [], 'not a key')).toThrow(/OpenSSH/);
  });
});

describe('RDMA access IPs', () => {
  const m = fixtureManifest(2);
  m.nodes[0]!.scvm.accessIp = '10.20.0.151';
  const d = desiredCluster({ manifest: m, bundle: fixtureBundle(), key: FIXTURE_KEY, scvmHostKeys: fixtureHostKeys(m) });

  test('are cluster gateways, so destroy removes 33.2 and the SCVM storage /32 routed via them', () => {
    expect(d.clusterGateways).toContain('10.20.0.151');
    const route = (network: string, gateway: string) => ({ network, prefixLength: 32, gateway, iface: 'vmk1' });
    expect(routeIsOurs(route('192.168.33.2', '10.20.0.151'), d.esxi[0]!, d)).toBe(true);
    expect(routeIsOurs(route('10.20.0.101', '10.20.0.151'), d.esxi[0]!, d)).toBe(true);
    expect(routeIsOurs(route('192.168.33.2', '10.20.0.250'), d.esxi[0]!, d)).toBe(false);
  });
});
