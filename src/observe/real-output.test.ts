/**
 * Every parser of host output against output captured from real hosts (public
 * sources, one file each under test/fixtures/real-output/ with its URL). The
 * synthetic fixtures elsewhere prove self-consistency; these prove the parsers
 * read what ESXi and SMTX OS actually print.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRealSamples, loadRealSample, type RealSample } from '../../test/fixtures/real-output/load-real-output';
import { frameProbe, installedSections, CTX } from '../../test/fixtures/probe-output';
import { commandRunsScript, parseEsxcfgRouteList, parsePsOutput, parseVmknicList } from './esxi-command-output';
import { parseProbeOutput } from './parse-probe-output';
import { parseAllowedIpList, parseRulesetList } from './firewall-output';
import { editCrontab, editLocalSh, hasLocalShTrace, isLegacyCrontabLine, isManagedCrontabLine, localShDrift } from '../plan/text-edits';
import { LOCAL_SH_BEGIN, LOCAL_SH_END } from '../agent/bundle-layout';
import {
  parseBusyboxApplets,
  parseEsxcliTable,
  parseFilesystemList,
  parseFirewallRulesets,
  parseNfsList,
  parseVmwareVersion,
} from './esxi-tables';
import { parseSessionList } from '../discover/discover-parse';
import { findLocalSession, parseSessionClients } from './zbs-session';

const all = listRealSamples();
// The agent's own tests run it with dash (a POSIX sh whose applets are not built in, so PATH doubles work).
const DASH = spawnSync('dash', ['-c', 'exit 0']).status === 0 ? 'dash' : 'sh';
const bySlug = (slug: string): RealSample[] => listRealSamples(slug);

describe('the real-output fixtures themselves', () => {
  test('there are at least 15, each with a source, an ESXi version and a command', () => {
    expect(all.length).toBeGreaterThanOrEqual(15);
    for (const s of all) {
      expect(s.file).toMatch(/^[a-z0-9-]+\.[a-z0-9.x-]+\.\d+\.txt$/);
      expect(s.source.length).toBeGreaterThan(10);
      expect(s.body.trim()).not.toBe('');
    }
  });

  test('they cover ESXi 6.7, 7.0 and 8.0', () => {
    const versions = new Set(all.map((s) => s.file.split('.').slice(1, -2).join('.')));
    for (const v of ['6.7', '7.0', '8.0']) expect(versions).toContain(v);
  });

  test('the header is stripped but data starting with # is kept', () => {
    const cron = loadRealSample('crontab-root.unknown.1.txt');
    expect(cron.body.startsWith('#min hour day mon dow command\n')).toBe(true);
    const local = loadRealSample('local-sh.6.x.1.txt');
    expect(local.body.startsWith('#!/bin/sh\n')).toBe(true);
  });
});

describe('esxcfg-route -l (parseEsxcfgRouteList, the probe)', () => {
  test('every real sample parses with no unreadable line', () => {
    const samples = bySlug('esxcfg-route-l');
    expect(samples.length).toBeGreaterThanOrEqual(3);
    for (const s of samples) {
      const r = parseEsxcfgRouteList(s.body);
      expect({ file: s.file, skipped: r.skipped }).toEqual({ file: s.file, skipped: [] });
      expect(r.items.length).toBeGreaterThan(1);
      expect(r.items.some((x) => x.network === '0.0.0.0' && x.prefixLength === 0)).toBe(true);
    }
  });

  test('an RDMA host routes 33.2 and the SCVM storage /32 via the access IP, listed before connected subnets', () => {
    const r = parseEsxcfgRouteList(loadRealSample('esxcfg-route-l.unknown.1.txt').body).items;
    expect(r.slice(0, 2)).toEqual([
      { network: '10.0.85.21', prefixLength: 32, gateway: '10.0.85.121', iface: 'vmk1' },
      { network: '192.168.33.2', prefixLength: 32, gateway: '10.0.85.121', iface: 'vmk1' },
    ]);
    expect(r.find((x) => x.network === '10.0.85.0')).toEqual({ network: '10.0.85.0', prefixLength: 24, gateway: '0.0.0.0', iface: 'vmk1' });
  });

  test('the KB rendering (single spaces, per-column dashes) still reads "Local Subnet" as connected', () => {
    const r = parseEsxcfgRouteList(loadRealSample('esxcfg-route-l.5.x.1.txt').body).items;
    expect(r).toContainEqual({ network: '10.27.32.0', prefixLength: 20, gateway: '0.0.0.0', iface: 'vmk0' });
    expect(r[0]).toEqual({ network: '8.8.8.8', prefixLength: 32, gateway: '10.27.47.254', iface: 'vmk0' });
  });

  test('the probe reports the real RDMA route to 33.2 and the storage /32 as a cluster route', () => {
    const routes = loadRealSample('esxcfg-route-l.unknown.1.txt').body;
    const ctx = { ...CTX, clusterIps: ['10.0.85.21', '10.0.85.22', '10.0.85.23', '10.0.85.121'] };
    const obs = parseProbeOutput(frameProbe(installedSections({ routes: { name: 'routes', body: routes } })), ctx);
    if (!obs.reachable) throw new Error(obs.reason);
    expect(obs.nfsRoute).toEqual({ network: '192.168.33.2', prefixLength: 32, gateway: '10.0.85.121', iface: 'vmk1' });
    expect(obs.otherHostRoutes).toContainEqual({ network: '10.0.85.21', prefixLength: 32, gateway: '10.0.85.121', iface: 'vmk1' });
    expect((obs.warnings ?? []).filter((w) => /esxcfg-route/.test(w))).toEqual([]);
  });
});

describe('esxcfg-vmknic -l (parseVmknicList, the probe and discover)', () => {
  test('every real sample yields its IPv4 vmknics and reports no unreadable line', () => {
    for (const s of bySlug('esxcfg-vmknic-l')) {
      const r = parseVmknicList(s.body);
      expect({ file: s.file, skipped: r.skipped }).toEqual({ file: s.file, skipped: [] });
      expect(r.items.length).toBeGreaterThan(0);
    }
  });

  test('HPE 7.0.3 host: vmk0 only (the IPv6 row with Type "STATIC, PREFERRED" is not an IPv4 address)', () => {
    expect(parseVmknicList(loadRealSample('esxcfg-vmknic-l.7.0.1.txt').body).items).toEqual([
      { name: 'vmk0', ip: '172.26.64.10', netmask: '255.255.255.192' },
    ]);
  });

  test('a vmknic without an IPv4 address ("N/A") is left out, not reported as unreadable', () => {
    const r = parseVmknicList(loadRealSample('esxcfg-vmknic-l.unknown.2.txt').body);
    expect(r.items.map((x) => x.name)).toEqual(['vmk0', 'vmk1']);
  });

  test('DVS port numbers and NSX segment ids in the port-group column do not shift the columns', () => {
    const r = parseVmknicList(loadRealSample('esxcfg-vmknic-l.unknown.3.txt').body);
    expect(r.items).toContainEqual({ name: 'vmk1', ip: '15.1.1.1', netmask: '255.0.0.0' });
    expect(r.items).toContainEqual({ name: 'vmk50', ip: '8.1.1.1', netmask: '255.0.0.0' });
  });
});

describe('ps -c (parsePsOutput, commandRunsScript)', () => {
  test('a real ESXi row (WID CID world command line) gives its pid and is recognised as running the script', () => {
    const r = parsePsOutput(loadRealSample('ps-c.unknown.1.txt').body);
    expect(r.skipped).toEqual([]);
    expect(r.items).toHaveLength(1);
    const row = r.items[0] as { pid: number; command: string };
    expect(row.pid).toBe(2815619);
    expect(row.command.endsWith('/bin/sh /opt/monitoring-tools/monitoring_value_to_json.sh')).toBe(true);
    expect(commandRunsScript(row.command, 'monitoring_value_to_json.sh')).toBe(true);
  });
});

describe('vmware -v (the probe, preflight)', () => {
  test('every real sample is read by preflight as its major.minor', () => {
    for (const s of bySlug('vmware-v')) {
      const v = parseVmwareVersion(s.body);
      expect({ file: s.file, ok: v !== undefined }).toEqual({ file: s.file, ok: true });
      const expected = /^(\d+)\.(\d+)/.exec(s.esxi) as RegExpExecArray;
      expect([v?.major, v?.minor]).toEqual([Number(expected[1]), Number(expected[2])]);
    }
  });

  test('the probe keeps the first line as the host version', () => {
    const body = loadRealSample('vmware-v.8.0.1.txt').body;
    const obs = parseProbeOutput(frameProbe(installedSections({ esxi_version: { name: 'esxi_version', body } })), CTX);
    if (!obs.reachable) throw new Error(obs.reason);
    expect(obs.esxiVersion).toBe('VMware ESXi 8.0.2 build-22380479');
  });
});

describe('busybox --list (preflight)', () => {
  test("the real ESXi applet list is read applet by applet, '[' and '[[' included, and has no tr", () => {
    const applets = parseBusyboxApplets(loadRealSample('busybox-list.unknown.1.txt').body);
    expect(applets.size).toBe(105);
    for (const a of ['[', '[[', 'awk', 'sed', 'wget', 'timeout', 'mktemp', 'sha256sum', 'crond']) expect(applets.has(a)).toBe(true);
    for (const a of ['tr', 'pgrep', 'pidof', 'killall', 'flock', 'base64', 'id', 'crontab', 'ps']) expect(applets.has(a)).toBe(false);
  });
});

describe('root crontab (text-edits)', () => {
  const OURS = '* * * * * /bin/sh /vmfs/volumes/datastore1/zbs-reroute/reroute-loop.sh &';

  test('adding our line keeps every ESXi line byte for byte, on 6.x and 7.0 crontabs', () => {
    for (const s of bySlug('crontab-root')) {
      const edited = editCrontab(s.body, [], [OURS]);
      expect(edited.startsWith(s.body.endsWith('\n') ? s.body : `${s.body}\n`)).toBe(true);
      expect(edited.endsWith(`${OURS}\n`)).toBe(true);
      expect(editCrontab(edited, [OURS], [])).toBe(s.body.endsWith('\n') ? s.body : `${s.body}\n`);
      for (const line of s.body.split('\n')) expect(isManagedCrontabLine(line)).toBe(false);
    }
  });

  test("the seed tooling's line is recognised and removed alone", () => {
    const body = loadRealSample('crontab-root.unknown.1.txt').body;
    const seed = body.split('\n').filter(isLegacyCrontabLine);
    expect(seed).toEqual([
      '* * * * * /bin/sh /vmfs/volumes/6537862b-750b1f8f-cfb7-0cc47aa5d914/vmware_scvm_failure/scvm_failure_loop.sh &',
    ]);
    const cleaned = editCrontab(body, seed, []);
    expect(cleaned.split('\n').filter((l) => l !== '')).toHaveLength(7);
    expect(cleaned).toContain('*/10 *    *   *   *   /bin/crx-cli gc\n');
  });
});

describe('/etc/rc.local.d/local.sh (text-edits)', () => {
  const BLOCK = `${LOCAL_SH_BEGIN}\n/bin/sh /vmfs/volumes/datastore1/zbs-reroute/reroute-loop.sh --boot &\n${LOCAL_SH_END}\n`;

  test('real files carry the stock Secure Boot sentence', () => {
    for (const s of bySlug('local-sh')) expect(s.body).toContain('# Note: This script will not be run when UEFI secure boot is enabled.\n');
  });

  test('our block goes before exit 0, every other line stays, and removing it restores the file', () => {
    for (const s of bySlug('local-sh')) {
      expect(hasLocalShTrace(s.body)).toBe(false);
      const edited = editLocalSh(s.body, BLOCK, []);
      expect(localShDrift(edited, BLOCK)).toBeUndefined();
      expect(edited.endsWith(`${BLOCK}exit 0\n`)).toBe(true);
      expect(editLocalSh(edited, undefined, [])).toBe(s.body);
    }
  });
});

describe('esxcli tables (firewall, nfs, filesystem, route list)', () => {
  test('firewall ruleset list: FW and preflight parsers read the VMware docs sample', () => {
    const body = loadRealSample('esxcli-firewall-ruleset-list.6.7.1.txt').body;
    expect(parseRulesetList(body)).toEqual({ items: new Map([['sshServer', true]]), skipped: [] });
    expect(parseFirewallRulesets(body)).toEqual(new Map([['sshServer', true]]));
  });

  test('allowedip list: "All" and comma-separated addresses', () => {
    expect(parseAllowedIpList(loadRealSample('esxcli-firewall-allowedip-list.6.7.1.txt').body)).toEqual({
      items: new Map([['sshServer', { allowedAll: true, allowedIps: [] }]]),
      skipped: [],
    });
    const r = parseAllowedIpList(loadRealSample('esxcli-firewall-allowedip-list.unknown.2.txt').body);
    expect(r.skipped).toEqual([]);
    expect(r.items.get('nfsClient')).toEqual({ allowedAll: false, allowedIps: ['192.168.214.1', '192.168.214.2', '192.168.214.3'] });
    expect(r.items.get('sshClient')).toEqual({ allowedAll: true, allowedIps: [] });
  });

  test('storage nfs list: the mount, its server and share', () => {
    expect(parseNfsList(loadRealSample('esxcli-storage-nfs-list.7.0.1.txt').body)).toEqual([
      { volume: 'nfsbackup', host: '192.168.1.22', share: '/volume1/vmnfsbackup', accessible: true, mounted: true },
    ]);
  });

  test('storage filesystem list: every row, unnamed volumes, sizes in bytes', () => {
    for (const s of bySlug('esxcli-storage-filesystem-list')) {
      const fs = parseFilesystemList(s.body);
      const rows = s.body.split('\n').filter((l) => l.startsWith('/vmfs/volumes/'));
      expect({ file: s.file, n: fs.length }).toEqual({ file: s.file, n: rows.length });
      for (const f of fs) {
        expect(f.mountPoint).toMatch(/^\/vmfs\/volumes\/[0-9a-f-]+$/);
        // VMFS and vfat volumes: 8-8-4-12 hex; an NFS datastore: 8-8 (6.x.2's 124-share).
        expect(f.uuid).toMatch(f.type === 'NFS' ? /^[0-9a-f]{8}-[0-9a-f]{8}$/ : /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(['VMFS-5', 'VMFS-6', 'VMFSOS', 'vfat', 'NFS']).toContain(f.type);
        expect(f.sizeBytes).toBeGreaterThan(0);
        expect(f.freeBytes).toBeGreaterThanOrEqual(0);
      }
    }
    const v7 = parseFilesystemList(loadRealSample('esxcli-storage-filesystem-list.7.0.1.txt').body);
    expect(v7[0]).toEqual({
      mountPoint: '/vmfs/volumes/66b0c33b-d2f3dff8-8f53-1e00f500013e',
      volume: '',
      uuid: '66b0c33b-d2f3dff8-8f53-1e00f500013e',
      mounted: true,
      type: 'VMFS-6',
      sizeBytes: 96368328704,
      freeBytes: 18654167040,
    });
    const v6 = parseFilesystemList(loadRealSample('esxcli-storage-filesystem-list.6.x.1.txt').body);
    expect(v6[0]).toMatchObject({ volume: 'datastore1', type: 'VMFS-6', sizeBytes: 77846282240, freeBytes: 76336332800 });
  });

  test('storage nfs41 list: Host(s) read as the server column (issue 13)', () => {
    expect(parseNfsList(loadRealSample('esxcli-storage-nfs41-list.unknown.1.txt').body)).toEqual([
      { volume: 'isos', host: '10.1.0.7', share: '/backups/isos', accessible: false, mounted: false },
    ]);
  });

  test("storage filesystem list with an NFS row: the probe's datastore reading refuses nothing itself, it reports type and the VMFS alternatives (issue 13)", () => {
    const body = loadRealSample('esxcli-storage-filesystem-list.6.x.2.txt').body;
    const obs = (ds: string) => {
      const ctx = { ...CTX, installDir: `/vmfs/volumes/${ds}/zbs-reroute` };
      const sections = installedSections({
        args: { name: 'args', body: `install=${ctx.installDir}\nrun=/var/run/zbs-reroute\nnfs=192.168.33.2\nips=\n` },
        filesystems: { name: 'filesystems', body },
      });
      const r = parseProbeOutput(frameProbe(sections), ctx);
      if (!r.reachable) throw new Error(r.reason);
      return r.datastore;
    };
    const vmfs = ['Presale-lun-v7-new', 'QA-lun-v7', 'SEG-LUN', 'datastore1'];
    expect(obs('124-share')).toEqual({ name: '124-share', type: 'NFS', mounted: true, vmfs });
    expect(obs('datastore1')).toEqual({ name: 'datastore1', type: 'VMFS-5', mounted: true, vmfs });
    // Named by its UUID, as a datastore may be.
    expect(obs('2707af93-17b6f4d4')?.type).toBe('NFS');
  });

  test('network ip route ipv4 list: esxcli table with Source column', () => {
    expect(parseEsxcliTable(loadRealSample('esxcli-route-ipv4-list.7.0.1.txt').body)).toEqual([
      { Network: 'default', Netmask: '0.0.0.0', Gateway: '172.26.64.1', Interface: 'vmk0', Source: 'MANUAL' },
      { Network: '172.26.64.0', Netmask: '255.255.255.192', Gateway: '0.0.0.0', Interface: 'vmk0', Source: 'MANUAL' },
    ]);
  });
});

describe('zbs-meta session list/show (the session-clients item)', () => {
  test('findLocalSession picks the row of this SCVM\'s storage IP from the real table ("Machine UUID" is two words)', () => {
    const list = loadRealSample('zbs-meta-session-list.smtx.1.txt').body;
    expect(findLocalSession(list, '10.2.234.197')).toEqual({ sessionId: '8af221a8-96ad-4d82-ae41-94756414a170' });
    expect(findLocalSession(list, '10.2.234.199')).toHaveProperty('problem');
  });

  test('the real `session show` (a pprint dict with key/value items) yields no guess, only a problem', () => {
    // The documented layout has no local_clients_ips at all; nothing public shows where it appears when set.
    expect(parseSessionClients(loadRealSample('zbs-meta-session-show.smtx.1.txt').body)).toHaveProperty('problem');
  });

  test.todo(
    "parseSessionClients reads local_clients_ips from the real pprint layout (`{ 'key': u'local_clients_ips', 'value': u'a,b'}`?) once a real capture shows it",
  );
});

describe('ZBS REST replies (discover parseSessionList)', () => {
  test('a real error reply and a real reply of another endpoint are refused with the ec in the message', () => {
    expect(() => parseSessionList(loadRealSample('zbs-rest-reply.smtx.2.txt').body, 'scvm-1')).toThrow(
      /not a ZBS session list \(ec "REST_UNKNOWN_ERROR"\)/,
    );
    expect(() => parseSessionList(loadRealSample('zbs-rest-reply.smtx.1.txt').body, 'scvm-1')).toThrow(
      /not a ZBS session list \(ec "EOK"\)/,
    );
  });
});

/**
 * The agent parses in busybox awk. Its own functions are cut out of
 * reroute-loop.sh (not copied) and run by /bin/sh over the real samples.
 */
describe('the agent (reroute-loop.sh) over real output', () => {
  const script = readFileSync(join(__dirname, '../../esxi/agent/reroute-loop.sh'), 'utf8');
  const fn = (name: string): string => {
    const m = new RegExp(`^${name}\\(\\) \\{[\\s\\S]*?^\\}`, 'm').exec(script);
    if (!m) throw new Error(`reroute-loop.sh has no function ${name}`);
    return m[0];
  };
  // The parsers run their awk program through parse_bounded (a watchdog bounds it, issue 12); its
  // watchdog machinery is not what is tested here, so a stand-in runs the same program unbounded.
  const parsers = (...names: string[]): string =>
    [
      fn('parse_result'),
      ...(/^parse_bounded\(\) \{/m.test(script) ? ['parse_bounded() { parse_result "$(awk "$2" "$1")"; }'] : []),
      ...names.map(fn),
    ].join('\n');
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zr-real-output-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (program: string): string => execFileSync('/bin/sh', ['-c', program], { encoding: 'utf8', timeout: 10000 });

  test('parse_ssh reads the real `zbs-meta session list` table (storage and management IPs)', () => {
    const file = join(dir, 'sessions');
    writeFileSync(file, loadRealSample('zbs-meta-session-list.smtx.1.txt').body);
    const out = sh(`${parsers('parse_ssh')}\nparse_ssh '${file}' && echo "S=$META_STORAGE|M=$META_MGMT"`);
    expect(out.trim()).toBe('S= 10.2.234.198 10.2.234.197 10.2.234.196 |M= 10.93.180.25 10.93.180.24 10.93.180.23');
  });

  test('--fetch-once (ssh source, as the operator user) lists the storage IPs of the real session table', () => {
    const fake = mkdtempSync(join(dir, 'fake-'));
    writeFileSync(join(fake, 'sessions.txt'), loadRealSample('zbs-meta-session-list.smtx.1.txt').body);
    const conf = join(fake, 'reroute.conf');
    writeFileSync(
      conf,
      'LOCAL_STORAGE_IP=10.2.234.198\nLOCAL_MGMT_IP=10.93.180.25\nPEER_STORAGE_IPS="10.2.234.197 10.2.234.196"\nPEER_MGMT_IPS="10.93.180.24 10.93.180.23"\nSESSION_SOURCE=ssh\nSSH_USER=smartx\nSSH_KEY=/dev/null\n',
    );
    // The agent's own test doubles for ssh and ping (ssh serves $FAKE/sessions.txt); dash, as the agent's tests use.
    const shims = join(__dirname, '../../esxi/agent/test-shims');
    const out = execFileSync(DASH, [join(__dirname, '../../esxi/agent/reroute-loop.sh'), '--fetch-once', conf], {
      encoding: 'utf8',
      timeout: 20000,
      env: { ...process.env, FAKE: fake, PATH: `${shims}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    expect(out).toBe('session 10.2.234.198\nsession 10.2.234.197\nsession 10.2.234.196\nfetch ok\n');
    expect(readFileSync(join(fake, 'ssh-args'), 'utf8')).toMatch(/ smartx@10\.93\.180\.25 zbs-meta session list\n$/);
  });

  test('parse_rest accepts the real ZBS REST envelope ("ec": "EOK" after data, pretty-printed) and refuses a real error reply', () => {
    const ok = join(dir, 'rest-ok');
    const bad = join(dir, 'rest-bad');
    writeFileSync(ok, loadRealSample('zbs-rest-reply.smtx.1.txt').body);
    writeFileSync(bad, loadRealSample('zbs-rest-reply.smtx.2.txt').body);
    const run = (file: string) =>
      sh(`${parsers('parse_rest')}\nif parse_rest '${file}'; then echo "ok S=[$META_STORAGE]"; else echo refused; fi`).trim();
    expect(run(ok)).toBe('ok S=[ ]');
    expect(run(bad)).toBe('refused');
  });

  test('route_get finds the 33.2 gateway in real esxcfg-route and esxcli route output', () => {
    const cases: Array<[string, string, string]> = [
      ['esxcfg-route-l.unknown.1.txt', 'esxcfg', '10.0.85.121'],
      ['esxcfg-route-l.7.0.1.txt', 'esxcfg', ''],
      ['esxcli-route-ipv4-list.7.0.1.txt', 'esxcli', ''],
    ];
    for (const [file, tool, gw] of cases) {
      const fixture = join(dir, file);
      writeFileSync(fixture, loadRealSample(file).body);
      const stub = `run_bounded() { cat '${fixture}' >"$2"; }`;
      const out = sh(
        `${stub}\n${fn('route_get')}\nNFS_ADDRESS=192.168.33.2 ROUTE_TOOL=${tool} TMP_ROUTES='${join(dir, 'routes.out')}' ROUTE_TIMEOUT=2\nroute_get && echo "GW=$ROUTE_GW"`,
      );
      expect({ file, out: out.trim() }).toEqual({ file, out: `GW=${gw}` });
    }
  });
});
