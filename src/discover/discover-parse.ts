import { RerouteError } from '../errors/reroute-error';
import { shellCommand } from '../core/shell-quote';
import { parseEsxcfgRouteList, parseVmknicList, parseKeyValueLines } from '../observe/esxi-command-output';
import type { EsxiFacts, SessionEntry } from './discover-types';

const MARK = '@@zr-discover@@';
const SECTIONS = ['vmknic', 'volumes', 'hostname', 'conf', 'vms', 'sessions'] as const;

/**
 * One read-only command per ESXi host (busybox ash). Every part is bounded:
 * wget has a timeout, the VM loop reads at most 64 VMs, output is capped by
 * the SSH layer. Nothing here changes the host.
 */
export function discoverCommand(opts: { nfsAddress: string; restPort: number; restPath: string; dirName: string }): string {
  const url = `http://${opts.nfsAddress}:${opts.restPort}${opts.restPath}`;
  const conf = `/vmfs/volumes/*/${opts.dirName}/reroute.conf`;
  return [
    `echo ${MARK}vmknic; esxcfg-vmknic -l 2>&1`,
    `echo ${MARK}volumes; ls -l /vmfs/volumes/ 2>&1`,
    `echo ${MARK}hostname; hostname 2>/dev/null`,
    `echo ${MARK}conf; for f in ${conf}; do [ -f "$f" ] && grep -E '^LOCAL_(STORAGE|MGMT)_IP=' "$f"; done`,
    `echo ${MARK}vms; if command -v vim-cmd >/dev/null 2>&1; then for id in $(vim-cmd vmsvc/getallvms 2>/dev/null | awk 'NR>1 && $1 ~ /^[0-9]+$/ {print $1}' | head -n 64); do vim-cmd vmsvc/get.guest "$id" 2>/dev/null | grep -E 'ipAddress = "'; done; fi`,
    `echo ${MARK}sessions; wget -q -T 5 -O - ${shellCommand([url])} 2>/dev/null | head -c 1048576`,
    `echo ${MARK}routes; esxcfg-route -l 2>/dev/null`,
    'echo; exit 0',
  ].join('\n');
}

function sections(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  let current: string | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(MARK)) {
      current = line.slice(MARK.length).trim();
      out[current] = '';
      continue;
    }
    if (current !== undefined) out[current] += `${line}\n`;
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `ls -l /vmfs/volumes/`: named datastores are symlinks `name -> <vmfs uuid>`. */
export function parseVolumes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /\s(\S+) -> (\S+)\s*$/.exec(line);
    if (!m || !m[1] || !m[2] || !line.startsWith('l')) continue;
    const target = m[2].replace(/^\/vmfs\/volumes\//, '').replace(/\/$/, '');
    out[m[1]] = target;
  }
  return out;
}

export function parseDiscoverOutput(address: string, stdout: string): EsxiFacts {
  const s = sections(stdout);
  for (const name of SECTIONS) {
    if (s[name] === undefined)
      throw new RerouteError(
        'REMOTE_COMMAND_FAILED',
        `${address}: the discovery command's output is incomplete (no ${name} section)`,
        'Check that the host is an ESXi host with a working shell and re-run.',
      );
  }
  const vmknics = parseVmknicList(s.vmknic ?? '').items;
  const kv = parseKeyValueLines(s.conf ?? '');
  const installed =
    kv.has('LOCAL_STORAGE_IP') || kv.has('LOCAL_MGMT_IP')
      ? { storageIp: kv.get('LOCAL_STORAGE_IP'), mgmtIp: kv.get('LOCAL_MGMT_IP') }
      : undefined;
  const guestIps = [...(s.vms ?? '').matchAll(/ipAddress = "([0-9.]+)"/g)].map((m) => m[1] as string);
  const facts: EsxiFacts = { address, vmknics, datastores: parseVolumes(s.volumes ?? ''), guestIps: [...new Set(guestIps)] };
  const hostname = (s.hostname ?? '').trim();
  if (hostname !== '') facts.hostname = hostname;
  if (installed) facts.installed = installed;
  const sessions = (s.sessions ?? '').trim();
  if (sessions !== '') facts.sessionsJson = sessions;
  // Optional section (output of an older discover command has none): /32 routes only.
  if (s.routes !== undefined)
    facts.hostRoutes = parseEsxcfgRouteList(s.routes)
      .items.filter((r) => r.prefixLength === 32)
      .map((r) => ({ network: r.network, gateway: r.gateway }));
  return facts;
}

/** The meta session list (`{"ec":"EOK","data":[{ip, secondary_data_ip, …}]}`); entries without both IPs are skipped. */
export function parseSessionList(json: string, from: string): SessionEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new RerouteError(
      'REMOTE_COMMAND_FAILED',
      `the session list from ${from} is not JSON`,
      'Check the SCVM REST address and path (access.rest in the manifest).',
    );
  }
  const d = doc as { ec?: unknown; data?: unknown };
  if (d.ec !== 'EOK' || !Array.isArray(d.data))
    throw new RerouteError(
      'REMOTE_COMMAND_FAILED',
      `the session list from ${from} is not a ZBS session list (ec ${JSON.stringify(d.ec)})`,
      'Check that the address is a healthy SCVM.',
    );
  const out: SessionEntry[] = [];
  const seen = new Set<string>();
  for (const e of d.data as Array<Record<string, unknown>>) {
    const ip = typeof e?.ip === 'string' ? e.ip : undefined;
    const mgmt = typeof e?.secondary_data_ip === 'string' ? e.secondary_data_ip : undefined;
    if (!ip || !mgmt || seen.has(ip)) continue;
    seen.add(ip);
    out.push({ storageIp: ip, mgmtIp: mgmt });
  }
  return out;
}

export { UUID as VMFS_UUID };
