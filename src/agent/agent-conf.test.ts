import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../manifest/manifest-types';
import { fixtureManifest } from '../../test/support/plan-fixtures';
import { renderAgentConf } from './agent-conf';

function zoned(zones: string[]): Manifest {
  const m = fixtureManifest(zones.length);
  m.nodes.forEach((n, i) => (n.zone = zones[i]));
  return m;
}

/** What `. reroute.conf` gives the agent for KEY ('' when unset), read by a real POSIX shell. */
function sourced(conf: string, key: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'conf-'));
  try {
    writeFileSync(join(dir, 'reroute.conf'), conf);
    return execFileSync('/bin/sh', ['-c', `. "$1"; printf "%s" "\${${key}-}"`, 'sh', join(dir, 'reroute.conf')], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('reroute.conf MODE', () => {
  test('is always written: active by default', () => {
    const m = fixtureManifest(2);
    expect(renderAgentConf(m, m.nodes[0]!)).toContain('\nMODE=active\n');
  });

  test('shadow when the manifest asks for it, and nothing else in the conf changes', () => {
    const m = fixtureManifest(2);
    const shadow: Manifest = { ...m, routing: { ...m.routing, mode: 'shadow' } };
    const active = renderAgentConf(m, m.nodes[0]!);
    const text = renderAgentConf(shadow, shadow.nodes[0]!);
    expect(sourced(text, 'MODE')).toBe('shadow');
    expect(text.replace('MODE=shadow', 'MODE=active')).toBe(active);
  });
});

describe('reroute.conf ZONE_PEER_STORAGE_IPS', () => {
  test('absent when the manifest gives no zones (the conf of unzoned clusters is unchanged)', () => {
    const m = fixtureManifest(3);
    expect(renderAgentConf(m, m.nodes[0]!)).not.toMatch(/ZONE/);
  });

  test('lists the storage IPs of the other nodes in the same zone, in manifest order', () => {
    const m = zoned(['site-a', 'site-b', 'site-a', 'site-b', 'site-a']);
    expect(sourced(renderAgentConf(m, m.nodes[0]!), 'ZONE_PEER_STORAGE_IPS')).toBe('10.20.0.103 10.20.0.105');
    expect(sourced(renderAgentConf(m, m.nodes[3]!), 'ZONE_PEER_STORAGE_IPS')).toBe('10.20.0.102');
    // Every peer is still in PEER_STORAGE_IPS: the zone list only orders the storage tier.
    expect(sourced(renderAgentConf(m, m.nodes[3]!), 'PEER_STORAGE_IPS')).toBe('10.20.0.101 10.20.0.102 10.20.0.103 10.20.0.105');
  });

  test('a node alone in its zone gets an empty list (one tier of every peer, as without zones)', () => {
    const m = zoned(['site-a', 'site-a', 'witness']);
    const text = renderAgentConf(m, m.nodes[2]!);
    expect(text).toContain("\nZONE_PEER_STORAGE_IPS=''\n");
  });

  test('zone names never reach the conf, only addresses', () => {
    const m = zoned(['a.b_c-1', 'a.b_c-1']);
    expect(renderAgentConf(m, m.nodes[0]!)).not.toContain('a.b_c-1');
  });
});
