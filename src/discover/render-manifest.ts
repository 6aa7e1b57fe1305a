/**
 * Discovered facts → manifest YAML text, with a comment on every value that
 * was guessed. Pure. The caller validates the text with parseManifest before
 * writing it, so a discovery that cannot make a valid manifest never writes one.
 */
import { RerouteError } from '../errors/reroute-error';
import { formatIpv4, parseIpv4 } from '../manifest/ipv4-net';
import { netmaskToPrefix } from '../observe/esxi-command-output';
import type { EsxiFacts, Pairing, SessionEntry } from './discover-types';
import { VMFS_UUID } from './discover-parse';
import { accessIpOf, pairHosts } from './pair-hosts';

export type CredentialFlag = { keyFile: string } | { passwordEnv: string } | { agent: true };

export interface RenderInput {
  facts: EsxiFacts[];
  sessions: SessionEntry[];
  sessionsFrom: string;
  clusterName?: string;
  datastore?: string;
  operatorPairs?: Record<string, string>;
  nfsAddress: string;
  esxi: { user: string; credential: CredentialFlag };
  scvm: { user: string; credential: CredentialFlag; credentialGuessed: boolean };
  /** ISO time, for the header. */
  now: string;
}

const NFS_NET = '192.168.33.';

interface Vmk {
  name: string;
  ip: string;
  netmask: string;
}

function cidrOf(v: Vmk): string {
  const prefix = netmaskToPrefix(v.netmask) ?? 32;
  const ip = parseIpv4(v.ip) ?? 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `${formatIpv4((ip & mask) >>> 0)}/${prefix}`;
}

function contains(v: Vmk, ip: string): boolean {
  const prefix = netmaskToPrefix(v.netmask);
  const a = parseIpv4(v.ip);
  const b = parseIpv4(ip);
  if (prefix === undefined || a === undefined || b === undefined) return false;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

function credentialYaml(c: CredentialFlag): string {
  if ('keyFile' in c) return `{ keyFile: ${JSON.stringify(c.keyFile)} }`;
  if ('passwordEnv' in c) return `{ passwordEnv: ${c.passwordEnv} }`;
  return '{ agent: true }';
}

/** Storage vmknic: in the subnet of the SCVM storage IPs, not the management one, never on the private NFS link. */
function storageVmkOf(f: EsxiFacts, sessions: SessionEntry[]): Vmk | undefined {
  const candidates = f.vmknics.filter(
    (v) => !v.ip.startsWith(NFS_NET) && v.ip !== f.address && sessions.some((s) => contains(v, s.storageIp)),
  );
  return candidates[0];
}

interface NodeDraft {
  facts: EsxiFacts;
  storageVmk: Vmk;
  mgmtVmk?: Vmk;
  datastore: string;
  datastoreNote?: string;
}

function pickDatastore(f: EsxiFacts, wanted: string | undefined): { name: string; note?: string } {
  const names = Object.keys(f.datastores)
    .filter((n) => VMFS_UUID.test(f.datastores[n] ?? ''))
    .sort();
  if (wanted !== undefined) {
    if (!(wanted in f.datastores) && !Object.values(f.datastores).includes(wanted)) {
      throw new RerouteError(
        'USAGE',
        `${f.address}: no datastore ${wanted} under /vmfs/volumes (found: ${Object.keys(f.datastores).join(', ') || 'none'})`,
        'Give --datastore the name of a local VMFS datastore present on every host, or leave it out to let discover pick one per host.',
      );
    }
    return { name: wanted };
  }
  if (names.length === 0) {
    throw new RerouteError(
      'USAGE',
      `${f.address}: no named VMFS datastore under /vmfs/volumes`,
      'Pass --datastore NAME (a local VMFS datastore; the agent must not live on the NFS datastore it protects).',
    );
  }
  if (names.length === 1) return { name: names[0] as string };
  const name = names.includes('datastore1') ? 'datastore1' : (names[0] as string);
  return { name, note: `guessed: one of ${names.join(', ')}; use a local VMFS datastore (not one served by the SCVM)` };
}

export function renderDiscoveredManifest(input: RenderInput): { yaml: string; pairings: Pairing[]; guesses: string[] } {
  if (input.sessions.length === 0)
    throw new RerouteError(
      'USAGE',
      `the meta session list from ${input.sessionsFrom} is empty`,
      'Check that ZBS is healthy (at least one SCVM serving) and re-run.',
    );
  const drafts: NodeDraft[] = input.facts.map((f) => {
    const storageVmk = storageVmkOf(f, input.sessions);
    if (!storageVmk) {
      throw new RerouteError(
        'USAGE',
        `${f.address}: no vmknic in the SCVM storage subnet (SCVM storage IPs ${input.sessions.map((s) => s.storageIp).join(', ')}; vmknics ${f.vmknics.map((v) => `${v.name} ${v.ip}`).join(', ') || 'none'})`,
        'Check the host network: every ESXi needs a storage vmknic on the SCVM storage network.',
      );
    }
    const mgmtVmk =
      f.vmknics.find((v) => v.ip === f.address) ??
      f.vmknics.find((v) => v !== storageVmk && !v.ip.startsWith(NFS_NET) && input.sessions.some((s) => contains(v, s.mgmtIp)));
    const ds = pickDatastore(f, input.datastore);
    return { facts: f, storageVmk, mgmtVmk, datastore: ds.name, datastoreNote: ds.note };
  });
  const pairings = pairHosts({
    esxi: drafts.map((d) => ({ address: d.facts.address, storageIp: d.storageVmk.ip, facts: d.facts })),
    sessions: input.sessions,
    operatorPairs: input.operatorPairs,
  });

  const guesses: string[] = [];
  const storageNets = [...new Set(drafts.map((d) => cidrOf(d.storageVmk)))];
  if (storageNets.length !== 1)
    throw new RerouteError(
      'USAGE',
      `the storage vmknics are in different networks: ${storageNets.join(', ')}`,
      'Discover the hosts of one cluster (one storage network) at a time.',
    );
  const mgmtNets = [...new Set(drafts.map((d) => (d.mgmtVmk ? cidrOf(d.mgmtVmk) : '')))];
  const mgmtNet =
    mgmtNets.length === 1 && mgmtNets[0] !== '' && drafts.every((d, i) => d.mgmtVmk && contains(d.mgmtVmk, pairings[i]?.scvm.mgmtIp ?? ''))
      ? mgmtNets[0]
      : undefined;

  const lines: string[] = [];
  const c = (text: string) => `  # ${text}`;
  lines.push(
    `# Written by \`reroute discover\` at ${input.now} from ${input.facts.length} ESXi host(s); SCVMs from the meta session list of ${input.sessionsFrom}.`,
    '# Lines marked "guessed" are worth a look before the first `reroute apply`; `reroute validate -f FILE` checks the rest.',
    'apiVersion: zbs-reroute/v1',
    'kind: RerouteCluster',
    'metadata:',
  );
  if (input.clusterName) lines.push(`  name: ${input.clusterName}`);
  else {
    lines.push(
      `  name: zbs-cluster${c("guessed: pass --cluster-name; the name marks this cluster's key on every SCVM, so pick it before the first apply")}`,
    );
    guesses.push('cluster name');
  }
  lines.push(
    'spec:',
    `  nfsAddress: ${input.nfsAddress}`,
    '  networks:',
    `    storage: ${storageNets[0]}${c(`from the storage vmknics (${[...new Set(drafts.map((d) => d.storageVmk.name))].join(', ')})`)}`,
  );
  if (mgmtNet) lines.push(`    management: ${mgmtNet}`);
  else lines.push(`    # management: not written: the management vmknics and the SCVM management IPs are not in one network`);
  // A discovered cluster is met for the first time: offer shadow mode, where the agents decide but never act.
  lines.push(
    '  # routing: { mode: shadow }   # first contact: the agents decide and log but never move a route; `reroute status` shows what they would do',
  );
  lines.push(
    '  access:',
    '    esxi:',
    `      user: ${input.esxi.user}`,
    `      credential: ${credentialYaml(input.esxi.credential)}`,
    '    scvm:',
    `      user: ${input.scvm.user}${c('never root: root ssh login is disabled on SCVMs')}`,
    '      sudo: true',
    `      credential: ${credentialYaml(input.scvm.credential)}${input.scvm.credentialGuessed ? c('guessed: the same credential as for the ESXi hosts (pass --scvm-key-file / --scvm-password-env)') : ''}`,
    '  nodes:',
  );
  if (input.scvm.credentialGuessed) guesses.push('SCVM credential');
  drafts.forEach((d, i) => {
    const p = pairings[i] as Pairing;
    const guessed = p.evidence === 'address-offset' || p.evidence === 'address-order';
    if (guessed) guesses.push(`SCVM of ${d.facts.address}`);
    if (d.datastoreNote) guesses.push(`datastore of ${d.facts.address}`);
    lines.push(
      `    - name: node-${i + 1}${d.facts.hostname ? c(`ESXi hostname ${d.facts.hostname.replace(/[^\x20-\x7e]/g, '?')}`) : ''}`,
      '      esxi:',
      `        address: ${d.facts.address}`,
      `        storageVmk: ${d.storageVmk.name}`,
      `        storageIp: ${d.storageVmk.ip}`,
      `        datastore: ${d.datastore}${d.datastoreNote ? c(d.datastoreNote) : ''}`,
      `      scvm:${c(`${guessed ? '' : 'paired: '}${p.note}`)}`,
      `        managementIp: ${p.scvm.mgmtIp}`,
      `        storageIp: ${p.scvm.storageIp}`,
    );
    const access = accessIpOf(d.facts, p.scvm, input.sessions, input.nfsAddress);
    if (access !== undefined)
      lines.push(
        `        accessIp: ${access}${c(`RDMA: this host routes the SCVM${access === d.facts.hostRoutes?.find((r) => r.network === p.scvm.storageIp)?.gateway ? ` storage IP ${p.scvm.storageIp}` : ` NFS address ${input.nfsAddress}`} via it`)}`,
      );
  });
  return { yaml: `${lines.join('\n')}\n`, pairings, guesses };
}
