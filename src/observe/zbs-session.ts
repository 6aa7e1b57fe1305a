/**
 * The local SCVM's ZBS session and the ESXi client IPs registered in it
 * (`local_clients_ips`, issue 11). ZBS keys NFS single login on client IPs:
 * meta revokes a client's connections on other access points when it logs in
 * somewhere, and it knows which IPs are the *local* hypervisor's only from
 * this list. The seed tooling kept it right with
 * `zbs-meta session refresh_address <session_id> <ip>`; later SmartX agents
 * did the same with a REST PUT of `{"local_clients_ips": "ip1,ip2"}` to
 * `/api/v2/zbs_session/session/<session_id>` (public notes,
 * https://github.com/aboriginalZero/fulin-kg, historical_patch/deploy/accessd_NFS_single_login.md
 * and the curl line in tmp_record.md).
 *
 * We use the CLI on the SCVM, as the seed did: it needs no HTTP client on
 * the SCVM and no PUT from ESXi (whose wget cannot PUT). Reading and writing
 * run as the operator user through `sudo -n`, like the authorized_keys item.
 * Pure parsing here; observe-cluster.ts and apply-plan.ts run the commands.
 */
import { RerouteError } from '../errors/reroute-error';
import { shellCommand } from '../core/shell-quote';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const SESSION_ID = /^[0-9A-Za-z][0-9A-Za-z-]{0,63}$/;

function isIpv4(s: string): boolean {
  const m = IPV4.exec(s);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

function badInput(what: string): never {
  throw new RerouteError(
    'INTERNAL',
    what,
    'This is a bug in zbs-reroute (the planner only passes observed session ids and manifest IPv4 addresses); please report it.',
  );
}

function prefixed(sudo: boolean, argv: string[]): string {
  return shellCommand(sudo ? ['sudo', '-n', ...argv] : argv);
}

export function sessionListCommand(opts: { sudo: boolean }): string {
  return prefixed(opts.sudo, ['zbs-meta', 'session', 'list']);
}

export function sessionShowCommand(opts: { sudo: boolean }, sessionId: string): string {
  if (!SESSION_ID.test(sessionId)) badInput(`not a session id: ${JSON.stringify(sessionId)}`);
  return prefixed(opts.sudo, ['zbs-meta', 'session', 'show', sessionId]);
}

/**
 * The write. The seed passed one IP; we pass the comma-joined list the REST
 * field takes (that the CLI accepts a list is unverified: docs/design.md).
 */
export function refreshAddressCommand(opts: { sudo: boolean }, sessionId: string, clientIps: string[]): string {
  if (!SESSION_ID.test(sessionId)) badInput(`not a session id: ${JSON.stringify(sessionId)}`);
  if (clientIps.length === 0 || !clientIps.every(isIpv4)) badInput(`not IPv4 addresses: ${clientIps.join(',')}`);
  return prefixed(opts.sudo, ['zbs-meta', 'session', 'refresh_address', sessionId, clientIps.join(',')]);
}

/** Table lines without tabulate's `|` borders and rules. */
function tableLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, '').replace(/\|/g, ' '))
    .filter((l) => l.trim() !== '' && !/^[-+= ]*$/.test(l));
}

/**
 * `zbs-meta session list` → the session id of the row whose Ip is `storageIp`
 * (this SCVM's own access point), or why there is none.
 */
export function findLocalSession(listText: string, storageIp: string): { sessionId: string } | { problem: string } {
  const lines = tableLines(listText);
  const header =
    lines[0]
      ?.trim()
      .split(/\s+/)
      .map((w) => w.toLowerCase()) ?? [];
  const ipCol = header.indexOf('ip');
  const idCol = header.indexOf('uuid');
  if (ipCol < 0 || idCol < 0) return { problem: 'zbs-meta session list printed no UUID/Ip header' };
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[ipCol] === storageIp && SESSION_ID.test(f[idCol] ?? '')) return { sessionId: f[idCol] as string };
  }
  return { problem: `no session of ${storageIp} in zbs-meta session list (access not healthy?)` };
}

function splitIps(value: string): string[] {
  return value
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/**
 * `zbs-meta session show <id>` → its local_clients_ips. Reads a table with a
 * Local_clients_ips column (the value runs from that header's column to the
 * line end) or a `local_clients_ips: value` line; the real layout is unverified.
 */
export function parseSessionClients(showText: string): { localClientsIps: string[] } | { problem: string } {
  const raw = showText.split('\n').map((l) => l.replace(/\r$/, ''));
  for (const l of raw) {
    const kv = /^\s*local_clients_ips\s*[:=]\s*"?([0-9.,\s]*)"?\s*$/i.exec(l);
    if (kv) return { localClientsIps: splitIps(kv[1] ?? '') };
  }
  const headerAt = raw.findIndex((l) => /(^|\s|\|)local_clients_ips(\s|\||$)/i.test(l));
  if (headerAt < 0) return { problem: 'zbs-meta session show printed no local_clients_ips' };
  const header = raw[headerAt] as string;
  const col = header.toLowerCase().search(/local_clients_ips/);
  const row = raw.slice(headerAt + 1).find((l) => l.trim() !== '' && !/^[-+=|\s]*$/.test(l));
  if (row === undefined) return { problem: 'zbs-meta session show printed no session row' };
  // tabulate aligns cells under their header; if this row is not aligned, take the same cell by
  // counting columns (tabulate separates them by two or more spaces; "Machine UUID" has one).
  const aligned = col === 0 || /\s/.test(row[col - 1] ?? ' ');
  const byPosition = row.slice(col).replace(/\|/g, ' ').trim().split(/\s+/)[0] ?? '';
  const headerCells = header
    .replace(/\|/g, ' ')
    .trim()
    .split(/\s{2,}/);
  const byCount =
    row
      .replace(/\|/g, ' ')
      .trim()
      .split(/\s{2,}/)[headerCells.findIndex((h) => /^local_clients_ips$/i.test(h))] ?? '';
  const value = aligned && splitIps(byPosition).every(isIpv4) ? byPosition : byCount;
  const ips = splitIps(value);
  if (!ips.every(isIpv4)) return { problem: 'local_clients_ips in zbs-meta session show is not a list of IPv4 addresses' };
  return { localClientsIps: ips };
}

/** Same set of addresses, whatever the order or repeats. */
export function sameClientIps(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}
