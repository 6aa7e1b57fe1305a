/**
 * The files on an ESXi host that name its peers (issue 13: a join must reach every peer), and
 * what each would hash to without one peer: how it looked before that peer joined. Observation
 * reports files by hash, not content, so this is how `plan --target` can say "node-1: peer list
 * gains node-3" and `status` can say "peer list lacks node-3" without reading the files. Pure.
 */
import { createHash } from 'node:crypto';
import { AGENT_CONF_FILE, KNOWN_HOSTS_FILE } from '../agent/bundle-layout';
import { renderAgentConf } from '../agent/agent-conf';
import type { Manifest } from '../manifest/manifest-types';

export type PeerFileKind = 'conf' | 'known_hosts';

/** One peer-naming file of one ESXi host. */
export interface PeerFile {
  path: string;
  kind: PeerFileKind;
  /** The file as the manifest wants it. */
  sha256: string;
  /** Peer node → sha256 of this file as rendered without that peer (absent when the peer is not named in it). */
  withoutPeer: Record<string, string>;
}

/** A node's addresses as its peers see them. */
export interface PeerNode {
  node: string;
  /** SCVM storage, management (and access) IPs: in every other host's conf, known_hosts and firewall allow-list. */
  scvmIps: string[];
  /** ESXi management and storage IPs: in every SCVM's key entry `from=`. */
  esxiIps: string[];
}

export interface PeerView {
  nodes: PeerNode[];
  /** ESXi node → its peer-naming files. */
  files: Record<string, PeerFile[]>;
}

function sha(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** known_hosts lines carry the host field `mgmt,storage` (src/desired/known-hosts.ts): drop one SCVM's. */
function knownHostsWithout(text: string, mgmt: string, storage: string): string {
  const field = `${mgmt},${storage}`;
  return text
    .split(/(?<=\n)/)
    .filter((l) => l.split(' ')[0] !== field)
    .join('');
}

/**
 * Conf variants depend on the manifest alone and cost O(nodes²) renders: computed once per manifest
 * object (watch re-renders the desired state every period from the same one).
 */
const confVariants = new WeakMap<Manifest, Map<string, Record<string, string>>>();

function confWithoutPeers(manifest: Manifest, nodeName: string): Record<string, string> {
  let byNode = confVariants.get(manifest);
  if (byNode === undefined) {
    byNode = new Map();
    confVariants.set(manifest, byNode);
  }
  const cached = byNode.get(nodeName);
  if (cached !== undefined) return cached;
  const node = manifest.nodes.find((n) => n.name === nodeName);
  const out: Record<string, string> = {};
  if (node !== undefined) {
    for (const p of manifest.nodes)
      if (p.name !== nodeName)
        out[p.name] = sha(renderAgentConf({ ...manifest, nodes: manifest.nodes.filter((n) => n.name !== p.name) }, node));
  }
  byNode.set(nodeName, out);
  return out;
}

/**
 * `files` is each ESXi node's desired files (path + content), as desiredCluster renders them; a
 * file missing there (no known_hosts when nothing logs in by ssh) is simply not a peer file.
 */
export function peerView(manifest: Manifest, files: Record<string, Array<{ path: string; content?: string }>>): PeerView {
  const nodes: PeerNode[] = manifest.nodes.map((n) => ({
    node: n.name,
    scvmIps: [n.scvm.storageIp, n.scvm.managementIp, ...(n.scvm.accessIp === undefined ? [] : [n.scvm.accessIp])],
    esxiIps: [n.esxi.address, n.esxi.storageIp],
  }));
  const out: Record<string, PeerFile[]> = {};
  // Every host's known_hosts is the same text: its variants are computed once.
  const khVariants = new Map<string, Record<string, string>>();
  for (const node of manifest.nodes) {
    const peers = manifest.nodes.filter((p) => p.name !== node.name);
    const mine = files[node.name] ?? [];
    const list: PeerFile[] = [];
    const conf = mine.find((f) => f.path.endsWith(`/${AGENT_CONF_FILE}`));
    if (conf?.content !== undefined)
      list.push({ path: conf.path, kind: 'conf', sha256: sha(conf.content), withoutPeer: { ...confWithoutPeers(manifest, node.name) } });
    const kh = mine.find((f) => f.path.endsWith(`/${KNOWN_HOSTS_FILE}`));
    if (kh?.content !== undefined) {
      let all = khVariants.get(kh.content);
      if (all === undefined) {
        all = {};
        for (const p of manifest.nodes) {
          const text = knownHostsWithout(kh.content, p.scvm.managementIp, p.scvm.storageIp);
          if (text !== kh.content) all[p.name] = sha(text);
        }
        khVariants.set(kh.content, all);
      }
      const withoutPeer = Object.fromEntries(Object.entries(all).filter(([p]) => peers.some((x) => x.name === p)));
      list.push({ path: kh.path, kind: 'known_hosts', sha256: sha(kh.content), withoutPeer });
    }
    out[node.name] = list;
  }
  return { nodes, files: out };
}

/**
 * Why an observed peer file differs from the wanted one, from hashes: `lacks` names the one peer
 * whose absence explains it exactly; otherwise the difference is something else (another peer
 * set, changed addresses or settings) and `lacks` is undefined.
 */
export function peerFileDrift(f: PeerFile, observedSha256: string | undefined): { differs: boolean; missing: boolean; lacks?: string } {
  if (observedSha256 === undefined) return { differs: true, missing: true };
  if (observedSha256 === f.sha256) return { differs: false, missing: false };
  const lacks = Object.entries(f.withoutPeer).find(([, s]) => s === observedSha256)?.[0];
  return lacks === undefined ? { differs: true, missing: false } : { differs: true, missing: false, lacks };
}
