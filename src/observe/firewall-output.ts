/**
 * The ESXi firewall as the probe reads it, and our `firewall.prior` record.
 * Pure and tolerant like the other host-output parsers: unknown lines are
 * skipped and reported, never thrown on.
 *
 * Real formats (vSphere CLI Concepts and Examples, "Managing the ESXi Firewall",
 * https://docs.vmware.com/en/VMware-vSphere/6.7/vspherecli-concepts-examples/GUID-CB2A997E-9B49-4B08-8202-3FB220EADE9D.html):
 *
 *   $ esxcli network firewall ruleset list            $ esxcli network firewall ruleset allowedip list
 *   Name        Enabled                               Ruleset     Allowed IP Addresses
 *   ----------  -------                               ----------  --------------------
 *   sshServer      true                               sshServer   All
 *   httpClient    false                               sshClient   192.168.10.10, 192.168.1.0/24
 */

import { isIpv4 } from './esxi-command-output';
import type { FirewallPrior, FirewallRulesetState } from './observed-types';

/** The rulesets an agent session source needs: REST (wget to the SCVM's port 80) and ssh. */
export const FIREWALL_RULESETS = ['httpClient', 'sshClient'] as const;
export type FirewallRulesetName = (typeof FIREWALL_RULESETS)[number];

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
const ALLOWED_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(\/(3[0-2]|[12]?\d))?$/;

/** An IPv4 address or network as ESXi's allowed-IP list holds it. */
export function isAllowedIpEntry(s: string): boolean {
  return ALLOWED_RE.test(s);
}

function dataLines(text: string, header: RegExp): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !header.test(l) && !/^[-\s]+$/.test(l));
}

/** `esxcli network firewall ruleset list` → name → enabled. */
export function parseRulesetList(text: string): { items: Map<string, boolean>; skipped: string[] } {
  const items = new Map<string, boolean>();
  const skipped: string[] = [];
  for (const line of dataLines(text, /^Name\s+Enabled\b/i)) {
    const [name, enabled] = line.split(/\s+/);
    if (name === undefined || !NAME_RE.test(name) || (enabled !== 'true' && enabled !== 'false')) {
      skipped.push(line);
      continue;
    }
    if (!items.has(name)) items.set(name, enabled === 'true');
  }
  return { items, skipped };
}

/** `esxcli network firewall ruleset allowedip list` → name → `All` or the listed addresses. */
export function parseAllowedIpList(text: string): { items: Map<string, { allowedAll: boolean; allowedIps: string[] }>; skipped: string[] } {
  const items = new Map<string, { allowedAll: boolean; allowedIps: string[] }>();
  const skipped: string[] = [];
  for (const line of dataLines(text, /^Ruleset\s+Allowed IP Addresses/i)) {
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line);
    const name = m?.[1] ?? '';
    const rest = (m?.[2] ?? '').trim();
    if (!NAME_RE.test(name)) {
      skipped.push(line);
      continue;
    }
    if (rest === 'All') {
      items.set(name, { allowedAll: true, allowedIps: [] });
      continue;
    }
    const ips = rest === '' ? [] : rest.split(/\s*,\s*|\s+/).filter((x) => x !== '');
    if (!ips.every(isAllowedIpEntry)) {
      skipped.push(line);
      continue;
    }
    items.set(name, { allowedAll: false, allowedIps: ips });
  }
  return { items, skipped };
}

/**
 * Both listings → the state of the rulesets we may own. A ruleset missing from
 * either listing is left out (the planner then says it cannot manage it).
 */
export function firewallState(
  rulesetList: string,
  allowedIpList: string,
): { rulesets: Record<string, FirewallRulesetState>; skipped: number } {
  const enabled = parseRulesetList(rulesetList);
  const allowed = parseAllowedIpList(allowedIpList);
  const rulesets: Record<string, FirewallRulesetState> = {};
  for (const name of FIREWALL_RULESETS) {
    const e = enabled.items.get(name);
    const a = allowed.items.get(name);
    if (e === undefined || a === undefined) continue;
    rulesets[name] = { enabled: e, allowedAll: a.allowedAll, allowedIps: a.allowedIps };
  }
  return { rulesets, skipped: enabled.skipped.length + allowed.skipped.length };
}

// ---------------------------------------------------------------- firewall.prior

const PRIOR_HEADER = '# zbs-reroute: firewall rulesets as they were before zbs-reroute changed them; `reroute destroy` restores them.';
const PRIOR_KEYS = ['enabled', 'allowed_all', 'allowed_ips', 'added_ips'] as const;

/** `RULESET.KEY=value` lines; addresses comma-separated. Deterministic (rulesets sorted). */
export function renderFirewallPrior(prior: Record<string, FirewallPrior>): string {
  const lines = [PRIOR_HEADER];
  for (const name of Object.keys(prior).sort()) {
    const p = prior[name] as FirewallPrior;
    lines.push(
      `${name}.enabled=${p.enabled}`,
      `${name}.allowed_all=${p.allowedAll}`,
      `${name}.allowed_ips=${p.allowedIps.join(',')}`,
      `${name}.added_ips=${p.addedIps.join(',')}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** The record back; a ruleset with a missing or malformed field is dropped and reported. */
export function parseFirewallPrior(text: string): { prior: Record<string, FirewallPrior>; invalid: string[] } {
  const fields = new Map<string, Map<string, string>>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_-]{1,64})\.(enabled|allowed_all|allowed_ips|added_ips)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const name = m[1] as string;
    if (!fields.has(name)) fields.set(name, new Map());
    fields.get(name)?.set(m[2] as string, (m[3] as string).trim());
  }
  const prior: Record<string, FirewallPrior> = {};
  const invalid: string[] = [];
  const list = (v: string) => (v === '' ? [] : v.split(','));
  for (const [name, f] of fields) {
    const ok = PRIOR_KEYS.every((k) => f.has(k));
    const enabled = f.get('enabled');
    const allowedAll = f.get('allowed_all');
    const allowedIps = list(f.get('allowed_ips') ?? '');
    const addedIps = list(f.get('added_ips') ?? '');
    const bool = (v: string | undefined) => v === 'true' || v === 'false';
    if (!ok || !bool(enabled) || !bool(allowedAll) || !allowedIps.every(isAllowedIpEntry) || !addedIps.every(isIpv4)) {
      invalid.push(name);
      continue;
    }
    prior[name] = { enabled: enabled === 'true', allowedAll: allowedAll === 'true', allowedIps, addedIps };
  }
  return { prior, invalid };
}
