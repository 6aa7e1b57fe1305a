import * as fs from 'node:fs';
import { nfsRouteChanges } from '../support/lab-io';
import { writeLabManifest } from '../support/lab-manifest';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { useLabCluster } from '../support/lab-cluster';
import { steps } from '../support/steps';
import { makeOldRelease } from '../support/old-release';

/**
 * A `--target` join after a ZBS upgrade: the peers still run the older agent, the manifest wants
 * the version this release ships. The join installs the new node at that version and only updates
 * the peers' files; verification holds each peer to the version it runs (apply did not upgrade
 * it), so the join succeeds, and status still reports the peers off version for a full apply.
 */
jest.setTimeout(600_000);

const OLD_VERSION = '0.9.0';
const cluster = useLabCluster('zjold');
const { state } = cluster;
let oldEsxiDir = '';

beforeAll(() => {
  oldEsxiDir = makeOldRelease(OLD_VERSION);
});
afterAll(() => fs.rmSync(oldEsxiDir, { recursive: true, force: true }));

const ok = (r: { code: number; stdout: string; stderr: string }) => ({
  code: r.code,
  tail: `${r.stdout.slice(-1500)}${r.stderr.slice(-500)}`,
});

describeLab('a --target join whose peers run an older agent', () => {
  const step = steps();

  step('a 2-node cluster runs the older agent', async () => {
    const m2 = writeLabManifest(cluster.lab, cluster.dir, 'cluster-2.yaml', { nodes: 2, clusterName: 'zjold', version: OLD_VERSION });
    const r = await reroute(cluster.lab, `apply -f ${m2} ${state()} --auto-approve`, { env: { ZBS_REROUTE_ESXI_DIR: oldEsxiDir } });
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
  });

  step(
    'apply --target node-3 at the new version: the join verifies, peers keep their agent and route; status names them off version',
    async () => {
      const m3 = writeLabManifest(cluster.lab, cluster.dir, 'cluster-3.yaml', { nodes: 3, clusterName: 'zjold' });
      const t = Date.now();
      const r = await reroute(cluster.lab, `apply -f ${m3} ${state()} --auto-approve --target node-3`);
      expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
      expect(r.stdout).not.toContain(`agent reports version ${OLD_VERSION}`);
      const moved = nfsRouteChanges(cluster.lab, t);
      expect({ e1: moved['esxi-1'], e2: moved['esxi-2'] }).toEqual({ e1: [], e2: [] });
      const status = await reroute(cluster.lab, `--json status -f ${m3} ${state()}`);
      const hosts = (JSON.parse(status.stdout) as { hosts: { node: string; installedVersion: string; versionOk: boolean }[] }).hosts;
      expect(hosts.map((h) => [h.node, h.installedVersion === OLD_VERSION, h.versionOk])).toEqual([
        ['node-1', true, false],
        ['node-2', true, false],
        ['node-3', false, true],
      ]);
    },
  );
});
