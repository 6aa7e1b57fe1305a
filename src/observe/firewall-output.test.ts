import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSnapshot } from './snapshot';
import { listRealSamples } from '../../test/fixtures/real-output/load-real-output';
import { firewallState, parseAllowedIpList, parseFirewallPrior, parseRulesetList, renderFirewallPrior } from './firewall-output';

describe('ESXi firewall listings', () => {
  it('reads every published `ruleset list` sample', () => {
    const samples = listRealSamples('esxcli-firewall-ruleset-list');
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) {
      const r = parseRulesetList(s.body);
      expect({ file: s.file, skipped: r.skipped }).toEqual({ file: s.file, skipped: [] });
      expect(r.items.size).toBeGreaterThan(0);
    }
    expect(parseRulesetList('Name       Enabled\n---------  -------\nsshServer     true\n').items.get('sshServer')).toBe(true);
  });

  it('reads every published `allowedip list` sample: All, and comma-separated addresses', () => {
    const samples = listRealSamples('esxcli-firewall-allowedip-list');
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect({ file: s.file, skipped: parseAllowedIpList(s.body).skipped }).toEqual({ file: s.file, skipped: [] });
    const vic = samples.find((s) => s.body.includes('nfsClient'));
    expect(vic && parseAllowedIpList(vic.body).items.get('nfsClient')).toEqual({
      allowedAll: false,
      allowedIps: ['192.168.214.1', '192.168.214.2', '192.168.214.3'],
    });
    expect(vic && parseAllowedIpList(vic.body).items.get('sshClient')).toEqual({ allowedAll: true, allowedIps: [] });
  });

  it('a ruleset with allowed-all false and no addresses lists an empty column', () => {
    const text = 'Ruleset     Allowed IP Addresses\n----------  --------------------\nhttpClient\nsshClient   10.0.0.0/24\n';
    expect(Object.fromEntries(parseAllowedIpList(text).items)).toEqual({
      httpClient: { allowedAll: false, allowedIps: [] },
      sshClient: { allowedAll: false, allowedIps: ['10.0.0.0/24'] },
    });
  });

  it('keeps only the rulesets we may own, and only when both listings name them', () => {
    const list = 'Name        Enabled\n----------  -------\nsshServer      true\nhttpClient    false\n';
    const allowed = 'Ruleset     Allowed IP Addresses\n----------  --------------------\nhttpClient  All\nsshClient   All\n';
    expect(firewallState(list, allowed)).toEqual({
      rulesets: { httpClient: { enabled: false, allowedAll: true, allowedIps: [] } },
      skipped: 0,
    });
  });

  it('skips junk instead of trusting it', () => {
    const r = parseAllowedIpList('httpClient  10.0.0.1; reboot\n$(id) All\n');
    expect(r.items.size).toBe(0);
    expect(r.skipped).toHaveLength(2);
    expect(parseRulesetList('httpClient maybe\n').items.size).toBe(0);
  });
});

describe('firewall.prior', () => {
  it('round-trips', () => {
    const prior = {
      sshClient: { enabled: true, allowedAll: false, allowedIps: ['10.0.0.0/24'], addedIps: ['10.20.0.101'] },
      httpClient: { enabled: false, allowedAll: true, allowedIps: [], addedIps: [] },
    };
    expect(parseFirewallPrior(renderFirewallPrior(prior))).toEqual({ prior, invalid: [] });
  });

  it('drops a record with a missing or malformed field', () => {
    const r = parseFirewallPrior(
      'httpClient.enabled=yes\nhttpClient.allowed_all=true\nhttpClient.allowed_ips=\nhttpClient.added_ips=\nsshClient.enabled=true\n',
    );
    expect(r).toEqual({ prior: {}, invalid: ['httpClient', 'sshClient'] });
  });
});

describe('saved snapshots (reroute plan --observed) carry the firewall', () => {
  const fixture = join(__dirname, '..', '..', 'test', 'fixtures', 'snapshots', 'installed-3node.json');
  const withFirewall = (extra: Record<string, unknown> = {}): string => {
    const snap = JSON.parse(readFileSync(fixture, 'utf8')) as { esxi: Record<string, Record<string, unknown>> };
    const host = snap.esxi['node-1'] as Record<string, unknown>;
    host.firewall = { httpClient: { enabled: true, allowedAll: false, allowedIps: ['10.20.0.101', '10.10.0.0/24'], ...extra } };
    host.firewallPrior = { httpClient: { enabled: false, allowedAll: true, allowedIps: [], addedIps: ['10.20.0.101'] } };
    return JSON.stringify(snap, null, 2);
  };

  it('validates and reads back the firewall state and our prior record', () => {
    const snap = parseSnapshot(withFirewall(), 'snap.json');
    const host = snap.esxi['node-1'];
    expect(host?.reachable && host.firewall?.httpClient?.allowedIps).toEqual(['10.20.0.101', '10.10.0.0/24']);
    expect(host?.reachable && host.firewallPrior?.httpClient?.addedIps).toEqual(['10.20.0.101']);
  });

  it('refuses an unknown key in a ruleset', () => {
    expect(() => parseSnapshot(withFirewall({ open: true }), 'snap.json')).toThrow(
      /firewall\/httpClient: must NOT have unevaluated properties/,
    );
  });
});
