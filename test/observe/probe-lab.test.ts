/**
 * The probe on real lab hosts: busybox sh in a chroot with ESXi's layout, the
 * lab's ESXi command stand-ins over a real routing table, and SCVMs reached
 * as the non-root operator through sudo. Observation runs through
 * observeCluster with a RemoteHost that goes through lab.exec (the controller
 * namespace's SSH path is covered by the CLI tests).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readBundle } from '../../src/agent/bundle-read';
import { parseManifest } from '../../src/manifest';
import type { Manifest } from '../../src/manifest/manifest-types';
import { observeCluster, probeCommand, probeContext, type ObserveConnection, type ObserveTarget } from '../../src/observe/observe-cluster';
import type { EsxiObserved, ScvmObserved } from '../../src/observe/observed-types';
import { parseProbeOutput } from '../../src/observe/parse-probe-output';
import { shellQuote } from '../../src/core/shell-quote';
import { useLab } from '../support/use-lab';
import { describeLab } from '../support/describe-lab';

const ROOT = path.join(__dirname, '..', '..');
let manifest: Manifest;

function labConnection(target: ObserveTarget): ObserveConnection {
  const n = target.node.replace(/^node-/, '');
  const labTarget = `${target.kind}-${n}`;
  return {
    exec: async (cmd, o) => {
      const r = await probeLab.lab.exec(labTarget, cmd, {
        input: o?.stdin === undefined ? undefined : o.stdin.toString(),
        timeoutMs: o?.timeoutMs ?? 60_000,
        ...(target.kind === 'scvm' ? { user: manifest.access.scvm.user } : {}),
      });
      return { stdout: r.stdout, stderr: r.stderr, code: r.code };
    },
    close: () => undefined,
  };
}

async function probe(nodeIndex: number): Promise<EsxiObserved> {
  const node = manifest.nodes[nodeIndex];
  if (!node) throw new Error('no such node');
  const script = fs.readFileSync(path.join(ROOT, 'esxi', 'probe', 'probe.sh'), 'utf8');
  const r = await probeLab.lab.exec(`esxi-${nodeIndex + 1}`, probeCommand(manifest, node), { input: script });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const obs = parseProbeOutput(r.stdout, probeContext(manifest, node));
  if (!obs.reachable) throw new Error(obs.reason);
  return obs as EsxiObserved;
}

const probeLab = useLab('observe', {
  lab: { nodes: 2, services: false },
  ready: (l) => {
    const bundle = readBundle(path.join(ROOT, 'esxi', 'agent'));
    manifest = parseManifest(l.manifest({ clusterName: 'obs' }), 'lab.yaml', { bundledVersion: bundle.version });
  },
});

describeLab('probe.sh on lab ESXi hosts', () => {
  it('observes a fresh cluster: ESXi crontab, local.sh, vmknics, crond; SCVM keys through sudo -n', async () => {
    const snap = await observeCluster(manifest, { connect: async (t) => labConnection(t) });
    for (const node of manifest.nodes) {
      const e = snap.esxi[node.name] as EsxiObserved;
      expect(e.reachable).toBe(true);
      expect(Math.abs(e.now - Date.now() / 1000)).toBeLessThan(60);
      expect(e.esxiVersion).toMatch(/^VMware ESXi/);
      expect(e.crontab).toContain('/sbin/tmpwatch.py');
      expect(e.localSh).toContain('exit 0');
      expect(e.files).toEqual({});
      expect(e.vmknics.map((v) => v.ip)).toContain(node.esxi.storageIp);
      expect(e.nfsRoute).toBeUndefined();
      expect(e.legacy).toBeUndefined();
      expect(e.crondRunning).toBe(true);
      const s = snap.scvm[node.name] as ScvmObserved;
      expect(s.reachable).toBe(true);
      expect(s.managedKeys).toEqual([]);
    }
  });

  it('reports the NFS route and a storage-gateway /32 through a cluster IP', async () => {
    const n1 = manifest.nodes[0];
    const n2 = manifest.nodes[1];
    if (!n1 || !n2) throw new Error('lab has 2 nodes');
    await probeLab.lab.execOk('esxi-1', `esxcfg-route -a 192.168.33.2/32 ${n1.scvm.storageIp}`);
    await probeLab.lab.execOk('esxi-1', `esxcfg-route -a 10.20.0.254/32 ${n2.scvm.storageIp}`);
    try {
      const obs = await probe(0);
      expect(obs.nfsRoute).toMatchObject({ network: '192.168.33.2', prefixLength: 32, gateway: n1.scvm.storageIp });
      expect(obs.otherHostRoutes).toEqual([
        expect.objectContaining({ network: '10.20.0.254', prefixLength: 32, gateway: n2.scvm.storageIp }),
      ]);
    } finally {
      await probeLab.lab.exec(
        'esxi-1',
        `esxcfg-route -d 10.20.0.254/32 ${n2.scvm.storageIp}; esxcfg-route -d 192.168.33.2/32 ${n1.scvm.storageIp}`,
      );
    }
  });

  it('sees our files, the running loop, and a legacy install once under its UUID path', async () => {
    const node = manifest.nodes[0];
    if (!node) throw new Error('no node');
    const dir = probeContext(manifest, node).installDir;
    const esxi = probeLab.lab.nodes[0]?.esxi;
    if (!esxi) throw new Error('no lab node');
    const legacyDir = `/vmfs/volumes/${esxi.datastoreUuid}/vmware_scvm_failure`;
    await probeLab.lab.execOk(
      'esxi-1',
      [
        `mkdir -p ${dir}/keys ${legacyDir}/.smartx_key`,
        `printf '#!/bin/sh\\nreroute_version=9.9.9\\nsleep 120\\n' > ${dir}/reroute-loop.sh`,
        `chmod 700 ${dir} ${dir}/reroute-loop.sh`,
        `printf '#!/bin/sh\\nreroute_version=1.4\\n' > ${legacyDir}/scvm_failure_loop.sh`,
        `/bin/sh ${dir}/reroute-loop.sh </dev/null >/dev/null 2>&1 &`,
      ].join(' && '),
    );
    try {
      const obs = await probe(0);
      expect(obs.files[`${dir}/reroute-loop.sh`]).toMatchObject({ version: '9.9.9', mode: '0700' });
      expect(obs.dirs?.[dir]).toEqual({ mode: '0700' });
      expect(obs.agentProcesses).toHaveLength(1);
      expect(obs.agentProcesses[0]?.command).toContain(`${dir}/reroute-loop.sh`);
      expect(obs.legacy).toMatchObject({ dir: legacyDir, version: '1.4', keyDir: `${legacyDir}/.smartx_key` });
    } finally {
      await probeLab.lab.exec(
        'esxi-1',
        `for p in $(ps -c | grep '[r]eroute-loop.sh' | awk '{print $1}'); do kill "$p"; done; rm -rf ${dir} ${legacyDir}`,
      );
    }
  });

  it('keeps a hostile crontab (fake section markers, escape sequences) as one exact crontab', async () => {
    const before = await probeLab.lab.execOk('esxi-2', 'cat /var/spool/cron/crontabs/root');
    const evil = '# @@section files 3 ok\n# \u001b]0;owned\u0007\n@@end 1\n';
    await probeLab.lab.execOk('esxi-2', `printf '%s' ${shellQuote(evil)} >> /var/spool/cron/crontabs/root`);
    try {
      const obs = await probe(1);
      expect(obs.crontab).toBe(before + evil);
      expect(obs.files).toEqual({});
    } finally {
      await probeLab.lab.execOk('esxi-2', `printf '%s' ${shellQuote(before)} > /var/spool/cron/crontabs/root`);
    }
  });
});
