import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * A real OpenSSH sshd in its own network namespace (`zrr-ssh-*`), listening
 * on that namespace's 127.0.0.1. Nothing is added to the root namespace; the
 * SSH client side runs inside the namespace too (see runScenario).
 */
export interface NetnsSshd {
  ns: string;
  dir: string;
  port: number;
  /** The listener's pid (root namespace view). */
  pid: number;
  /** Client key that is in authorized_keys (root login). */
  clientKeyPath: string;
  /** A key sshd does not know. */
  strangerKeyPath: string;
  /** base64 of the server's ed25519 host key blob. */
  hostKeyBase64: string;
  /** An address inside the namespace that silently drops packets (connect never completes). */
  blackholeAddress: string;
  stop(): void;
}

const REPO = resolve(__dirname, '..', '..');

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Remove namespaces left by an earlier crashed run of this test (only ours, by prefix). */
export function cleanupStaleNamespaces(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!/^zrr-ssh-\d+-[0-9a-f]+$/.test(name)) continue;
    const pid = Number(name.split('-')[2]);
    if (pid === process.pid || processAlive(pid)) continue;
    killNamespacePids(name);
    spawnSync('ip', ['netns', 'del', name]);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killNamespacePids(ns: string): void {
  const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')
    .map(Number)
    .filter((p) => p > 1);
  for (const p of pids) {
    for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(p, sig);
      } catch {
        /* gone */
      }
    }
  }
}

export async function startNetnsSshd(): Promise<NetnsSshd> {
  const ns = `zrr-ssh-${process.pid}-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'zrr-sshd-'));
  let child: ChildProcess | undefined;
  const stop = (): void => {
    if (child?.pid) {
      for (const sig of ['SIGCONT', 'SIGTERM'] as const) {
        try {
          process.kill(child.pid, sig);
        } catch {
          /* gone */
        }
      }
    }
    killNamespacePids(ns);
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('ip', ['netns', 'add', ns]);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // A veth pair inside the namespace with a fixed neighbour entry for 10.98.7.99: SYNs go out to a MAC
    // nobody owns and vanish, so a TCP connect there hangs like a dead host.
    run('ip', ['-n', ns, 'link', 'add', 'zrrdrop0', 'type', 'veth', 'peer', 'name', 'zrrdrop1']);
    run('ip', ['-n', ns, 'addr', 'add', '10.98.7.1/24', 'dev', 'zrrdrop0']);
    run('ip', ['-n', ns, 'link', 'set', 'zrrdrop0', 'up']);
    run('ip', ['-n', ns, 'link', 'set', 'zrrdrop1', 'up']);
    run('ip', ['-n', ns, 'neigh', 'replace', '10.98.7.99', 'lladdr', '02:00:5e:98:07:99', 'dev', 'zrrdrop0', 'nud', 'permanent']);

    for (const k of ['host_ed25519', 'client', 'stranger'])
      run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(dir, k)]);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const conf = join(dir, 'sshd_config');
    writeFileSync(
      conf,
      [
        'ListenAddress 127.0.0.1',
        'Port 22',
        `HostKey ${join(dir, 'host_ed25519')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'UsePAM no',
        'StrictModes no',
        'PermitRootLogin yes',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'MaxSessions 10',
        'MaxStartups 50',
        'LoginGraceTime 30',
        'LogLevel DEBUG1',
        '',
      ].join('\n'),
    );
    const logPath = join(dir, 'sshd.log');
    child = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-E', logPath, '-f', conf], { stdio: 'ignore' });
    const log = (): string => {
      try {
        return readFileSync(logPath, 'utf8').slice(-4000);
      } catch {
        return '';
      }
    };
    // Wait (bounded) until sshd listens.
    for (let i = 0; i < 50; i++) {
      const out = spawnSync('ip', ['netns', 'exec', ns, 'ss', '-Hltn', 'sport = :22'], { encoding: 'utf8' }).stdout ?? '';
      if (out.includes('127.0.0.1:22')) break;
      if (child.exitCode !== null) throw new Error(`sshd exited: ${log()}`);
      if (i === 49) throw new Error(`sshd did not start listening: ${log()}`);
      sleepMs(100);
    }
    const hostKeyBase64 = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').split(' ')[1] as string;
    return {
      ns,
      dir,
      port: 22,
      pid: child.pid as number,
      clientKeyPath: join(dir, 'client'),
      strangerKeyPath: join(dir, 'stranger'),
      hostKeyBase64,
      blackholeAddress: '10.98.7.99',
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}

export interface ScenarioOutcome {
  ok: boolean;
  elapsedMs: number;
  [k: string]: unknown;
}

/**
 * Run one client scenario (test/remote/ssh-scenarios.ts) inside the
 * namespace, where 127.0.0.1 is the test sshd. Bounded by `timeoutMs`.
 */
export function runScenario(sshd: NetnsSshd, name: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): ScenarioOutcome {
  const payload = JSON.stringify({
    name,
    sshd: {
      dir: sshd.dir,
      port: sshd.port,
      pid: sshd.pid,
      clientKeyPath: sshd.clientKeyPath,
      strangerKeyPath: sshd.strangerKeyPath,
      hostKeyBase64: sshd.hostKeyBase64,
      blackholeAddress: sshd.blackholeAddress,
    },
    ...args,
  });
  const r = spawnSync(
    'ip',
    ['netns', 'exec', sshd.ns, join(REPO, 'node_modules', '.bin', 'tsx'), join(__dirname, 'ssh-scenarios.ts'), payload],
    { encoding: 'utf8', timeout: timeoutMs, cwd: REPO },
  );
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`scenario ${name} gave no result (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice('RESULT '.length)) as ScenarioOutcome;
}
