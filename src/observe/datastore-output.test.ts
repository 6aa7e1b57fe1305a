import { CTX, frameProbe, installedSections } from '../../test/fixtures/probe-output';
import { loadRealSample } from '../../test/fixtures/real-output/load-real-output';
import { datastoreOfInstallDir, isNfsType, isVmfsDatastore, observeDatastore } from './datastore-output';
import { parseProbeOutput } from './parse-probe-output';

const LIST_8 = loadRealSample('esxcli-storage-filesystem-list.8.0.1.txt').body;
const LIST_NFS = loadRealSample('esxcli-storage-filesystem-list.6.x.2.txt').body;

describe("the install dir's datastore from `esxcli storage filesystem list`", () => {
  it('takes the datastore from /vmfs/volumes/<name>/<dir> and nothing else', () => {
    expect(datastoreOfInstallDir('/vmfs/volumes/datastore1/zbs-reroute')).toBe('datastore1');
    expect(datastoreOfInstallDir('/tmp/zbs-reroute')).toBeUndefined();
    expect(datastoreOfInstallDir('/vmfs/volumes/')).toBeUndefined();
  });

  it('counts VMFS-3/5/6 as datastores, not the VMFSOS system volume; NFS and NFS41 as NFS', () => {
    expect(['VMFS-5', 'VMFS-6', 'vmfs-3'].every(isVmfsDatastore)).toBe(true);
    expect(['VMFSOS', 'vfat', 'NFS', 'vsan'].some(isVmfsDatastore)).toBe(false);
    expect(['NFS', 'NFS41', 'nfs 4.1'].every(isNfsType)).toBe(true);
    expect(['VMFS-6', 'vsan', 'vfat'].some(isNfsType)).toBe(false);
  });

  it("reports type and mount state of the named volume and the host's named VMFS datastores (8.0.3 sample)", () => {
    expect(observeDatastore('datastore2', LIST_8)).toEqual({
      name: 'datastore2',
      type: 'VMFS-6',
      mounted: true,
      vmfs: ['datastore1', 'datastore2', 'datastore3'],
    });
    // A name the host does not list: no type, and the alternatives still come along for the fix.
    expect(observeDatastore('zbs-ds', LIST_8)).toEqual({ name: 'zbs-ds', vmfs: ['datastore1', 'datastore2', 'datastore3'] });
    expect(observeDatastore('x', 'esxcli: error\n')).toBeUndefined();
  });

  it('the probe section: parsed into `datastore`; unreadable (hung, failed) says why and warns; absent (older probe) says nothing', () => {
    const parse = (extra: Record<string, { name: string; body: string; status?: string }>) => {
      const r = parseProbeOutput(frameProbe(installedSections(extra)), CTX);
      if (!r.reachable) throw new Error(r.reason);
      return r;
    };
    expect(parse({ filesystems: { name: 'filesystems', body: LIST_NFS } }).datastore).toEqual({
      name: 'datastore1',
      type: 'VMFS-5',
      mounted: true,
      vmfs: ['Presale-lun-v7-new', 'QA-lun-v7', 'SEG-LUN', 'datastore1'],
    });
    const hung = parse({ filesystems: { name: 'filesystems', body: '', status: 'rc=137' } });
    expect(hung.datastore).toEqual({ name: 'datastore1', vmfs: [], unreadable: expect.stringContaining('time bound') });
    expect(hung.warnings?.join('\n')).toContain('type of datastore datastore1 is unknown');
    expect(parse({ filesystems: { name: 'filesystems', body: '', status: 'missing' } }).datastore?.unreadable).toContain(
      'esxcli is not available',
    );
    expect(parse({}).datastore).toBeUndefined();
  });
});
