import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import type { Plan } from '../plan/plan-types';
import { datastorePositions, refuseNfsDatastores } from './datastore-refusal';

const YAML = `apiVersion: zbs-reroute/v1
kind: RerouteCluster
metadata: { name: t }
spec:
  nodes:
    - name: node-1
      esxi:
        address: 10.10.0.11
        datastore: zbs-nfs
    - name: node-2
      esxi: { address: 10.10.0.12, datastore: datastore1 }
`;

function plan(refused: Plan['datastoreRefusals']): Plan {
  return {
    format: 'zbs-reroute/plan-v2',
    mode: 'apply',
    cluster: 't',
    version: '1.0.0',
    createdAt: '',
    manifestSha256: '',
    hosts: [],
    summary: { add: 0, change: 0, destroy: 0, unreachable: 0 },
    ...(refused ? { datastoreRefusals: refused } : {}),
  };
}

describe('DATASTORE_NFS: the refusal plan and apply raise', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-refusal-'));
  const file = path.join(dir, 'cluster.yaml');
  fs.writeFileSync(file, YAML);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("points at each node's datastore line in the manifest", () => {
    expect(datastorePositions(file)).toEqual({ 'node-1': `${file}:9:20`, 'node-2': `${file}:11:47` });
    expect(datastorePositions(path.join(dir, 'missing.yaml'))).toEqual({});
  });

  it('names host, datastore, where and why, with the fix; no refusal, no error', () => {
    const r = {
      node: 'node-1',
      datastore: 'zbs-nfs',
      type: 'NFS',
      detail: 'node-1: datastore zbs-nfs is mounted over NFS (type NFS)',
      fix: "Set nodes[].esxi.datastore to a local VMFS datastore of this host. This host's VMFS datastores: datastore1.",
    };
    let err: unknown;
    try {
      refuseNfsDatastores(plan([r]), file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RerouteError);
    expect(err).toMatchObject({
      code: 'DATASTORE_NFS',
      exitCode: 1,
      fix: r.fix,
      message: expect.stringContaining(`${file}:9:20: node-1: datastore zbs-nfs is mounted over NFS`),
    });
    expect((err as RerouteError).message).toContain('nothing was changed');
    expect(() => refuseNfsDatastores(plan(undefined), file)).not.toThrow();
  });
});
