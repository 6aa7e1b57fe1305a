/**
 * Just enough IPv4 arithmetic for the manifest's network checks. Inputs may be
 * unvalidated (semantic checks run beside schema errors), so every parser
 * returns undefined instead of throwing.
 */

export interface Ipv4Net {
  base: number; // network address as an unsigned 32-bit number
  prefix: number;
  mask: number;
  text: string;
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

export function parseIpv4(text: unknown): number | undefined {
  if (typeof text !== 'string' || !IPV4_RE.test(text)) return undefined;
  return text.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/len`. Host bits are kept out of `base`; see `hasHostBits`. */
export function parseCidr(text: unknown): Ipv4Net | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === undefined || !/^(3[0-2]|[12]?\d)$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  const mask = maskOf(prefix);
  return { base: (addr & mask) >>> 0, prefix, mask, text };
}

export function hasHostBits(text: string): boolean {
  const net = parseCidr(text);
  const addr = parseIpv4(text.slice(0, text.indexOf('/')));
  return net !== undefined && addr !== undefined && addr !== net.base;
}

export function netContains(net: Ipv4Net, ip: number): boolean {
  return (ip & net.mask) >>> 0 === net.base;
}

export function netsOverlap(a: Ipv4Net, b: Ipv4Net): boolean {
  const mask = a.prefix < b.prefix ? a.mask : b.mask;
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

/** The network and broadcast addresses of a /0../30 network cannot be host addresses. */
export function isNetworkOrBroadcast(net: Ipv4Net, ip: number): boolean {
  if (net.prefix > 30 || !netContains(net, ip)) return false;
  const broadcast = (net.base | (~net.mask >>> 0)) >>> 0;
  return ip === net.base || ip === broadcast;
}

/** Addresses no ESXi or SCVM interface can have: 0/8, loopback, link-local, multicast and above. */
export function reservedKind(ip: number): string | undefined {
  const first = ip >>> 24;
  if (first === 0) return 'in 0.0.0.0/8 ("this network")';
  if (first === 127) return 'a loopback address';
  if (first === 169 && ((ip >>> 16) & 255) === 254) return 'a link-local address';
  if (first >= 224 && first <= 239) return 'a multicast address';
  if (first >= 240) return 'a reserved/broadcast address';
  return undefined;
}
