import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  metaStatusTxtPath,
  newScvmState,
  readClusterState,
  renderMetaStatusTxt,
  renderSessionsTxt,
  sessionListResponse,
  newSessionId,
  sessionsTxtPath,
  setSessionClientIps,
  updateScvm,
  validateClusterState,
  writeClusterState,
  type ClusterState,
} from './cluster-state';

function threeNodes(): ClusterState {
  return {
    version: 1,
    scvms: {
      // Deliberately out of order: every view must sort by cid.
      'scvm-10': newScvmState('scvm-10', 10, '10.20.0.110', '10.10.0.110'),
      'scvm-1': newScvmState('scvm-1', 1, '10.20.0.101', '10.10.0.101'),
      'scvm-2': newScvmState('scvm-2', 2, '10.20.0.102', '10.10.0.102'),
    },
  };
}

describe('session list (REST body)', () => {
  it('lists every healthy SCVM in the ZBS shape, ordered by cid', () => {
    const body = sessionListResponse(threeNodes());
    expect(body.ec).toBe('EOK');
    expect(body.data.map((d) => d.cid)).toEqual([1, 2, 10]);
    const s1 = threeNodes().scvms['scvm-1']!;
    expect(body.data[0]).toEqual({
      session_id: s1.sessionId,
      ip: '10.20.0.101',
      port: 10201,
      cid: 1,
      secondary_data_ip: '10.10.0.101',
      zone: 'default',
      machine_uuid: s1.machineUuid,
      local_clients_ips: '',
    });
  });

  it('drops an unhealthy access point but keeps an SCVM whose own meta is down', () => {
    const st = threeNodes();
    st.scvms['scvm-2']!.healthy = false;
    st.scvms['scvm-10']!.metaUp = false;
    expect(sessionListResponse(st).data.map((d) => d.ip)).toEqual(['10.20.0.101', '10.20.0.110']);
  });

  it('derives stable, distinct uuids from the SCVM name', () => {
    const a = newScvmState('scvm-1', 1, '10.20.0.101', '10.10.0.101');
    const b = newScvmState('scvm-1', 1, '10.20.0.101', '10.10.0.101');
    const c = newScvmState('scvm-2', 2, '10.20.0.102', '10.10.0.102');
    expect(a.sessionId).toBe(b.sessionId);
    expect(new Set([a.sessionId, a.machineUuid, c.sessionId, c.machineUuid]).size).toBe(4);
    expect(a.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('sidecars for the shell zbs-meta', () => {
  it('writes one space-separated line per healthy SCVM in session-list column order', () => {
    const st = threeNodes();
    st.scvms['scvm-2']!.healthy = false;
    const s1 = st.scvms['scvm-1']!;
    const lines = renderSessionsTxt(st).split('\n');
    expect(lines[0]).toBe(`${s1.sessionId} 10.20.0.101 10201 1 10.10.0.101 default ${s1.machineUuid} -`);
    expect(lines).toHaveLength(3); // two rows + trailing newline
  });

  it('reports down before hung, since a down meta cannot hang', () => {
    const st = threeNodes();
    st.scvms['scvm-1']!.hung = true;
    st.scvms['scvm-2']!.metaUp = false;
    st.scvms['scvm-2']!.hung = true;
    expect(renderMetaStatusTxt(st)).toBe('scvm-1 hung\nscvm-2 down\nscvm-10 up\n');
  });
});

describe('validation', () => {
  it('lists every problem at once', () => {
    const problems = validateClusterState({
      version: 2,
      scvms: {
        'bad name': {
          storageIp: '10.0.0.300',
          mgmtIp: 'x',
          sessionId: 'nope',
          machineUuid: 1,
          cid: 0,
          healthy: 'yes',
          metaUp: true,
          hung: false,
        },
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('version'),
        expect.stringContaining('name must match'),
        expect.stringContaining('storageIp'),
        expect.stringContaining('mgmtIp'),
        expect.stringContaining('sessionId'),
        expect.stringContaining('machineUuid'),
        expect.stringContaining('cid'),
        expect.stringContaining('healthy'),
      ]),
    );
  });

  it('accepts what newScvmState builds', () => {
    expect(validateClusterState(threeNodes())).toEqual([]);
  });
});

describe('file round trip', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrs-cluster-state-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes JSON and both sidecars beside it, leaving no temp files', () => {
    const file = path.join(dir, 'cluster.json');
    writeClusterState(file, threeNodes());
    expect(readClusterState(file)).toEqual(threeNodes());
    expect(fs.readFileSync(sessionsTxtPath(file), 'utf8')).toBe(renderSessionsTxt(threeNodes()));
    expect(fs.readFileSync(metaStatusTxtPath(file), 'utf8')).toBe(renderMetaStatusTxt(threeNodes()));
    expect(fs.readdirSync(dir).sort()).toEqual(['cluster.json', 'meta-status.txt', 'sessions.txt']);
  });

  it('updateScvm patches one SCVM and refreshes the sidecars', () => {
    const file = path.join(dir, 'cluster.json');
    writeClusterState(file, threeNodes());
    updateScvm(file, 'scvm-1', { healthy: false });
    expect(readClusterState(file).scvms['scvm-1']!.healthy).toBe(false);
    expect(fs.readFileSync(sessionsTxtPath(file), 'utf8')).not.toContain('10.20.0.101');
  });

  it('updateScvm on an unknown SCVM fails naming the known ones', () => {
    const file = path.join(dir, 'cluster.json');
    writeClusterState(file, threeNodes());
    expect(() => updateScvm(file, 'scvm-9', { healthy: false })).toThrow(/no SCVM named scvm-9/);
  });

  it('refuses to write an invalid state, and a garbled file fails to read with a clear code', () => {
    const file = path.join(dir, 'cluster.json');
    const bad = threeNodes();
    bad.scvms['scvm-1']!.cid = -1;
    expect(() => writeClusterState(file, bad)).toThrow(/refusing to write invalid cluster state/);
    expect(fs.existsSync(file)).toBe(false);
    fs.writeFileSync(file, '{"version":1,');
    expect(() => readClusterState(file)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});

describe('session client IPs (local_clients_ips)', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrs-clients-'));
    file = path.join(dir, 'cluster.json');
    writeClusterState(file, threeNodes());
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sets them by session id, shows them in the list and the sidecar, and leaves no lock behind', () => {
    const s2 = threeNodes().scvms['scvm-2']!;
    const view = setSessionClientIps(file, s2.sessionId, '10.10.0.12,10.20.0.12');
    expect(view).toMatchObject({ session_id: s2.sessionId, ip: '10.20.0.102', local_clients_ips: '10.10.0.12,10.20.0.12' });
    const st = readClusterState(file);
    expect(sessionListResponse(st).data.find((d) => d.cid === 2)?.local_clients_ips).toBe('10.10.0.12,10.20.0.12');
    expect(fs.readFileSync(sessionsTxtPath(file), 'utf8')).toContain(`${s2.machineUuid} 10.10.0.12,10.20.0.12\n`);
    expect(fs.readdirSync(dir).sort()).toEqual(['cluster.json', 'meta-status.txt', 'sessions.txt']);
  });

  it('answers undefined for an unknown session id (REST 404) and changes nothing', () => {
    const before = fs.readFileSync(file, 'utf8');
    expect(setSessionClientIps(file, '00000000-0000-4000-8000-000000000000', '10.10.0.12')).toBeUndefined();
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
  });

  it('a restarted access gets a new random session id with no clients', () => {
    const s1 = threeNodes().scvms['scvm-1']!;
    setSessionClientIps(file, s1.sessionId, '10.20.0.11');
    const id = newSessionId();
    const st = updateScvm(file, 'scvm-1', { sessionId: id, localClientsIps: '' });
    expect(id).not.toBe(s1.sessionId);
    expect(st.scvms['scvm-1']).toMatchObject({ sessionId: id, localClientsIps: '' });
    expect(setSessionClientIps(file, s1.sessionId, '10.20.0.11')).toBeUndefined();
  });

  it('refuses client lists that are not IPv4 addresses', () => {
    const st = threeNodes();
    st.scvms['scvm-1']!.localClientsIps = '10.0.0.1, x';
    expect(validateClusterState(st).join('\n')).toMatch(/localClientsIps/);
  });
});
