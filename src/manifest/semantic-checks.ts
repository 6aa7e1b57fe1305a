/**
 * Rules a JSON Schema cannot express: uniqueness across nodes, addresses that
 * must (or must not) fall inside networks, references between nodes, and the
 * SCVM login rules. They run on the raw data even when the schema found
 * problems, so the operator sees everything in one pass; every accessor
 * therefore tolerates values of the wrong type and skips them (the schema
 * already reported those).
 */
import type { SourceProblem } from '../errors/reroute-error';
import {
  formatIpv4,
  isNetworkOrBroadcast,
  netContains,
  netsOverlap,
  parseCidr,
  parseIpv4,
  reservedKind,
  hasHostBits,
  type Ipv4Net,
} from './ipv4-net';
import { DEFAULT_FALLBACK_ORDER, DEFAULT_NFS_ADDRESS } from './apply-defaults';
import { pathLabel, problemAt, type ProblemContext } from './problem';
import type { DataPath } from './yaml-positions';
import { zoneProblems } from './zone-checks';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** The private host-only network every SCVM answers the NFS address on. */
const SEED_NFS_NET = parseCidr('192.168.33.0/24')!;

type IpRole = 'esxi-management' | 'esxi-storage' | 'scvm-management' | 'scvm-storage' | 'scvm-access';
interface NodeIp {
  node: number;
  role: IpRole;
  text: string;
  ip: number;
  path: DataPath;
}

const ROLE_LABEL: Record<IpRole, string> = {
  'esxi-management': 'ESXi management address',
  'esxi-storage': 'ESXi storage IP',
  'scvm-management': 'SCVM management IP',
  'scvm-storage': 'SCVM storage IP',
  'scvm-access': 'SCVM access IP',
};

export function semanticProblems(data: unknown, ctx: ProblemContext): SourceProblem[] {
  const out: SourceProblem[] = [];
  const add = (path: DataPath, rule: string, message: string, fix: string): void => {
    out.push(problemAt(ctx, path, rule, message, fix));
  };
  const lineOf = (path: DataPath): number => ctx.locate.at(path).line;

  const spec = obj(obj(data)?.spec);
  if (!spec) return out;
  const nodes = Array.isArray(spec.nodes) ? spec.nodes.map(obj) : [];

  // --- node names -------------------------------------------------------
  const nameAt = new Map<string, number>();
  nodes.forEach((node, i) => {
    const name = str(node?.name);
    if (name === undefined) return;
    const first = nameAt.get(name);
    if (first === undefined) nameAt.set(name, i);
    else
      add(
        ['spec', 'nodes', i, 'name'],
        'semantic.duplicate-node-name',
        `node name "${name}" is already used by spec.nodes[${first}] (line ${lineOf(['spec', 'nodes', first, 'name'])})`,
        'Give every node a unique name.',
      );
  });

  // --- addresses --------------------------------------------------------
  const nfsPath: DataPath = ['spec', 'nfsAddress'];
  const nfsText = spec.nfsAddress === undefined ? DEFAULT_NFS_ADDRESS : str(spec.nfsAddress);
  const nfs = parseIpv4(nfsText);
  if (nfs !== undefined && spec.nfsAddress !== undefined) {
    const reserved = reservedKind(nfs);
    if (reserved)
      add(
        nfsPath,
        'semantic.ip-reserved',
        `spec.nfsAddress ${nfsText} is ${reserved}`,
        'Use the NFS address the SCVMs export on their private network (normally 192.168.33.2).',
      );
  }
  const nfsNets: Ipv4Net[] = [SEED_NFS_NET];
  if (nfs !== undefined) {
    const own = parseCidr(`${formatIpv4(nfs)}/24`)!;
    if (!netsOverlap(own, SEED_NFS_NET)) nfsNets.push(own);
  }

  const networks = obj(spec.networks);
  const storageNet = parseCidr(networks?.storage);
  const mgmtNet = parseCidr(networks?.management);
  for (const [key, net] of [
    ['storage', storageNet],
    ['management', mgmtNet],
  ] as const) {
    if (!net) continue;
    const path: DataPath = ['spec', 'networks', key];
    if (hasHostBits(net.text)) {
      add(
        path,
        'semantic.cidr-host-bits',
        `spec.networks.${key} ${net.text} has host bits set`,
        `Write the network address: ${formatIpv4(net.base)}/${net.prefix}.`,
      );
    }
    const clash = nfsNets.find((n) => netsOverlap(n, net));
    if (clash) {
      add(
        path,
        'semantic.network-overlaps-nfs',
        `spec.networks.${key} ${net.text} overlaps the private NFS network ${formatIpv4(clash.base)}/24`,
        'The NFS network exists only inside each host; give the cluster network its real, routed range.',
      );
    }
  }
  if (storageNet && mgmtNet && storageNet.base === mgmtNet.base && storageNet.prefix === mgmtNet.prefix) {
    add(
      ['spec', 'networks', 'management'],
      'semantic.networks-identical',
      `spec.networks.management is the same network as spec.networks.storage (${storageNet.text})`,
      'Give the real management network, or remove `management:` if there is none.',
    );
  }

  const nodeIps: NodeIp[] = [];
  nodes.forEach((node, i) => {
    const esxi = obj(node?.esxi);
    const scvm = obj(node?.scvm);
    const take = (role: IpRole, holder: Obj | undefined, part: 'esxi' | 'scvm', key: string): void => {
      const text = str(holder?.[key]);
      const ip = parseIpv4(text);
      if (text !== undefined && ip !== undefined) nodeIps.push({ node: i, role, text, ip, path: ['spec', 'nodes', i, part, key] });
    };
    take('esxi-management', esxi, 'esxi', 'address');
    take('esxi-storage', esxi, 'esxi', 'storageIp');
    take('scvm-management', scvm, 'scvm', 'managementIp');
    take('scvm-storage', scvm, 'scvm', 'storageIp');
    take('scvm-access', scvm, 'scvm', 'accessIp');
  });

  const ipAt = new Map<number, NodeIp>();
  for (const entry of nodeIps) {
    const label = pathLabel(entry.path);
    const reserved = reservedKind(entry.ip);
    if (reserved) {
      add(entry.path, 'semantic.ip-reserved', `${label} ${entry.text} is ${reserved}`, `Use the host's real ${ROLE_LABEL[entry.role]}.`);
      continue;
    }
    const first = ipAt.get(entry.ip);
    if (first) {
      add(
        entry.path,
        'semantic.duplicate-ip',
        `${label} ${entry.text} is already used by ${pathLabel(first.path)} (line ${lineOf(first.path)})`,
        'Every ESXi and SCVM address must be unique across the cluster; check for a copy-paste slip.',
      );
    } else {
      ipAt.set(entry.ip, entry);
    }
    if (nfs !== undefined && entry.ip === nfs) {
      add(
        entry.path,
        'semantic.ip-is-nfs-address',
        `${label} ${entry.text} is the NFS address (spec.nfsAddress)`,
        `The NFS address is what the agent routes; give the ${ROLE_LABEL[entry.role]} from the cluster network instead.`,
      );
    } else if (nfsNets.some((n) => netContains(n, entry.ip))) {
      add(
        entry.path,
        'semantic.ip-in-nfs-network',
        `${label} ${entry.text} is inside the private NFS network ${formatIpv4(nfsNets.find((n) => netContains(n, entry.ip))!.base)}/24`,
        `That network exists only inside each host; give the ${ROLE_LABEL[entry.role]} from the cluster network.`,
      );
    }
    // An access IP (RDMA) is where the ESXi routes the SCVM through; no network is required of it.
    if (entry.role === 'scvm-access') continue;
    const isStorage = entry.role === 'esxi-storage' || entry.role === 'scvm-storage';
    const net = isStorage ? storageNet : mgmtNet;
    const netKey = isStorage ? 'storage' : 'management';
    if (net && !netContains(net, entry.ip)) {
      add(
        entry.path,
        `semantic.ip-outside-${netKey}-network`,
        `${label} ${entry.text} (${ROLE_LABEL[entry.role]}) is outside spec.networks.${netKey} ${net.text}`,
        `Use an address inside ${net.text}, or correct spec.networks.${netKey}.`,
      );
    } else if (net && isNetworkOrBroadcast(net, entry.ip)) {
      add(
        entry.path,
        'semantic.ip-not-host',
        `${label} ${entry.text} is the network or broadcast address of ${net.text}`,
        `Use a host address inside ${net.text}.`,
      );
    }
  }

  // --- storage gateways -------------------------------------------------
  nodes.forEach((node, i) => {
    const text = str(node?.storageGateway);
    const ip = parseIpv4(text);
    if (text === undefined || ip === undefined) return;
    const path: DataPath = ['spec', 'nodes', i, 'storageGateway'];
    const label = pathLabel(path);
    const owner = ipAt.get(ip);
    // The RDMA /32 gateway of a node is its own SCVM's access IP: the same route, named twice.
    if (owner?.role === 'scvm-access' && owner.node === i) return;
    if (owner) {
      add(
        path,
        'semantic.gateway-is-node-ip',
        `${label} ${text} is ${pathLabel(owner.path)} (line ${lineOf(owner.path)}), not a gateway`,
        'Give the storage network gateway (the router the RDMA /32 route points at).',
      );
    } else if (nfs !== undefined && ip === nfs) {
      add(path, 'semantic.ip-is-nfs-address', `${label} ${text} is the NFS address (spec.nfsAddress)`, 'Give the storage network gateway.');
    } else if (storageNet && !netContains(storageNet, ip)) {
      add(
        path,
        'semantic.gateway-outside-storage-network',
        `${label} ${text} is outside spec.networks.storage ${storageNet.text}`,
        `A storage gateway must be reachable on the storage network: use an address inside ${storageNet.text}.`,
      );
    }
  });

  // --- drains -----------------------------------------------------------
  nodes.forEach((node, i) => {
    const drain = obj(node?.drain);
    if (!drain) return;
    const path: DataPath = ['spec', 'nodes', i, 'drain', 'to'];
    const self = str(node?.name);
    const to = str(drain.to);
    if (nodes.length < 2) {
      add(
        ['spec', 'nodes', i, 'drain'],
        'semantic.drain-no-peer',
        `${pathLabel(['spec', 'nodes', i])} asks for a drain but the cluster has no other node to take its IO`,
        'Remove `drain:` (a single-node cluster cannot move its IO anywhere).',
      );
      return;
    }
    if (to === undefined) return;
    if (to === self) {
      add(path, 'semantic.drain-to-self', `node "${to}" cannot drain to itself`, 'Name another node in `drain.to`, or remove `drain:`.');
    } else if (!nameAt.has(to)) {
      add(
        path,
        'semantic.drain-unknown-node',
        `drain.to names "${to}", which is not a node in spec.nodes`,
        `Use one of: ${[...nameAt.keys()].filter((n) => n !== self).join(', ')}.`,
      );
    } else if (obj(nodes[nameAt.get(to)!]?.drain)) {
      add(
        path,
        'semantic.drain-target-drained',
        `drain.to names "${to}", which is itself being drained`,
        'Drain to a node that keeps serving IO.',
      );
    }
  });
  if (nodes.length >= 2 && nodes.every((n) => obj(n?.drain))) {
    add(
      ['spec', 'nodes'],
      'semantic.drain-all',
      'every node is drained; no SCVM would serve IO',
      'Drain at most the nodes under maintenance, and keep the others serving.',
    );
  }

  // --- zones (stretched clusters) ----------------------------------------
  out.push(...zoneProblems(nodes, ctx));

  // --- access -----------------------------------------------------------
  const access = obj(spec.access);
  const scvm = obj(access?.scvm);
  if (str(scvm?.user) === 'root') {
    add(
      ['spec', 'access', 'scvm', 'user'],
      'semantic.scvm-root-user',
      'spec.access.scvm.user is root, but root ssh login is forbidden on SMTX OS SCVMs',
      'Use the non-root operator user (e.g. smartx) with `sudo: true`.',
    );
  }
  if (scvm?.sudo === false) {
    add(
      ['spec', 'access', 'scvm', 'sudo'],
      'semantic.scvm-sudo-required',
      "spec.access.scvm.sudo is false, but registering the ESXi client IPs in the SCVM's ZBS session needs sudo",
      'Set `sudo: true` (or remove the line) and give the user passwordless sudo.',
    );
  }
  const ssh = obj(access?.ssh);
  const hostTimeout = int(ssh?.hostTimeoutSeconds) ?? 300;
  for (const key of ['connectTimeoutSeconds', 'commandTimeoutSeconds'] as const) {
    const v = int(ssh?.[key]);
    if (v !== undefined && v > hostTimeout) {
      add(
        ['spec', 'access', 'ssh', key],
        'semantic.ssh-timeouts',
        `spec.access.ssh.${key} ${v} is longer than hostTimeoutSeconds ${hostTimeout}`,
        'hostTimeoutSeconds bounds all work on one host: make it at least as long as each single step.',
      );
    }
  }

  // --- routing ----------------------------------------------------------
  const routing = obj(spec.routing);
  const order = Array.isArray(routing?.fallbackOrder) ? (routing.fallbackOrder as unknown[]) : undefined;
  if (order) {
    const seen = new Set<unknown>();
    order.forEach((tier, i) => {
      if (seen.has(tier))
        add(
          ['spec', 'routing', 'fallbackOrder', i],
          'semantic.fallback-duplicate',
          `fallback tier ${String(tier)} is listed twice`,
          `List each tier once, e.g. [${DEFAULT_FALLBACK_ORDER.join(', ')}].`,
        );
      seen.add(tier);
    });
    if (order.length > 0 && order[0] !== 'local-storage') {
      add(
        ['spec', 'routing', 'fallbackOrder', 0],
        'semantic.fallback-local-first',
        `fallbackOrder starts with ${String(order[0])}; the local SCVM's storage IP must always be tried first`,
        `Start the list with local-storage, e.g. [${DEFAULT_FALLBACK_ORDER.join(', ')}].`,
      );
    }
  }
  const interval = int(routing?.intervalSeconds) ?? 3;
  const ping = int(routing?.pingTimeoutSeconds);
  if (ping !== undefined && ping > interval) {
    add(
      ['spec', 'routing', 'pingTimeoutSeconds'],
      'semantic.ping-timeout-exceeds-interval',
      `pingTimeoutSeconds ${ping} is longer than intervalSeconds ${interval}`,
      'A check must finish within one interval: lower pingTimeoutSeconds or raise intervalSeconds.',
    );
  }

  return out;
}
