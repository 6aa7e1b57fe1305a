import { createHash } from 'node:crypto';
import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import { RerouteError } from '../errors/reroute-error';
import {
  AGENT_CONF_FILE,
  AGENT_LOOP_FILE,
  FIREWALL_PRIOR_FILE,
  KEY_DIR,
  KNOWN_HOSTS_FILE,
  PRIVATE_KEY_FILE,
  PUBLIC_KEY_FILE,
} from '../agent/bundle-layout';
import { scriptVersion } from '../agent/agent-version';
import { renderAgentConf } from '../agent/agent-conf';
import { installDirFor, renderCrontabLine, renderLocalShBlock } from '../agent/host-entries';
import { renderAuthorizedKey } from './authorized-key';
import { hostKeysOf, knownHostsLines } from './known-hosts';
import { peerView } from './peer-files';
import type { AgentBundle, ClusterKeyInfo, DesiredCluster, DesiredEsxi, DesiredFile, DesiredFirewall, DesiredScvm } from './desired-types';

export interface DesiredInputs {
  manifest: Manifest;
  bundle: AgentBundle;
  /** Needed only when the agent logs in to SCVMs (session source `ssh`); ignored otherwise. */
  key?: ClusterKeyInfo;
  /** node name → known_hosts text pinned for that node's SCVM (any host field; re-keyed here). */
  scvmHostKeys: Record<string, string>;
  /**
   * Teardown writes no scripts, so it may run with a manifest that asks for a
   * version this release does not ship. Apply must not: see versionUnavailable.
   */
  allowVersionMismatch?: boolean;
}

/** Rule id carried in the error's details when the wanted agent version is not in this release. */
import { VERSION_UNAVAILABLE_RULE } from '../manifest/manifest-parse';
export { VERSION_UNAVAILABLE_RULE };

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Stale after ten missed iterations, and never under 90 s: one iteration may ping hundreds of IPs. */
/**
 * Whether anything on the hosts uses the cluster keypair. Only the agent's ssh session source
 * does (reroute-loop.sh fetch_tool: `ssh -i SSH_KEY ... zbs-meta session list`); with `rest` the
 * agent runs wget and the keypair, known_hosts and the SCVM entry are power nobody needs.
 */
export function clusterKeyNeeded(manifest: Manifest): boolean {
  return manifest.routing.sessionSource === 'ssh';
}

/** Why the keypair is not installed, for the plan's reasons. */
export const NO_KEY_REASON =
  'not needed: session source rest (the agent reads sessions over HTTP; nothing logs in to SCVMs with the cluster key)';

export function heartbeatStaleSeconds(manifest: Manifest): number {
  return Math.max(90, 10 * manifest.routing.intervalSeconds);
}

function fileOf(path: string, mode: string, content: string, version?: string): DesiredFile {
  const f: DesiredFile = { path, mode, sha256: sha256Hex(content), content };
  if (version !== undefined) f.version = version;
  return f;
}

/**
 * The SCVM a drained node's IO goes to: the named node, or else the next node
 * in manifest order that is not drained itself (wrapping), so the choice is
 * stable across runs and never lands on another node being serviced.
 */
export function drainTarget(manifest: Manifest, node: NodeSpec): NodeSpec {
  const nodes = manifest.nodes;
  if (node.drain?.to !== undefined) {
    const to = nodes.find((n) => n.name === node.drain?.to);
    if (to === undefined || to.name === node.name) {
      throw new RerouteError(
        'MANIFEST_INVALID',
        `Node ${node.name}: drain.to "${node.drain.to}" is not another node of this cluster`,
        `Set drain.to of ${node.name} to the name of another node, or remove it to let zbs-reroute pick one.`,
      );
    }
    return to;
  }
  const i = nodes.findIndex((n) => n.name === node.name);
  const others = [...nodes.slice(i + 1), ...nodes.slice(0, i)];
  const pick = others.find((n) => n.drain === undefined) ?? others[0];
  if (pick === undefined) {
    throw new RerouteError(
      'MANIFEST_INVALID',
      `Node ${node.name} cannot be drained: the cluster has no other node`,
      `Remove drain from ${node.name}; a one-node cluster has nowhere to send its IO.`,
    );
  }
  return pick;
}

/** ESXi's httpClient ruleset opens outgoing TCP 80 and 443 only (vSphere Security, "ESXi firewall"). */
const HTTP_CLIENT_PORTS = [80, 443];

/**
 * The firewall ruleset the agent's session source needs, open to the SCVM addresses it
 * talks to: every SCVM's storage and management IP (and access IP where the manifest has one).
 */
export function desiredFirewall(manifest: Manifest, recordPath: string): DesiredFirewall {
  const ruleset = manifest.routing.sessionSource === 'ssh' ? 'sshClient' : 'httpClient';
  const accessIp = (n: NodeSpec) => (n.scvm as { accessIp?: string }).accessIp;
  const allowedIps = unique(
    manifest.nodes.flatMap((n) => [n.scvm.storageIp, n.scvm.managementIp, ...(accessIp(n) === undefined ? [] : [accessIp(n) as string])]),
  );
  return { ruleset, allowedIps, recordPath };
}

/**
 * What every host should look like. Pure: the manifest, the shipped agent
 * bundle, the cluster key's public half (+ hash of the private half) and the
 * pinned SCVM host keys in; data out. The private key never appears, only its
 * hash and a contentRef that apply resolves from the state folder.
 */
export function desiredCluster(inputs: DesiredInputs): DesiredCluster {
  const { manifest, bundle, key } = inputs;
  const loop = bundle.files[AGENT_LOOP_FILE];
  if (loop === undefined) {
    throw new RerouteError(
      'INTERNAL',
      `The agent bundle has no ${AGENT_LOOP_FILE}`,
      'Run zbs-reroute from a complete checkout or release (esxi/agent/ must be present).',
    );
  }
  const loopVersion = scriptVersion(loop) ?? bundle.version;
  if (manifest.version !== bundle.version && inputs.allowVersionMismatch !== true) {
    // The bundle is the only source of agent scripts: a release cannot install a version it does not carry.
    throw new RerouteError(
      'MANIFEST_INVALID',
      `${manifest.source}: the manifest wants reroute agent ${manifest.version}, but this zbs-reroute release ships ${bundle.version} only`,
      `Remove \`version\` from the manifest (or set it to ${bundle.version}) to install the shipped agent, or run the zbs-reroute release that ships ${manifest.version}.`,
      { details: { rule: VERSION_UNAVAILABLE_RULE, wanted: manifest.version, shipped: bundle.version } },
    );
  }

  const warnings: string[] = [];
  if (manifest.routing.sessionSource === 'rest' && !HTTP_CLIENT_PORTS.includes(manifest.routing.rest.port)) {
    warnings.push(
      `The REST port ${manifest.routing.rest.port} is not one ESXi's httpClient firewall ruleset opens (TCP 80, 443): the agent's session fetch stays blocked unless a custom ruleset allows it.`,
    );
  }
  const needKey = clusterKeyNeeded(manifest);
  if (needKey && key === undefined) {
    throw new RerouteError(
      'INTERNAL',
      'The ssh session source needs the cluster key, and none was given',
      'This is a bug in zbs-reroute; please report it.',
    );
  }
  const knownHosts = !needKey
    ? ''
    : manifest.nodes
        .map((n) => {
          const keys = hostKeysOf(inputs.scvmHostKeys[n.name] ?? '');
          if (keys.length === 0)
            warnings.push(
              `No pinned host key for the SCVM of ${n.name} yet: the agent cannot ssh to it until the next apply after first contact.`,
            );
          return knownHostsLines([n.scvm.managementIp, n.scvm.storageIp], keys);
        })
        .join('');

  const esxi: DesiredEsxi[] = manifest.nodes.map((node) => {
    const dir = installDirFor(manifest, node);
    const keyFiles: DesiredFile[] =
      needKey && key !== undefined
        ? [
            { path: `${dir}/${PRIVATE_KEY_FILE}`, mode: '0600', sha256: key.privateKeySha256, contentRef: 'reroute-private-key' },
            fileOf(`${dir}/${PUBLIC_KEY_FILE}`, '0644', key.publicKey.trim() + '\n'),
            fileOf(`${dir}/${KNOWN_HOSTS_FILE}`, '0644', knownHosts),
          ]
        : [];
    const files: DesiredFile[] = [
      ...keyFiles,
      fileOf(`${dir}/${AGENT_CONF_FILE}`, '0600', renderAgentConf(manifest, node)),
      fileOf(`${dir}/${AGENT_LOOP_FILE}`, '0755', loop, loopVersion),
    ];
    const d: DesiredEsxi = {
      node: node.name,
      address: node.esxi.address,
      installDir: dir,
      files,
      crontabLine: renderCrontabLine(dir),
      localShBlock: renderLocalShBlock(dir),
    };
    if (node.drain !== undefined) {
      const to = drainTarget(manifest, node);
      d.pinTarget = to.scvm.storageIp;
      d.pinTargetNode = to.name;
    }
    if (node.storageGateway !== undefined) d.storageGateway = node.storageGateway;
    d.firewall = desiredFirewall(manifest, `${dir}/${FIREWALL_PRIOR_FILE}`);
    // A private key on a datastore is readable by whoever may browse it: none where none is used.
    if (!needKey)
      d.retired = {
        files: [PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, KNOWN_HOSTS_FILE].map((f) => `${dir}/${f}`),
        dirs: [`${dir}/${KEY_DIR}`],
        reason: `cluster keypair ${NO_KEY_REASON}`,
      };
    return d;
  });

  const esxiAddresses = manifest.nodes.flatMap((n) => [n.esxi.address, n.esxi.storageIp]);
  const entry = needKey && key !== undefined ? renderAuthorizedKey(manifest.clusterName, esxiAddresses, key.publicKey) : undefined;
  // The local ESXi's NFS client source addresses (management, storage; never the shared 33.1), as SmartX's agent registered them.
  const scvm: DesiredScvm[] = manifest.nodes.map((n) => ({
    node: n.name,
    address: n.scvm.managementIp,
    ...(entry !== undefined ? { authorizedKey: entry } : { noKeyReason: NO_KEY_REASON }),
    sessionClientIps: unique([n.esxi.address, n.esxi.storageIp]),
  }));

  // RDMA clusters route 33.2 (and the SCVM storage /32) via an SCVM's access IP: a cluster gateway too.
  const clusterGateways = unique(
    manifest.nodes.flatMap((n) => [n.scvm.storageIp, n.scvm.managementIp, ...(n.scvm.accessIp === undefined ? [] : [n.scvm.accessIp])]),
  );
  const clusterAddresses = unique([
    manifest.nfsAddress,
    ...clusterGateways,
    ...esxiAddresses,
    ...manifest.nodes.flatMap((n) => (n.storageGateway === undefined ? [] : [n.storageGateway])),
  ]);

  return {
    cluster: manifest.clusterName,
    version: manifest.version,
    nfsAddress: manifest.nfsAddress,
    clusterGateways,
    clusterAddresses,
    routingMode: manifest.routing.mode,
    heartbeatStaleSeconds: heartbeatStaleSeconds(manifest),
    warnings,
    // A join must reach every peer: which files name which peer (plan --target, status).
    peerView: peerView(manifest, Object.fromEntries(esxi.map((e) => [e.node, e.files]))),
    esxi,
    scvm,
  };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
