import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { NODE1_CURRENT, NODE1_ROTATED, NODE2_LOG } from '../../test/support/agent-log-fixtures';
import { fixtureManifest } from '../../test/support/plan-fixtures';
import type { Manifest } from '../manifest/manifest-types';
import type { HostEndpoint } from '../remote/host-connections';
import { eventsReport, gatewayKinds } from './cluster-events';
import type { ClusterSession } from './cluster-session';
import type { EngineIo, EngineMessage } from './engine-io';

const run = promisify(execFile);
const NOW = new Date(Date.UTC(2026, 11, 2, 0, 40, 0));
let dir: string;
let manifest: Manifest;

/**
 * A session whose ESXi hosts are folders here: the real read command runs in a local shell, on
 * `<dir>/<node>/` instead of the manifest's log path. node-3 cannot be reached.
 */
function session(): ClusterSession {
  const get = async (e: HostEndpoint) => {
    if (e.node === 'node-3') throw new Error('connect ECONNREFUSED 10.10.0.13:22');
    return {
      exec: async (cmd: string) => {
        const local = cmd.split(manifest.install.logFile).join(path.join(dir, e.node, 'scvm_failure.log'));
        const r = await run('/bin/sh', ['-c', local], { encoding: 'buffer' });
        return { code: 0, stdout: r.stdout.toString('utf8'), stdoutBytes: r.stdout, stderr: '' };
      },
      close: () => undefined,
    };
  };
  return { manifest, connections: { get } } as unknown as ClusterSession;
}

function recorder(): EngineIo & { messages: EngineMessage[] } {
  const messages: EngineMessage[] = [];
  return { messages, emit: (m) => messages.push(m), confirm: async () => false };
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-events-'));
  manifest = fixtureManifest(3, {
    install: { dirName: 'zbs-reroute', logFile: path.join(dir, 'any', 'scvm_failure.log'), runDir: '/var/run/zbs-reroute' },
  });
  for (const n of ['node-1', 'node-2']) fs.mkdirSync(path.join(dir, n));
  fs.writeFileSync(path.join(dir, 'node-1', 'scvm_failure.log.1'), NODE1_ROTATED);
  fs.writeFileSync(path.join(dir, 'node-1', 'scvm_failure.log'), NODE1_CURRENT);
  fs.writeFileSync(path.join(dir, 'node-2', 'scvm_failure.log'), NODE2_LOG);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('reroute events (engine)', () => {
  test('every host read once into one timeline; a host that cannot be reached is a row saying why, not a failure', async () => {
    const io = recorder();
    const r = await eventsReport(session(), io, { since: 'all' }, NOW);
    expect(r.hosts.map((h) => [h.node, h.read, h.lines])).toEqual([
      ['node-1', true, 8],
      ['node-2', true, 5],
      ['node-3', false, 0],
    ]);
    expect(r.hosts[2]?.reason).toContain('ECONNREFUSED');
    expect(r.events.map((e) => e.atMs)).toEqual([...r.events.map((e) => e.atMs)].sort((a, b) => a - b));
    expect(r.episodes.map((p) => [p.host, p.reason, p.durationSeconds])).toEqual([
      ['node-1', 'local-ping', 184],
      ['node-2', 'pin', 240],
      ['node-1', 'local-unlisted', null],
    ]);
    expect(io.messages.map((m) => m.code)).toEqual(['EVENTS_START', 'EVENTS_HOST', 'EVENTS_HOST', 'EVENTS_HOST']);
    expect(r.since).toBeNull();
    expect(r.until).toBe(NOW.toISOString());
  });

  test('--since 24h (the default) and --node narrow what is shown, not what is paired', async () => {
    const r = await eventsReport(session(), recorder(), { since: '25m', nodes: ['node-1'] }, NOW);
    expect(r.nodes).toEqual(['node-1']);
    expect(r.hosts.map((h) => h.node)).toEqual(['node-1']);
    expect(r.events.every((e) => e.host === 'node-1' && e.at >= '2026-12-02T00:15:00.000Z')).toBe(true);
    // Begun before the window and still open: shown.
    expect(r.episodes.map((p) => p.start)).toEqual(['2026-12-02T00:20:00.000Z']);
    const day = await eventsReport(session(), recorder(), {}, NOW);
    expect(day.since).toBe('2026-12-01T00:40:00.000Z');
  });

  test('an unknown --node is refused before any host is contacted, naming the nodes there are', async () => {
    await expect(eventsReport(session(), recorder(), { nodes: ['node-9'] }, NOW)).rejects.toMatchObject({
      code: 'USAGE',
      fix: expect.stringContaining('node-1, node-2, node-3'),
    });
  });

  test("the manifest tells what each gateway is from a host: its own SCVM's addresses are local", () => {
    const m = fixtureManifest(2);
    m.nodes[1]!.scvm.accessIp = '10.0.85.122';
    expect(gatewayKinds(m, m.nodes[0]!)).toEqual({
      '10.20.0.101': 'local',
      '10.20.0.102': 'remote-storage',
      '10.0.85.122': 'remote-storage',
      '10.10.0.102': 'remote-management',
    });
  });
});
