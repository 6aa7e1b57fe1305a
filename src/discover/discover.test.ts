import { parseManifest } from '../manifest';
import { parseDiscoverOutput, parseSessionList, parseVolumes } from './discover-parse';
import type { EsxiFacts, SessionEntry } from './discover-types';
import { accessIpOf, pairHosts } from './pair-hosts';
import { renderDiscoveredManifest, type RenderInput } from './render-manifest';

const M = '@@zr-discover@@';

function vmknicTable(rows: [string, string][]): string {
  const head =
    'Interface  Port Group/DVPort/Opaque Network        IP Family IP Address                              Netmask         Broadcast       MAC Address       MTU     TSO MSS   Enabled Type                NetStack';
  return [
    head,
    ...rows.map(
      ([n, ip]) =>
        `${n.padEnd(10)} ${'PG'.padEnd(39)} IPv4      ${ip.padEnd(39)} 255.255.255.0   x.255           00:50:56:00:00:01 1500    65535     true    STATIC              defaultTcpipStack`,
    ),
  ].join('\n');
}

function facts(i: number, over: Partial<EsxiFacts> = {}): EsxiFacts {
  return {
    address: `10.10.0.${10 + i}`,
    hostname: `esxi-${i}`,
    vmknics: [
      { name: 'vmk0', ip: `10.10.0.${10 + i}`, netmask: '255.255.255.0' },
      { name: 'vmk1', ip: `10.20.0.${10 + i}`, netmask: '255.255.255.0' },
      { name: 'vmk2', ip: '192.168.33.1', netmask: '255.255.255.0' },
    ],
    datastores: { datastore1: '5f1e3b2a-12ab34cd-5678-0050569a1b2c' },
    guestIps: [],
    ...over,
  };
}

const sessions = (n: number): SessionEntry[] =>
  Array.from({ length: n }, (_, k) => ({ storageIp: `10.20.0.${101 + k}`, mgmtIp: `10.10.0.${101 + k}` }));

function input(over: Partial<RenderInput> = {}): RenderInput {
  return {
    facts: [facts(1), facts(2), facts(3)],
    sessions: sessions(3).reverse(),
    sessionsFrom: '10.10.0.101',
    clusterName: 'lab-a',
    nfsAddress: '192.168.33.2',
    esxi: { user: 'root', credential: { keyFile: '/keys/op' } },
    scvm: { user: 'smartx', credential: { keyFile: '/keys/op' }, credentialGuessed: false },
    now: '2026-11-24T00:00:00.000Z',
    ...over,
  };
}

describe('discover: parsing host output', () => {
  it('reads vmknics, named VMFS datastores, an installed agent, guest IPs and the session list', () => {
    const out = [
      `${M}vmknic`,
      vmknicTable([
        ['vmk0', '10.10.0.11'],
        ['vmk1', '10.20.0.11'],
      ]),
      `${M}volumes`,
      'lrwxr-xr-x    1 root     root            35 Nov 24 10:00 datastore1 -> 5f1e3b2a-12ab34cd-5678-0050569a1b2c',
      'drwxr-xr-t    1 root     root          1400 Nov 24 10:00 5f1e3b2a-12ab34cd-5678-0050569a1b2c',
      `${M}hostname`,
      'esxi-1',
      `${M}conf`,
      "LOCAL_STORAGE_IP='10.20.0.101'",
      `${M}vms`,
      '   ipAddress = "10.10.0.101",',
      `${M}sessions`,
      '{"ec":"EOK","data":[]}',
      '',
    ].join('\n');
    const f = parseDiscoverOutput('10.10.0.11', out);
    expect(f.vmknics.map((v) => v.ip)).toEqual(['10.10.0.11', '10.20.0.11']);
    expect(f.datastores).toEqual({ datastore1: '5f1e3b2a-12ab34cd-5678-0050569a1b2c' });
    expect(f.installed).toEqual({ storageIp: '10.20.0.101', mgmtIp: undefined });
    expect(f.guestIps).toEqual(['10.10.0.101']);
    expect(f.hostname).toBe('esxi-1');
    expect(f.sessionsJson).toBe('{"ec":"EOK","data":[]}');
  });

  it('refuses truncated output instead of guessing from half of it', () => {
    expect(() => parseDiscoverOutput('h', `${M}vmknic\n`)).toThrow(/incomplete/);
  });

  it('parses the session list, skipping incomplete and duplicate entries', () => {
    const json = JSON.stringify({
      ec: 'EOK',
      data: [
        { ip: '10.20.0.101', secondary_data_ip: '10.10.0.101' },
        { ip: '10.20.0.101', secondary_data_ip: '10.10.0.101' },
        { ip: '10.20.0.102' },
      ],
    });
    expect(parseSessionList(json, 'x')).toEqual([{ storageIp: '10.20.0.101', mgmtIp: '10.10.0.101' }]);
    expect(() => parseSessionList('<html>', 'x')).toThrow(/not JSON/);
    expect(() => parseSessionList('{"ec":"EBAD"}', 'x')).toThrow(/not a ZBS session list/);
  });

  it('only symlinked names count as datastores', () => {
    expect(
      parseVolumes('drwxr-xr-x 1 root root 1 Nov 1 00:00 abc\nlrwxr-xr-x 1 root root 1 Nov 1 00:00 ds -> /vmfs/volumes/uuid\n'),
    ).toEqual({ ds: 'uuid' });
  });
});

describe('discover: pairing ESXi hosts with SCVMs', () => {
  const esxi = (i: number, f: Partial<EsxiFacts> = {}) => ({
    address: `10.10.0.${10 + i}`,
    storageIp: `10.20.0.${10 + i}`,
    facts: facts(i, f),
  });

  it('uses one constant storage-IP distance when exactly one fits every host (a guess)', () => {
    const p = pairHosts({ esxi: [esxi(1), esxi(2), esxi(3)], sessions: sessions(3) });
    expect(p.map((x) => [x.esxi, x.scvm.storageIp, x.evidence])).toEqual([
      ['10.10.0.11', '10.20.0.101', 'address-offset'],
      ['10.10.0.12', '10.20.0.102', 'address-offset'],
      ['10.10.0.13', '10.20.0.103', 'address-offset'],
    ]);
    expect(p[0]?.note).toMatch(/^guessed: .*\+90.*vim-cmd/);
  });

  it('prefers real evidence (installed agent, VM inventory, --pair) over address guesses', () => {
    const p = pairHosts({
      esxi: [esxi(1, { installed: { storageIp: '10.20.0.103' } }), esxi(2, { guestIps: ['10.10.0.101'] }), esxi(3)],
      sessions: sessions(3),
      operatorPairs: {},
    });
    expect(p.map((x) => [x.scvm.storageIp, x.evidence])).toEqual([
      ['10.20.0.103', 'installed-agent'],
      ['10.20.0.101', 'vm-inventory'],
      ['10.20.0.102', 'address-offset'],
    ]);
    const op = pairHosts({ esxi: [esxi(1), esxi(2)], sessions: sessions(2), operatorPairs: { '10.10.0.11': '10.10.0.102' } });
    expect(op.map((x) => [x.scvm.storageIp, x.evidence])).toEqual([
      ['10.20.0.102', 'operator'],
      ['10.20.0.101', 'address-offset'],
    ]);
  });

  it('falls back to sorted order when no single distance fits, and refuses when it cannot tell', () => {
    const odd: SessionEntry[] = [
      { storageIp: '10.20.0.200', mgmtIp: '10.10.0.200' },
      { storageIp: '10.20.0.150', mgmtIp: '10.10.0.150' },
    ];
    const p = pairHosts({ esxi: [esxi(2), esxi(1)], sessions: odd });
    expect(p.map((x) => [x.esxi, x.scvm.storageIp, x.evidence])).toEqual([
      ['10.10.0.12', '10.20.0.200', 'address-order'],
      ['10.10.0.11', '10.20.0.150', 'address-order'],
    ]);
    expect(() => pairHosts({ esxi: [esxi(1), esxi(2), esxi(3)], sessions: odd })).toThrow(/is an SCVM down/);
  });

  it('never pairs two hosts with one SCVM', () => {
    expect(() =>
      pairHosts({
        esxi: [esxi(1, { installed: { storageIp: '10.20.0.101' } }), esxi(2, { installed: { storageIp: '10.20.0.101' } })],
        sessions: sessions(2),
      }),
    ).toThrow(/already paired/);
  });
});

describe('discover: the manifest it writes', () => {
  it('is valid, skips the private NFS vmknic, and comments every guess', () => {
    const r = renderDiscoveredManifest(
      input({ clusterName: undefined, scvm: { user: 'smartx', credential: { keyFile: '/keys/op' }, credentialGuessed: true } }),
    );
    const m = parseManifest(r.yaml, 'discovered.yaml', { bundledVersion: '1.0.0' });
    expect(
      m.nodes.map((n) => [
        n.name,
        n.esxi.address,
        n.esxi.storageVmk,
        n.esxi.storageIp,
        n.esxi.datastore,
        n.scvm.storageIp,
        n.scvm.managementIp,
      ]),
    ).toEqual([
      ['node-1', '10.10.0.11', 'vmk1', '10.20.0.11', 'datastore1', '10.20.0.101', '10.10.0.101'],
      ['node-2', '10.10.0.12', 'vmk1', '10.20.0.12', 'datastore1', '10.20.0.102', '10.10.0.102'],
      ['node-3', '10.10.0.13', 'vmk1', '10.20.0.13', 'datastore1', '10.20.0.103', '10.10.0.103'],
    ]);
    expect(m.networks).toEqual({ storage: '10.20.0.0/24', management: '10.10.0.0/24' });
    expect(m.access.scvm.user).toBe('smartx');
    expect(r.yaml).toMatch(/name: zbs-cluster\s+# guessed/);
    expect(r.yaml).toMatch(/scvm:\s+# guessed: every SCVM storage IP/);
    expect(r.guesses).toEqual(expect.arrayContaining(['cluster name', 'SCVM credential', 'SCVM of 10.10.0.11']));
  });

  it('offers shadow mode for a first contact, commented out (active stays the default); uncommented it is valid', () => {
    const r = renderDiscoveredManifest(input({}));
    expect(parseManifest(r.yaml, 'discovered.yaml', { bundledVersion: '1.0.0' }).routing.mode).toBe('active');
    const shadow = r.yaml.replace('  # routing: { mode: shadow }', '  routing: { mode: shadow }');
    expect(shadow).not.toBe(r.yaml);
    expect(parseManifest(shadow, 'discovered.yaml', { bundledVersion: '1.0.0' }).routing.mode).toBe('shadow');
  });

  it('picks datastore1 among several VMFS datastores and says so; --datastore must exist', () => {
    const many = {
      datastore1: '5f1e3b2a-12ab34cd-5678-0050569a1b2c',
      local2: '5f1e3b2a-12ab34cd-5678-0050569a1b2d',
      nfs: 'a1b2c3d4-e5f60718',
    };
    const r = renderDiscoveredManifest(input({ facts: [facts(1, { datastores: many })], sessions: sessions(1) }));
    expect(r.yaml).toMatch(/datastore: datastore1\s+# guessed: one of datastore1, local2/);
    expect(() => renderDiscoveredManifest(input({ datastore: 'nope' }))).toThrow(/no datastore nope/);
  });

  it('refuses hosts without a vmknic in the SCVM storage network', () => {
    const bad = facts(1, { vmknics: [{ name: 'vmk0', ip: '10.10.0.11', netmask: '255.255.255.0' }] });
    expect(() => renderDiscoveredManifest(input({ facts: [bad], sessions: sessions(1) }))).toThrow(/no vmknic in the SCVM storage subnet/);
  });
});

describe('discover: RDMA access IPs from the host routes', () => {
  const rdmaRoutes = (i: number) => [
    { network: '192.168.33.2', gateway: `10.20.0.${150 + i}` },
    { network: `10.20.0.${100 + i}`, gateway: `10.20.0.${150 + i}` },
  ];

  it('parses the routes section (/32 routes only), and output without one has no routes', () => {
    const table = [
      'VMkernel Routes:',
      'Network          Netmask          Gateway          Interface',
      '10.0.85.21       255.255.255.255  10.0.85.121      vmk1',
      '192.168.33.2     255.255.255.255  10.0.85.121      vmk1',
      '10.0.85.0        255.255.255.0    Local Subnet     vmk1',
      'default          0.0.0.0          10.0.80.1        vmk0',
    ];
    const base = [
      `${M}vmknic`,
      vmknicTable([['vmk1', '10.0.85.11']]),
      `${M}volumes`,
      `${M}hostname`,
      `${M}conf`,
      `${M}vms`,
      `${M}sessions`,
    ];
    const f = parseDiscoverOutput('10.0.80.11', [...base, `${M}routes`, ...table, ''].join('\n'));
    expect(f.hostRoutes).toEqual([
      { network: '10.0.85.21', gateway: '10.0.85.121' },
      { network: '192.168.33.2', gateway: '10.0.85.121' },
    ]);
    expect(parseDiscoverOutput('10.0.80.11', [...base, ''].join('\n')).hostRoutes).toBeUndefined();
  });

  it('takes the gateway of the SCVM storage /32; else a 33.2 gateway that is a guest IP of this host and no cluster address', () => {
    const s = sessions(3);
    expect(accessIpOf(facts(1, { hostRoutes: rdmaRoutes(1) }), s[0]!, s, '192.168.33.2')).toBe('10.20.0.151');
    expect(
      accessIpOf(
        facts(1, { hostRoutes: [{ network: '192.168.33.2', gateway: '10.20.0.151' }], guestIps: ['10.20.0.151'] }),
        s[0]!,
        s,
        '192.168.33.2',
      ),
    ).toBe('10.20.0.151');
    // 33.2 via an address no VM here carries, or via a peer SCVM (failed over): not an access IP.
    expect(
      accessIpOf(facts(1, { hostRoutes: [{ network: '192.168.33.2', gateway: '10.20.0.151' }] }), s[0]!, s, '192.168.33.2'),
    ).toBeUndefined();
    expect(
      accessIpOf(
        facts(1, { hostRoutes: [{ network: '192.168.33.2', gateway: '10.20.0.102' }], guestIps: ['10.20.0.102'] }),
        s[0]!,
        s,
        '192.168.33.2',
      ),
    ).toBeUndefined();
    expect(accessIpOf(facts(1), s[0]!, s, '192.168.33.2')).toBeUndefined();
  });

  it('writes accessIp into the manifest for each paired SCVM, and the manifest is valid', () => {
    const r = renderDiscoveredManifest(input({ facts: [1, 2, 3].map((i) => facts(i, { hostRoutes: rdmaRoutes(i) })) }));
    expect(r.yaml).toMatch(/accessIp: 10\.20\.0\.151\s+# RDMA: this host routes the SCVM storage IP 10\.20\.0\.101 via it/);
    const m = parseManifest(r.yaml, 'discovered.yaml', { bundledVersion: '1.0.0' });
    expect(m.nodes.map((n) => [n.scvm.storageIp, n.scvm.accessIp])).toEqual([
      ['10.20.0.101', '10.20.0.151'],
      ['10.20.0.102', '10.20.0.152'],
      ['10.20.0.103', '10.20.0.153'],
    ]);
    expect(renderDiscoveredManifest(input()).yaml).not.toMatch(/accessIp/);
  });
});
