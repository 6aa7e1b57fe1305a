import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readBundle } from '../agent/bundle-read';
import { RerouteError } from '../errors/reroute-error';
import { loadManifest } from '../manifest';
import type { Manifest } from '../manifest/manifest-types';
import { LocalShellHost } from '../remote/local-shell-host';
import type { ExecOptions, ExecResult } from '../remote/ssh-connection';
import { observeCluster, probeCommand, type ObserveConnection, type ObserveEvent, type ObserveTarget } from './observe-cluster';
import type { EsxiObserved, ScvmObserved } from './observed-types';

const ROOT = path.join(__dirname, '..', '..');
const BUSYBOX = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p));

function manifest(over: { parallelism?: number; hostTimeoutSeconds?: number } = {}): Manifest {
  const bundle = readBundle(path.join(ROOT, 'esxi', 'agent'));
  const m = loadManifest(path.join(ROOT, 'examples', 'cluster-3node.yaml'), { bundledVersion: bundle.version });
  return {
    ...m,
    access: {
      ...m.access,
      parallelism: over.parallelism ?? m.access.parallelism,
      ssh: { ...m.access.ssh, hostTimeoutSeconds: over.hostTimeoutSeconds ?? m.access.ssh.hostTimeoutSeconds },
    },
  };
}

const PROBE_OK = (installDir: string): string =>
  [
    '@@zbs-reroute-probe v1',
    ...[
      ['args', `install=${installDir}\n`],
      ['now', '1790000000\n'],
      ['files', ''],
      ['crontab', '#min hour day mon dow command\n'],
      ['local_sh', ''],
      ['routes', ''],
      ['ps', ''],
      ['crond', 'pid=1\nalive=yes\n'],
    ].map(([n, b]) => `@@section ${n} ${Buffer.byteLength(b as string)} ok\n${b}`),
    '@@end 8',
    '',
  ].join('\n');

/** A scripted host: answers by command prefix. */
class FakeHost implements ObserveConnection {
  closed = false;
  hostKey?: string;
  constructor(private readonly answer: (cmd: string, opts?: ExecOptions) => Promise<ExecResult>) {}
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult> {
    return this.answer(cmd, opts);
  }
  close(): void {
    this.closed = true;
  }
}

const ok = (stdout: string): ExecResult => ({ stdout, stderr: '', code: 0 });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function healthy(m: Manifest, t: ObserveTarget, delayMs = 0): FakeHost {
  const node = m.nodes.find((n) => n.name === t.node);
  const h = new FakeHost(async (cmd) => {
    await sleep(delayMs);
    if (t.kind === 'esxi') return ok(PROBE_OK(`/vmfs/volumes/${node?.esxi.datastore}/zbs-reroute`));
    // The SCVM's own ZBS session (issue 11): listed by its storage IP, one client registered.
    if (cmd.includes('zbs-meta session list'))
      return ok(`UUID  Ip  Port\n----  --  ----\n1111-${t.node}  ${node?.scvm.storageIp}  10201\n`);
    if (cmd.includes('zbs-meta session show'))
      return ok(`UUID  Local_clients_ips\n----  -----------------\n1111-${t.node}  ${node?.esxi.storageIp}\n`);
    // Root's file (where old releases put the key) is read through sudo, only to clean it up.
    if (cmd.includes('/root/.ssh/authorized_keys')) {
      expect(cmd.startsWith('sudo -n ')).toBe(true);
      return ok('absent\n');
    }
    // The cluster key lives in the operator user's own file: read as that user, no sudo.
    if (cmd.includes('zbs-reroute-read')) {
      expect(cmd.startsWith('sudo')).toBe(false);
      expect(cmd).toContain(' .ssh/authorized_keys');
    }
    return ok(`present\nssh-ed25519 AAAA admin\nfrom="x" ssh-rsa BBBB zbs-reroute:${m.clusterName}\n`);
  });
  h.hostKey = 'ssh-ed25519 AAAAhostkey';
  return h;
}

describe('observeCluster', () => {
  it('observes every ESXi and SCVM, in manifest order, with typed progress events', async () => {
    const m = manifest();
    const events: ObserveEvent[] = [];
    const snap = await observeCluster(m, {
      connect: async (t) => healthy(m, t, t.node === 'node-1' ? 30 : 0),
      probeScript: Buffer.from('#probe'),
      onEvent: (e) => events.push(e),
      now: () => new Date('2026-11-24T21:00:00Z'),
    });
    expect(snap.takenAt).toBe('2026-11-24T21:00:00.000Z');
    expect(Object.keys(snap.esxi)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(Object.keys(snap.scvm)).toEqual(['node-1', 'node-2', 'node-3']);
    expect((snap.esxi['node-2'] as EsxiObserved).crondRunning).toBe(true);
    expect(snap.scvm['node-1']).toEqual({
      kind: 'scvm',
      node: 'node-1',
      reachable: true,
      managedKeys: [`from="x" ssh-rsa BBBB zbs-reroute:${m.clusterName}`],
      foreignKeyCount: 1,
      hostKey: 'ssh-ed25519 AAAAhostkey',
      zbsSession: { sessionId: '1111-node-1', localClientsIps: [m.nodes[0]!.esxi.storageIp] },
    } satisfies ScvmObserved);
    expect(events.filter((e) => e.type === 'host-start')).toHaveLength(6);
    expect(events.filter((e) => e.type === 'host-observed')).toHaveLength(6);
  });

  it('never works on more hosts at once than access.parallelism', async () => {
    const m = manifest({ parallelism: 2 });
    let active = 0;
    let peak = 0;
    await observeCluster(m, {
      probeScript: Buffer.from(''),
      connect: async (t) => {
        active++;
        peak = Math.max(peak, active);
        const h = healthy(m, t, 20);
        const exec = h.exec.bind(h);
        h.exec = async (cmd, o) => {
          try {
            return await exec(cmd, o);
          } finally {
            active--;
          }
        };
        return h;
      },
    });
    expect(peak).toBe(2);
  });

  it('turns a hung host into Unreachable at the host timeout, closes it, and does not hold up the others', async () => {
    const m = manifest({ hostTimeoutSeconds: 0.3 });
    const hung = new FakeHost(() => new Promise(() => undefined));
    const started = Date.now();
    const snap = await observeCluster(m, {
      probeScript: Buffer.from(''),
      connect: async (t) => (t.node === 'node-2' && t.kind === 'esxi' ? hung : healthy(m, t)),
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(snap.esxi['node-2']).toEqual({
      kind: 'esxi',
      node: 'node-2',
      reachable: false,
      reason: 'no answer within the host timeout (0.3 s)',
    });
    expect(hung.closed).toBe(true);
    expect(snap.esxi['node-1']?.reachable).toBe(true);
    expect(snap.esxi['node-3']?.reachable).toBe(true);
  });

  it('reports refused connections, failing probes and sudo refusals as reasons', async () => {
    const m = manifest();
    const snap = await observeCluster(m, {
      probeScript: Buffer.from(''),
      connect: async (t) => {
        if (t.node === 'node-1' && t.kind === 'esxi')
          throw new RerouteError('HOST_UNREACHABLE', 'connection refused by 10.10.0.11:22', 'check sshd');
        if (t.node === 'node-2' && t.kind === 'esxi')
          return new FakeHost(async () => ({ stdout: '', stderr: 'sh: /tmp: No space left on device\u001b[2J', code: 70 }));
        if (t.node === 'node-3' && t.kind === 'scvm')
          return new FakeHost(async () => ({ stdout: '', stderr: 'sudo: a password is required\n', code: 1 }));
        return healthy(m, t);
      },
    });
    expect(snap.esxi['node-1']).toMatchObject({ reachable: false, reason: 'connection refused by 10.10.0.11:22' });
    expect(snap.esxi['node-2']).toMatchObject({
      reachable: false,
      reason: 'the probe exited with status 70: sh: /tmp: No space left on device\\x1b[2J',
    });
    expect(snap.scvm['node-3']).toMatchObject({ reachable: false });
    expect((snap.scvm['node-3'] as { reason: string }).reason).toMatch(/NOPASSWD/);
  });

  it('limits observation to the given nodes', async () => {
    const m = manifest();
    const snap = await observeCluster(m, { probeScript: Buffer.from(''), nodes: ['node-3'], connect: async (t) => healthy(m, t) });
    expect(Object.keys(snap.esxi)).toEqual(['node-3']);
    expect(Object.keys(snap.scvm)).toEqual(['node-3']);
  });

  (BUSYBOX ? it : it.skip)(
    'runs the real probe.sh through a shell host and parses what it prints',
    async () => {
      const m = manifest();
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'observe-'));
      try {
        fs.mkdirSync(path.join(root, 'var/spool/cron/crontabs'), { recursive: true });
        fs.writeFileSync(path.join(root, 'var/spool/cron/crontabs/root'), '#min hour day mon dow command\n');
        const connect = async (t: ObserveTarget): Promise<ObserveConnection> =>
          t.kind === 'esxi'
            ? new LocalShellHost([BUSYBOX as string, 'sh'], { PATH: '/usr/bin:/bin', ZBS_PROBE_ROOT: root })
            : healthy(m, t);
        const snap = await observeCluster(m, { connect });
        const e = snap.esxi['node-1'] as EsxiObserved;
        expect(e.reachable).toBe(true);
        expect(e.crontab).toBe('#min hour day mon dow command\n');
        expect(e.files).toEqual({});
        expect(probeCommand(m, m.nodes[0] as Manifest['nodes'][number])).toBe(
          '/bin/sh -s -- /vmfs/volumes/datastore1/zbs-reroute /var/run/zbs-reroute 192.168.33.2 10.20.0.101 10.10.0.101 10.20.0.102 10.10.0.102 10.20.0.103 10.10.0.103',
        );
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    },
    20000,
  );
});
