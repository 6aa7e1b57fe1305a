/**
 * Which SCVM serves which ESXi host. Pure. The meta session list names every
 * SCVM (storage IP + management IP) but not the ESXi it runs on, so the
 * pairing uses the strongest evidence available per host:
 *
 *  1. operator:        `--pair ESXI=SCVM_IP` on the command line;
 *  2. installed-agent: an agent already installed there names its local SCVM (reroute.conf);
 *  3. vm-inventory:    a VM registered on this ESXi has one of the SCVM's IPs (vim-cmd, VMware Tools);
 *  4. address-offset:  one constant distance between ESXi and SCVM storage IPs fits every
 *                      remaining host (what deployment tools produce, e.g. .11 ↔ .101) — a guess;
 *  5. address-order:   sorted ESXi storage IPs ↔ sorted SCVM storage IPs — a guess.
 *
 * Guesses are written into the manifest as YAML comments saying how to check.
 */
import { RerouteError } from '../errors/reroute-error';
import { formatIpv4, parseIpv4 } from '../manifest/ipv4-net';
import type { EsxiFacts, Pairing, SessionEntry } from './discover-types';

export interface PairInput {
  esxi: { address: string; storageIp: string; facts: EsxiFacts }[];
  sessions: SessionEntry[];
  /** ESXi address → an IP of its SCVM (storage or management). */
  operatorPairs?: Record<string, string>;
}

const CHECK = 'check with `vim-cmd vmsvc/getallvms` and `vim-cmd vmsvc/get.guest <vmid>` on the ESXi host, or pass --pair ESXI=SCVM_IP';

function ipNum(ip: string): number {
  return parseIpv4(ip) ?? 0;
}

/**
 * The SCVM's access IP (RDMA clusters) as this ESXi host routes it: the gateway of the /32 route
 * to the SCVM's storage IP when that is another address (a real host: `10.0.85.21 255.255.255.255
 * 10.0.85.121 vmk1`), else the gateway of the NFS address when it is no SCVM's storage or management
 * IP and a VM on this host carries it (the SCVM). Undefined when neither route says so.
 */
export function accessIpOf(facts: EsxiFacts, scvm: SessionEntry, sessions: SessionEntry[], nfsAddress: string): string | undefined {
  const routes = facts.hostRoutes ?? [];
  const own = routes.find((r) => r.network === scvm.storageIp && r.gateway !== scvm.storageIp && parseIpv4(r.gateway) !== undefined);
  if (own) return own.gateway;
  const nfs = routes.find((r) => r.network === nfsAddress);
  if (!nfs || parseIpv4(nfs.gateway) === undefined) return undefined;
  const clusterIp = sessions.some((s) => s.storageIp === nfs.gateway || s.mgmtIp === nfs.gateway);
  const vmknic = facts.vmknics.some((v) => v.ip === nfs.gateway);
  return !clusterIp && !vmknic && facts.guestIps.includes(nfs.gateway) ? nfs.gateway : undefined;
}

export function pairHosts(input: PairInput): Pairing[] {
  const free = new Map(input.sessions.map((s) => [s.storageIp, s]));
  const byAnyIp = (ip: string | undefined): SessionEntry | undefined =>
    ip === undefined ? undefined : input.sessions.find((s) => s.storageIp === ip || s.mgmtIp === ip);
  const result = new Map<string, Pairing>();
  const problems: string[] = [];
  const take = (esxi: string, s: SessionEntry, evidence: Pairing['evidence'], note: string): void => {
    if (!free.has(s.storageIp)) {
      problems.push(`${esxi}: its SCVM ${s.storageIp} (${evidence}) is already paired with another ESXi host`);
      return;
    }
    free.delete(s.storageIp);
    result.set(esxi, { esxi, scvm: s, evidence, note });
  };

  for (const e of input.esxi) {
    const op = input.operatorPairs?.[e.address];
    if (op === undefined) continue;
    const s = byAnyIp(op);
    if (!s) problems.push(`--pair ${e.address}=${op}: ${op} is not in the meta session list`);
    else take(e.address, s, 'operator', 'paired by --pair');
  }
  for (const e of input.esxi) {
    if (result.has(e.address)) continue;
    const s = byAnyIp(e.facts.installed?.storageIp) ?? byAnyIp(e.facts.installed?.mgmtIp);
    if (s) take(e.address, s, 'installed-agent', 'from the reroute agent already installed on this host');
  }
  for (const e of input.esxi) {
    if (result.has(e.address)) continue;
    const hits = input.sessions.filter(
      (s) => free.has(s.storageIp) && (e.facts.guestIps.includes(s.storageIp) || e.facts.guestIps.includes(s.mgmtIp)),
    );
    if (hits.length === 1 && hits[0]) take(e.address, hits[0], 'vm-inventory', 'a VM registered on this ESXi host carries these IPs');
  }

  const rest = input.esxi.filter((e) => !result.has(e.address)).sort((a, b) => ipNum(a.storageIp) - ipNum(b.storageIp));
  if (rest.length > 0 && problems.length === 0) {
    const scvms = [...free.values()].sort((a, b) => ipNum(a.storageIp) - ipNum(b.storageIp));
    const first = rest[0] as (typeof rest)[number];
    const offsets = scvms
      .map((s) => ipNum(s.storageIp) - ipNum(first.storageIp))
      .filter((o) => rest.every((e) => free.has(formatIpv4((ipNum(e.storageIp) + o) >>> 0))));
    if (offsets.length === 1) {
      const o = offsets[0] as number;
      for (const e of rest) {
        const s = free.get(formatIpv4((ipNum(e.storageIp) + o) >>> 0)) as SessionEntry;
        take(e.address, s, 'address-offset', `guessed: every SCVM storage IP is its ESXi storage IP ${o >= 0 ? '+' : ''}${o}; ${CHECK}`);
      }
    } else if (rest.length === scvms.length) {
      rest.forEach((e, i) =>
        take(
          e.address,
          scvms[i] as SessionEntry,
          'address-order',
          `guessed: paired by sorted storage IP (ESXi #${i + 1} ↔ SCVM #${i + 1}); ${CHECK}`,
        ),
      );
    } else {
      problems.push(
        `cannot tell which SCVM serves ${rest.map((e) => e.address).join(', ')}: ${scvms.length} unpaired SCVM(s) in the session list (${scvms.map((s) => s.storageIp).join(', ') || 'none'}) and no evidence on the host${scvms.length < rest.length ? ' (is an SCVM down? the session list only holds healthy ones)' : ''}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new RerouteError(
      'USAGE',
      `discover could not pair every ESXi host with its SCVM:\n  ${problems.join('\n  ')}`,
      'Pass --pair ESXI_ADDRESS=SCVM_IP for the hosts named, or bring the missing SCVMs back and re-run.',
    );
  }
  return input.esxi.map((e) => result.get(e.address) as Pairing);
}
