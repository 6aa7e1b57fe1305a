import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../errors/reroute-error';
import type { ObservedCluster } from './observed-types';
import * as gen from '../../test/fixtures/snapshots/generate-snapshots';
import { planCluster } from '../plan/plan-cluster';
import { parseSnapshot, readSnapshot, renderSnapshot, writeSnapshot } from './snapshot';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'snapshots');

function problemsOf(text: string): InputError['problems'] {
  try {
    parseSnapshot(text, 'snap.json');
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('SNAPSHOT_INVALID');
    return (err as InputError).problems;
  }
  throw new Error('expected SNAPSHOT_INVALID');
}

const installedText = (): string => fs.readFileSync(path.join(FIXTURES, 'installed-3node.json'), 'utf8');

describe('snapshot fixtures', () => {
  it.each(['fresh-3node.json', 'installed-3node.json', 'legacy-3node.json', 'one-unreachable.json'])(
    '%s is a valid snapshot of 3 ESXi hosts and 3 SCVMs',
    (name) => {
      const snap = readSnapshot(path.join(FIXTURES, name));
      expect(Object.keys(snap.esxi)).toEqual(['node-1', 'node-2', 'node-3']);
      expect(Object.keys(snap.scvm)).toEqual(['node-1', 'node-2', 'node-3']);
    },
  );

  it('one-unreachable.json has exactly one unreachable host', () => {
    const snap = readSnapshot(path.join(FIXTURES, 'one-unreachable.json'));
    expect(
      Object.values(snap.esxi)
        .filter((h) => !h.reachable)
        .map((h) => h.node),
    ).toEqual(['node-3']);
  });
});

describe('parseSnapshot refuses broken snapshots with positions', () => {
  it('points at a JSON syntax error', () => {
    const [p] = problemsOf('{\n  "format": "zbs-reroute/observed-v1",\n  "takenAt": oops\n}');
    expect(p).toMatchObject({ rule: 'json.syntax', line: 3 });
  });

  it('points at a value of the wrong type and at an unknown key, reporting both', () => {
    const text = installedText()
      .replace('"crondRunning": true', '"crondRunning": "yes"')
      .replace('"foreignKeyCount": 1', '"foreignKeyCount": 1, "extra": 2');
    const problems = problemsOf(text);
    const lines = text.split('\n');
    const typeProblem = problems.find((p) => p.rule === 'schema.type');
    expect(typeProblem?.message).toMatch(/crondRunning/);
    expect(lines[(typeProblem?.line ?? 0) - 1]).toContain('"crondRunning": "yes"');
    const extra = problems.find((p) => p.rule === 'schema.additionalProperties');
    expect(extra?.message).toMatch(/"extra"/);
    expect(lines[(extra?.line ?? 0) - 1]).toContain('"extra"');
  });

  it('refuses a bad hash, a bad mode and an unreachable host without a reason', () => {
    const snap = JSON.parse(installedText()) as ObservedCluster;
    const h = snap.esxi['node-1'] as Extract<ObservedCluster['esxi'][string], { reachable: true }>;
    const f = Object.values(h.files)[0];
    if (!f) throw new Error('fixture has no files');
    f.sha256 = 'zz';
    f.mode = '600';
    snap.esxi['node-2'] = { kind: 'esxi', node: 'node-2', reachable: false } as never;
    const rules = problemsOf(JSON.stringify(snap, null, 2)).map((p) => `${p.rule} ${p.message}`);
    expect(rules.some((r) => /pattern .*sha256/.test(r))).toBe(true);
    expect(rules.some((r) => /pattern .*mode/.test(r))).toBe(true);
    expect(rules.some((r) => /missing field "reason"/.test(r))).toBe(true);
  });

  it('refuses a host filed under another node name, and an SCVM record in the ESXi map', () => {
    const snap = JSON.parse(installedText()) as ObservedCluster;
    (snap.esxi['node-1'] as { node: string }).node = 'node-9';
    expect(problemsOf(JSON.stringify(snap, null, 2))[0]?.rule).toBe('semantic.node-name');
    const snap2 = JSON.parse(installedText()) as ObservedCluster;
    (snap2.esxi as Record<string, unknown>)['node-1'] = snap2.scvm['node-1'];
    expect(problemsOf(JSON.stringify(snap2, null, 2)).length).toBeGreaterThan(0);
  });

  it('refuses another format and a missing file', () => {
    expect(problemsOf('{"format":"zbs-reroute/observed-v2","takenAt":"2026-01-01T00:00:00Z","esxi":{},"scvm":{}}')[0]?.rule).toBe(
      'schema.const',
    );
    expect(() => readSnapshot('/nonexistent/snap.json')).toThrow(/cannot read the snapshot \(ENOENT\)/);
  });
});

describe('writeSnapshot', () => {
  it('writes a snapshot that reads back identical, atomically and 0600', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snap-'));
    try {
      const snap = parseSnapshot(installedText(), 'x');
      const file = path.join(dir, 'snap.json');
      writeSnapshot(file, snap);
      expect(readSnapshot(file)).toEqual(snap);
      expect(fs.readFileSync(file, 'utf8')).toBe(renderSnapshot(snap));
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readdirSync(dir)).toEqual(['snap.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps an SCVM's ZBS session (id and client IPs, or the problem) and refuses a malformed one", () => {
    const snap = parseSnapshot(installedText(), 'x');
    const [first, second] = Object.keys(snap.scvm);
    const s1 = snap.scvm[first!];
    const s2 = snap.scvm[second!];
    if (!s1?.reachable || !s2?.reachable) throw new Error('fixture');
    s1.zbsSession = { sessionId: '7bc26e9b-17d3-47fa-b1ba-1527fd4974c9', localClientsIps: ['10.10.0.11', '10.20.0.11'] };
    s2.zbsSession = { problem: 'zbs-meta session list failed (exit 1)' };
    expect(parseSnapshot(renderSnapshot(snap), 'x')).toEqual(snap);
    const bad = JSON.parse(renderSnapshot(snap)) as { scvm: Record<string, { zbsSession: unknown }> };
    bad.scvm[first!]!.zbsSession = { sessionId: 'x; reboot', localClientsIps: [] };
    expect(() => parseSnapshot(JSON.stringify(bad), 'x')).toThrow();
  });

  it('refuses to write an invalid snapshot', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snap-'));
    try {
      expect(() => writeSnapshot(path.join(dir, 's.json'), { format: 'nope' } as unknown as ObservedCluster)).toThrow(InputError);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('snapshot fixtures mean what their names say (planner view)', () => {
  // Built fresh from the generator, so a changed agent bundle cannot make this stale.
  const snaps = gen.buildSnapshots();
  const plan = (name: string) =>
    planCluster(gen.desired, snaps[name] as ObservedCluster, {
      mode: 'apply',
      now: '2026-11-24T21:00:00.000Z',
      manifestSha256: '0'.repeat(64),
    });

  it('installed-3node: nothing to do', () => {
    expect(
      plan('installed-3node.json')
        .hosts.filter((h) => h.change !== 'noop')
        .map((h) => `${h.host}/${h.node}: ${h.reasons.map((r) => r.detail).join('; ')}`),
    ).toEqual([]);
  });

  it('fresh-3node: every ESXi host is created', () => {
    expect(
      plan('fresh-3node.json')
        .hosts.filter((h) => h.host === 'esxi')
        .map((h) => h.change),
    ).toEqual(['create', 'create', 'create']);
  });

  it('legacy-3node: every ESXi host is taken over', () => {
    expect(
      plan('legacy-3node.json')
        .hosts.filter((h) => h.host === 'esxi')
        .map((h) => h.change),
    ).toEqual(['takeover', 'takeover', 'takeover']);
  });

  it('one-unreachable: node-3 is unreachable, the others need nothing', () => {
    const p = plan('one-unreachable.json');
    expect(p.hosts.filter((h) => h.change !== 'noop').map((h) => `${h.host}/${h.node}:${h.change}`)).toEqual(['esxi/node-3:unreachable']);
  });

  it('the committed fixtures validate and have the same shape as freshly built ones', () => {
    for (const [name, snap] of Object.entries(snaps)) {
      const onDisk = readSnapshot(path.join(FIXTURES, name));
      expect(Object.keys(onDisk.esxi)).toEqual(Object.keys(snap.esxi));
      expect(Object.values(onDisk.esxi).map((h) => h.reachable)).toEqual(Object.values(snap.esxi).map((h) => h.reachable));
    }
  });
});
