import { listRealSamples, loadRealSample } from '../../test/fixtures/real-output/load-real-output';
import {
  compareVersions,
  parseBusyboxApplets,
  parseEsxcliTable,
  parseFilesystemList,
  parseFirewallRulesets,
  parseNfsList,
  parseSecureBoot,
  parseSmtxRelease,
  parseVmwareVersion,
} from './esxi-tables';

/** Preflight's parsers over real ESXi output published online (test/fixtures/real-output, each file names its source). */
describe('preflight parsers over real ESXi output', () => {
  test('every real `vmware -v` sample gives its major.minor', () => {
    const samples = listRealSamples('vmware-v');
    expect(samples.length).toBeGreaterThanOrEqual(3);
    for (const s of samples) {
      const v = parseVmwareVersion(s.body);
      expect({ file: s.file, v: v && `${v.major}.${v.minor}` }).toEqual({ file: s.file, v: expect.stringMatching(/^(6\.7|7\.0|8\.0)$/) });
    }
    expect(parseVmwareVersion(loadRealSample('vmware-v.6.7.1.txt').body)).toMatchObject({
      major: 6,
      minor: 7,
      patch: 0,
      build: '10302608',
    });
  });

  test('filesystem list: columns cut at the dash groups, so an empty volume name and right-aligned numbers parse (6.x, 7.0, 8.0)', () => {
    const six = parseFilesystemList(loadRealSample('esxcli-storage-filesystem-list.6.x.1.txt').body);
    expect(six[0]).toEqual({
      mountPoint: '/vmfs/volumes/611624d3-0014912e-65a2-525400f29a2a',
      volume: 'datastore1',
      uuid: '611624d3-0014912e-65a2-525400f29a2a',
      mounted: true,
      type: 'VMFS-6',
      sizeBytes: 77846282240,
      freeBytes: 76336332800,
    });
    expect(six[2]).toMatchObject({ volume: '', type: 'vfat', freeBytes: 106246144 });
    const seven = parseFilesystemList(loadRealSample('esxcli-storage-filesystem-list.7.0.1.txt').body);
    expect(seven[0]).toMatchObject({ volume: '', type: 'VMFS-6', freeBytes: 18654167040 });
    expect(seven[1]).toMatchObject({ volume: 'OSDATA-66aa25b4-80eeca2a-d6dd-1e00f7000340', type: 'VMFSOS' });
    const eight = parseFilesystemList(loadRealSample('esxcli-storage-filesystem-list.8.0.1.txt').body);
    expect(eight.find((f) => f.volume === 'datastore1')).toMatchObject({
      type: 'VMFS-6',
      sizeBytes: 1861599887360,
      freeBytes: 362729701376,
    });
  });

  test('nfs list: host, share and the right-aligned booleans', () => {
    expect(parseNfsList(loadRealSample('esxcli-storage-nfs-list.7.0.1.txt').body)).toEqual([
      { volume: 'nfsbackup', host: '192.168.1.22', share: '/volume1/vmnfsbackup', accessible: true, mounted: true },
    ]);
  });

  test('firewall ruleset list: name → enabled', () => {
    expect(parseFirewallRulesets(loadRealSample('esxcli-firewall-ruleset-list.6.7.1.txt').body)).toEqual(new Map([['sshServer', true]]));
    expect(parseFirewallRulesets('Name        Enabled\n----------  -------\nhttpClient    false\nsshClient      true\n')).toEqual(
      new Map([
        ['httpClient', false],
        ['sshClient', true],
      ]),
    );
  });

  test('a table without its dashed line, or garbage, gives no rows', () => {
    expect(parseEsxcliTable('')).toEqual([]);
    expect(parseEsxcliTable('Name Enabled\nsshServer true\n')).toEqual([]);
    expect(parseFilesystemList('esxcli: command not found\n')).toEqual([]);
  });

  test('busybox applets from --list and from the bare "Currently defined functions" text', () => {
    expect(parseBusyboxApplets('[\n[[\nawk\ncat\n')).toEqual(new Set(['[', '[[', 'awk', 'cat']));
    const bare =
      'BusyBox v1.29.3 (2019-05-21 16:27:23 PDT) multi-call binary.\nUsage: busybox [function [arguments]...]\n\nCurrently defined functions:\n\t[, [[, addgroup, awk, cat, chmod,\n\tvi, wc\n';
    const s = parseBusyboxApplets(bare);
    expect([...s]).toEqual(['[', '[[', 'addgroup', 'awk', 'cat', 'chmod', 'vi', 'wc']);
  });

  test('secure boot state, SMTX OS release, version order', () => {
    expect(parseSecureBoot('Enabled\n')).toBe('enabled');
    expect(parseSecureBoot('Disabled\n')).toBe('disabled');
    expect(parseSecureBoot('Traceback (most recent call last):\n')).toBeUndefined();
    expect(parseSmtxRelease('SMTX OS 5.1.2\n')).toBe('5.1.2');
    expect(parseSmtxRelease('\n')).toBeUndefined();
    expect(compareVersions('5.1.2', '5.1.2')).toBe(0);
    expect(compareVersions('5.0.4', '5.1.2')).toBe(-1);
    expect(compareVersions('5.10', '5.1.2')).toBe(1);
    expect(compareVersions('6.0.0', '5.1.2')).toBe(1);
  });
});
