import type { Manifest, NodeSpec } from '../manifest/manifest-types';

/**
 * What a host pings to verify an apply (issue 14). Pinging every SCVM address from every host
 * at once (16 × 32 = 512 pings and subshells on a 16-node lab) made fork delay look like a
 * broken path. What decides whether this host's IO works is its local SCVM and where
 * 192.168.33.2 is routed now; peers are where IO would go on a failover, so a few of them are
 * sampled, and one that does not answer is a warning, not a failed apply.
 */
export interface PingTargets {
  /** The local SCVM's addresses and the current 33.2 gateway: one that does not answer fails the host. */
  decisive: string[];
  /** Sampled peers, by the address the agent would route through. */
  peers: { node: string; ip: string }[];
}

/** Peers each host pings: with the ring below, every SCVM of a cluster of more than 2 nodes is pinged by 2 hosts. */
export const PEER_SAMPLE = 2;

/** The gateway the agent routes an SCVM through: its access IP (RDMA) when it has one, else its storage IP. */
export function scvmGateway(node: NodeSpec): string {
  return node.scvm.accessIp ?? node.scvm.storageIp;
}

/** A node's own SCVM addresses (storage, management, access). */
export function localScvmIps(node: NodeSpec): string[] {
  return [...new Set([node.scvm.storageIp, node.scvm.managementIp, ...(node.scvm.accessIp === undefined ? [] : [node.scvm.accessIp])])];
}

/**
 * The `count` nodes after `node` in manifest order, wrapping around: deterministic (the same
 * host pings the same peers on every run, so a warning is reproducible) and spread (each SCVM
 * is sampled by the `count` hosts before it, not all by the first host).
 */
export function samplePeers(manifest: Manifest, node: string, count = PEER_SAMPLE): NodeSpec[] {
  const i = manifest.nodes.findIndex((n) => n.name === node);
  if (i < 0) return [];
  const n = manifest.nodes.length;
  const out: NodeSpec[] = [];
  for (let k = 1; k < n && out.length < count; k++) out.push(manifest.nodes[(i + k) % n] as NodeSpec);
  return out;
}

/** Addresses to ping from `node`, whose 33.2 route goes via `gateway` now (undefined: no route). */
export function pingTargets(manifest: Manifest, node: NodeSpec, gateway: string | undefined): PingTargets {
  const decisive = localScvmIps(node);
  if (gateway !== undefined && !decisive.includes(gateway)) decisive.push(gateway);
  const peers = samplePeers(manifest, node.name)
    .map((p) => ({ node: p.name, ip: scvmGateway(p) }))
    .filter((p) => !decisive.includes(p.ip));
  return { decisive, peers };
}

/** The node whose SCVM has `ip`, for naming an unreachable address. */
export function ownerOf(manifest: Manifest, ip: string): string | undefined {
  return manifest.nodes.find((n) => localScvmIps(n).includes(ip))?.name;
}
