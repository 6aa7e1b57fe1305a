/**
 * Builders for planner, desired-state and renderer tests: a manifest of n
 * nodes, a small agent bundle, and observations of a fresh, a converged and a
 * legacy ESXi host. Shared by the tests in src/plan, src/desired and src/agent.
 */
import { sha256Hex, desiredCluster } from '../../src/desired/desired-state';
import type { AgentBundle, ClusterKeyInfo, DesiredCluster, DesiredEsxi, DesiredScvm } from '../../src/desired/desired-types';
import type { Manifest, NodeSpec } from '../../src/manifest/manifest-types';
import type { EsxiObserved, ObservedCluster, ScvmObserved, Unreachable } from '../../src/observe/observed-types';

export { ESXI_CRONTAB, ESXI_LOCAL_SH } from '../../lab/esxi-stock-files';
import { ESXI_CRONTAB, ESXI_LOCAL_SH } from '../../lab/esxi-stock-files';

export function agentScript(version: string): string {
  return `#!/bin/sh\nreroute_version=${version}\n# fixture agent\n. "$(dirname "$0")/reroute.conf"\nwhile :; do sleep "$INTERVAL"; done\n`;
}

export function fixtureBundle(version = '1.0.0'): AgentBundle {
  return { version, files: { 'reroute-loop.sh': agentScript(version) } };
}

export const FIXTURE_KEY: ClusterKeyInfo = {
  publicKey: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDfixturekeyblob0123456789 reroute@state',
  privateKeySha256: sha256Hex('-----BEGIN RSA PRIVATE KEY-----\nfixture\n-----END RSA PRIVATE KEY-----\n'),
};

export function fixtureNode(i: number, extra: Partial<NodeSpec> = {}): NodeSpec {
  return {
    name: `node-${i}`,
    esxi: { address: `10.10.0.${10 + i}`, storageVmk: 'vmk1', storageIp: `10.20.0.${10 + i}`, datastore: `ds-${i}` },
    scvm: { managementIp: `10.10.0.${100 + i}`, storageIp: `10.20.0.${100 + i}` },
    ...extra,
  };
}

export function fixtureManifest(n: number, over: Partial<Manifest> = {}): Manifest {
  const nodes = Array.from({ length: n }, (_, k) => fixtureNode(k + 1));
  return {
    source: 'cluster.yaml',
    clusterName: 'prod-a',
    version: '1.0.0',
    nfsAddress: '192.168.33.2',
    networks: { storage: '10.20.0.0/24', management: '10.10.0.0/24' },
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
      scvm: { user: 'smartx', sudo: true, credential: { kind: 'agent', socketEnv: 'SSH_AUTH_SOCK' } },
      ssh: { port: 22, connectTimeoutSeconds: 10, commandTimeoutSeconds: 60, hostTimeoutSeconds: 300, keepaliveSeconds: 10 },
      parallelism: 8,
    },
    nodes,
    ...over,
  };
}

export function fixtureHostKeys(m: Manifest): Record<string, string> {
  const out: Record<string, string> = {};
  m.nodes.forEach((n, i) => {
    out[n.name] = `${n.scvm.managementIp} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIfixturehostkey${i}\n`;
  });
  return out;
}

export function fixtureDesired(m: Manifest, bundle = fixtureBundle(m.version)): DesiredCluster {
  return desiredCluster({ manifest: m, bundle, key: FIXTURE_KEY, scvmHostKeys: fixtureHostKeys(m) });
}

export const NOW = 1_800_000_000;

/** An ESXi host that has never seen zbs-reroute. */
export function freshEsxi(node: string): EsxiObserved {
  return {
    kind: 'esxi',
    node,
    reachable: true,
    now: NOW,
    files: {},
    crontab: ESXI_CRONTAB,
    localSh: ESXI_LOCAL_SH,
    otherHostRoutes: [],
    agentProcesses: [],
    crondRunning: true,
    vmknics: [],
  };
}

/** An ESXi host exactly as `d` wants it, agent alive, route on the local SCVM (as the agent left it). */
export function convergedEsxi(d: DesiredEsxi, localGateway: string): EsxiObserved {
  const files: EsxiObserved['files'] = {};
  for (const f of d.files)
    files[f.path] = {
      path: f.path,
      sha256: f.sha256,
      mode: f.mode,
      size: f.content?.length ?? 1675,
      ...(f.version ? { version: f.version } : {}),
    };
  const o: EsxiObserved = {
    ...freshEsxi(d.node),
    files,
    crontab: ESXI_CRONTAB + d.crontabLine + '\n',
    localSh: ESXI_LOCAL_SH.replace('exit 0\n', d.localShBlock + 'exit 0\n'),
    nfsRoute: { network: '192.168.33.2', prefixLength: 32, gateway: localGateway, iface: 'vmk1' },
    agentProcesses: [{ pid: 1234, command: `/bin/sh ${d.installDir}/reroute-loop.sh` }],
    heartbeat: {
      version: d.files.find((f) => f.version)?.version ?? '1.0.0',
      pid: 1234,
      target: localGateway,
      targetKind: 'local',
      since: NOW - 3600,
      updated: NOW - 2,
      fetch: 'ok',
      fetchMs: 12,
    },
  };
  if (d.pinTarget !== undefined) {
    const path = `${d.installDir}/pin`;
    o.files[path] = { path, sha256: sha256Hex(`${d.pinTarget}\n`), mode: '0600', size: d.pinTarget.length + 1 };
    o.pinTarget = d.pinTarget;
  }
  return o;
}

export function convergedScvm(d: DesiredScvm): ScvmObserved {
  return {
    kind: 'scvm',
    node: d.node,
    reachable: true,
    managedKeys: d.authorizedKey === undefined ? [] : [d.authorizedKey],
    foreignKeyCount: 2,
  };
}

export function freshScvm(node: string): ScvmObserved {
  return { kind: 'scvm', node, reachable: true, managedKeys: [], foreignKeyCount: 2 };
}

export function unreachable(kind: 'esxi' | 'scvm', node: string, reason = 'connect timeout after 10 s'): Unreachable {
  return { kind, node, reachable: false, reason };
}

export function observedCluster(esxi: ObservedCluster['esxi'], scvm: ObservedCluster['scvm']): ObservedCluster {
  return { format: 'zbs-reroute/observed-v1', takenAt: '2027-01-15T08:00:00Z', esxi, scvm };
}

/** The whole cluster converged on `desired`. */
export function convergedCluster(desired: DesiredCluster, m: Manifest): ObservedCluster {
  const esxi: ObservedCluster['esxi'] = {};
  const scvm: ObservedCluster['scvm'] = {};
  for (const d of desired.esxi) esxi[d.node] = convergedEsxi(d, m.nodes.find((n) => n.name === d.node)?.scvm.storageIp ?? '');
  for (const d of desired.scvm) scvm[d.node] = convergedScvm(d);
  return observedCluster(esxi, scvm);
}

/** A host set up by the seed tooling (zbs-deploy-manage deploy-hypervisor). */
export function legacyEsxi(node: string, gateway: string): EsxiObserved {
  const dir = '/vmfs/volumes/5f1e2d3c-aabbccdd-1122-001122334455/vmware_scvm_failure';
  const cronLine = `* * * * * /bin/sh ${dir}/scvm_failure_loop.sh &`;
  return {
    ...freshEsxi(node),
    crontab: ESXI_CRONTAB + cronLine + '\n',
    localSh: ESXI_LOCAL_SH.replace('exit 0\n', `/bin/echo '${cronLine}' >> /var/spool/cron/crontabs/root\nexit 0\n`),
    nfsRoute: { network: '192.168.33.2', prefixLength: 32, gateway, iface: 'vmk1' },
    agentProcesses: [{ pid: 777, command: `/bin/sh ${dir}/scvm_failure_loop.sh` }],
    legacy: {
      dir,
      version: '0.9.3',
      crontabLine: cronLine,
      localShLines: [`/bin/echo '${cronLine}' >> /var/spool/cron/crontabs/root`],
      keyDir: `${dir}/.smartx_key`,
    },
  };
}

export const PLAN_OPTS = { now: '2027-01-15T08:00:00Z', manifestSha256: 'f'.repeat(64) };

/** The same manifest with the agent's ssh session source: the one case that installs the cluster key. */
export function withSshSource(m: Manifest): Manifest {
  return { ...m, routing: { ...m.routing, sessionSource: 'ssh' } };
}
