/**
 * Parsers for the raw output of the ESXi commands the probe runs. Each is
 * tolerant (dashed rulers, extra columns, plain busybox variants) and never
 * throws: a line it does not understand is skipped and reported.
 */

import type { AgentHeartbeat, ObservedRoute } from './observed-types';
import { parseHeartbeatExtras, TARGET_KINDS } from './heartbeat-extras';

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** 255.255.255.0 → 24; undefined for a non-contiguous or malformed mask. */
export function netmaskToPrefix(mask: string): number | undefined {
  if (!isIpv4(mask)) return undefined;
  const n = mask.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  let len = 0;
  let seenZero = false;
  for (let bit = 31; bit >= 0; bit--) {
    const set = Math.floor(n / 2 ** bit) % 2 === 1;
    if (set && seenZero) return undefined;
    if (set) len++;
    else seenZero = true;
  }
  return len;
}

export interface ParsedLines<T> {
  items: T[];
  /** Lines that looked like data but could not be read. */
  skipped: string[];
}

function lines(text: string): string[] {
  return text.split(/\r?\n/);
}

/**
 * `esxcfg-route -l`:
 *   VMkernel Routes:
 *   Network          Netmask          Gateway          Interface
 *   10.1.73.0        255.255.255.0    Local Subnet     vmk1
 *   192.168.33.2     255.255.255.255  10.1.73.104      vmk1
 *   default          0.0.0.0          10.1.71.1        vmk0
 * A connected route ("Local Subnet", or "-" from the lab shim) gets gateway 0.0.0.0,
 * as `esxcli network ip route ipv4 list` shows it.
 */
export function parseEsxcfgRouteList(text: string): ParsedLines<ObservedRoute> {
  const out: ParsedLines<ObservedRoute> = { items: [], skipped: [] };
  for (const raw of lines(text)) {
    const line = raw.trim();
    if (line === '' || /^VMkernel Routes/i.test(line) || /^Network\s+Netmask/i.test(line) || /^[-\s]+$/.test(line)) continue;
    const t = line.replace(/Local Subnet/i, 'Local_Subnet').split(/\s+/);
    const [network, mask, gw, iface] = t;
    if (network === undefined || mask === undefined || gw === undefined) {
      out.skipped.push(raw);
      continue;
    }
    const prefixLength = network === 'default' ? 0 : netmaskToPrefix(mask);
    const gateway = gw === 'Local_Subnet' || gw === '-' ? '0.0.0.0' : gw;
    if (prefixLength === undefined || (network !== 'default' && !isIpv4(network)) || !isIpv4(gateway)) {
      out.skipped.push(raw);
      continue;
    }
    const route: ObservedRoute = { network: network === 'default' ? '0.0.0.0' : network, prefixLength, gateway };
    if (iface !== undefined && iface !== '') route.iface = iface;
    out.items.push(route);
  }
  return out;
}

export interface PsRow {
  pid: number;
  command: string;
}

/**
 * ESXi `ps -c` ("WID CID World Name Command") or plain busybox `ps`
 * ("PID USER [TIME|VSZ STAT] COMMAND"). The command column starts where the
 * header says; when a row does not line up with the header (world names with
 * spaces, unaligned busybox output) the columns are counted instead.
 */
export function parsePsOutput(text: string): ParsedLines<PsRow> {
  const out: ParsedLines<PsRow> = { items: [], skipped: [] };
  const all = lines(text).filter((l) => l.trim() !== '');
  const header = all[0] ?? '';
  const headerTokens = header.trim().split(/\s+/);
  const esxiStyle = headerTokens[0] === 'WID';
  const hasHeader = esxiStyle || /\bPID\b/.test(header);
  let commandIndex = 1;
  let commandOffset = -1;
  if (esxiStyle) {
    commandIndex = 3;
    commandOffset = header.search(/\bCommand\b/);
  } else if (hasHeader) {
    const i = headerTokens.findIndex((t) => /^(COMMAND|CMD|ARGS)$/i.test(t));
    commandIndex = i > 0 ? i : headerTokens.length - 1;
  }
  for (const row of hasHeader ? all.slice(1) : all) {
    const tokens = row.trim().split(/\s+/);
    const pidTok = tokens[0] ?? '';
    if (!/^\d{1,10}$/.test(pidTok)) {
      out.skipped.push(row);
      continue;
    }
    let command: string;
    if (commandOffset > 0 && row.length > commandOffset && row[commandOffset - 1] === ' ' && row[commandOffset] !== ' ') {
      command = row.slice(commandOffset).trim();
    } else {
      command = tokens.slice(Math.min(commandIndex, tokens.length)).join(' ');
    }
    out.items.push({ pid: Number(pidTok), command });
  }
  return out;
}

const SHELLS = new Set(['sh', 'ash', 'bash', 'dash', 'busybox']);

/**
 * True when a command line runs the script named `scriptName` (the loop), as
 * `/bin/sh /path/scriptName …` or directly; editors, greps and tails of it are not.
 */
export function commandRunsScript(command: string, scriptName: string): boolean {
  const tokens = command.split(/\s+/).filter((t) => t !== '' && !/^\{.*\}$/.test(t));
  for (let j = 0; j < tokens.length; j++) {
    const tok = tokens[j] as string;
    if (tok !== scriptName && !tok.endsWith(`/${scriptName}`)) continue;
    if (j === 0) return true;
    const before = tokens.slice(0, j).map((t) => t.split('/').pop() ?? t);
    // `sh FILE`, `/bin/sh FILE`, `busybox sh FILE`, `sh -x FILE`
    const shellAt = before.findIndex((t) => SHELLS.has(t));
    if (shellAt >= 0 && before.slice(shellAt + 1).every((t) => t.startsWith('-') || t === 'sh' || t === 'ash')) return true;
  }
  return false;
}

/**
 * `esxcfg-vmknic -l`: Interface, Port Group (may contain spaces), IP Family,
 * IP Address, Netmask, Broadcast, MAC, MTU, TSO MSS, Enabled, Type, NetStack.
 * Only IPv4 rows are returned.
 */
export function parseVmknicList(text: string): ParsedLines<{ name: string; ip: string; netmask: string }> {
  const out: ParsedLines<{ name: string; ip: string; netmask: string }> = { items: [], skipped: [] };
  for (const raw of lines(text)) {
    const line = raw.trim();
    if (line === '' || /^Interface\s/i.test(line) || /^[-\s]+$/.test(line)) continue;
    const t = line.split(/\s+/);
    const name = t[0] ?? '';
    if (!/^vmk\d{1,4}$/.test(name)) {
      out.skipped.push(raw);
      continue;
    }
    const fam = t.findIndex((x, i) => i > 0 && /^IPv[46]$/.test(x));
    if (fam < 0) {
      out.skipped.push(raw);
      continue;
    }
    if (t[fam] !== 'IPv4') continue;
    const ip = t[fam + 1] ?? '';
    const netmask = t[fam + 2] ?? '';
    // A vmknic with no IPv4 address prints "N/A" there (Type NONE): nothing to read, nothing wrong.
    // Seen in real output: test/fixtures/real-output/esxcfg-vmknic-l.unknown.2.txt.
    if (ip === 'N/A') continue;
    if (!isIpv4(ip) || !isIpv4(netmask)) {
      out.skipped.push(raw);
      continue;
    }
    out.items.push({ name, ip, netmask });
  }
  return out;
}

/** KEY=value lines (values may be single- or double-quoted); last one wins; junk is ignored. */
export function parseKeyValueLines(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const raw of lines(text)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]{0,63})=(.*)$/.exec(raw);
    if (!m) continue;
    let v = (m[2] as string).trim();
    if (v.length >= 2 && ((v.startsWith("'") && v.endsWith("'")) || (v.startsWith('"') && v.endsWith('"')))) v = v.slice(1, -1);
    map.set(m[1] as string, v);
  }
  return map;
}

function intField(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,15}$/.test(v)) return undefined;
  return Number(v);
}

/**
 * The agent's status file (KEY=value: version pid target target_kind since
 * updated fetch fetch_ms, and the optional keys of src/observe/heartbeat-extras.ts).
 * Needs version, pid and updated; the rest default to "nothing known". Returns
 * the missing/invalid keys instead when unusable.
 */
export function parseHeartbeat(text: string): { heartbeat?: AgentHeartbeat; invalid: string[] } {
  const kv = parseKeyValueLines(text);
  const invalid: string[] = [];
  const version = kv.get('version') ?? '';
  if (!/^[A-Za-z0-9._+-]{1,64}$/.test(version)) invalid.push('version');
  const pid = intField(kv.get('pid'));
  if (pid === undefined) invalid.push('pid');
  const updated = intField(kv.get('updated'));
  if (updated === undefined) invalid.push('updated');
  if (invalid.length > 0 || pid === undefined || updated === undefined) return { invalid };
  const target = kv.get('target') ?? '';
  const kindRaw = kv.get('target_kind') ?? 'none';
  const since = intField(kv.get('since'));
  const fetchMs = intField(kv.get('fetch_ms'));
  if (target !== '' && !isIpv4(target)) invalid.push('target');
  if (!TARGET_KINDS.has(kindRaw)) invalid.push('target_kind');
  if (kv.has('since') && since === undefined) invalid.push('since');
  if (kv.has('fetch_ms') && fetchMs === undefined) invalid.push('fetch_ms');
  const fetch = kv.get('fetch');
  if (fetch !== undefined && fetch !== 'ok' && fetch !== 'fail') invalid.push('fetch');
  const extras = parseHeartbeatExtras(kv);
  invalid.push(...extras.invalid);
  return {
    heartbeat: {
      version,
      pid,
      target: isIpv4(target) ? target : '',
      targetKind: (TARGET_KINDS.has(kindRaw) ? kindRaw : 'none') as AgentHeartbeat['targetKind'],
      since: since ?? 0,
      updated,
      fetch: fetch === 'ok' ? 'ok' : 'fail',
      fetchMs: fetchMs ?? 0,
      ...extras.extras,
    },
    invalid,
  };
}

/** `-rw-------` (ls -l) → "0600", including setuid/setgid/sticky; undefined when malformed. */
export function lsPermsToOctal(perms: string): string | undefined {
  const p = perms.slice(1, 10);
  if (!/^[r-][w-][xsS-][r-][w-][xsS-][r-][w-][xtT-]$/.test(p)) return undefined;
  let special = 0;
  const digit = (i: number, specialBit: number): number => {
    const r = p[i] === 'r' ? 4 : 0;
    const w = p[i + 1] === 'w' ? 2 : 0;
    const xc = p[i + 2] as string;
    const x = xc === 'x' || xc === 's' || xc === 't' ? 1 : 0;
    if (xc === 's' || xc === 'S' || xc === 't' || xc === 'T') special |= specialBit;
    return r + w + x;
  };
  const u = digit(0, 4);
  const g = digit(3, 2);
  const o = digit(6, 1);
  return `${special}${u}${g}${o}`;
}
