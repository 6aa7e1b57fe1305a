/**
 * Client side of test/remote/ssh-connection.test.ts. Runs INSIDE the test's
 * network namespace (`ip netns exec zrr-ssh-* tsx ssh-scenarios.ts JSON`),
 * performs one scenario against the namespace's sshd and prints one line
 * `RESULT {json}`. Every scenario is bounded by its own timeouts.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Server } from 'ssh2';
import { RerouteError } from '../../src/errors/reroute-error';
import { shellCommand, shellQuote } from '../../src/core/shell-quote';
import { connectSsh, type ConnectSshOptions, type RemoteHost, type SshCredential } from '../../src/remote/ssh-connection';
import { uploadFileAtomic } from '../../src/remote/upload-file-atomic';
import { KnownHostsStore, type PinResult } from '../../src/state/known-hosts-store';
import { Sensitive } from '../../src/core/sensitive';
import { readProcStat } from '../../src/core/proc-stat';

interface Input {
  name: string;
  sshd: {
    dir: string;
    port: number;
    pid: number;
    clientKeyPath: string;
    strangerKeyPath: string;
    hostKeyBase64: string;
    blackholeAddress: string;
  };
  [k: string]: unknown;
}

const input = JSON.parse(process.argv[2] as string) as Input;
const started = Date.now();
const pins: PinResult[] = [];

function errInfo(e: unknown): Record<string, unknown> {
  if (e instanceof RerouteError)
    return { code: e.code, message: e.message, fix: e.fix, json: JSON.stringify(e), inspected: inspect(e, { depth: 6 }) };
  return { code: 'NOT_A_REROUTE_ERROR', message: String(e) };
}

async function caught<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T; ms: number } | { ok: false; error: Record<string, unknown>; ms: number }> {
  const t = Date.now();
  try {
    return { ok: true, value: await p, ms: Date.now() - t };
  } catch (e) {
    return { ok: false, error: errInfo(e), ms: Date.now() - t };
  }
}

function options(over: Partial<ConnectSshOptions> & { knownHosts?: string; acceptNewKeyFor?: string[] } = {}): ConnectSshOptions {
  const host = over.host ?? '127.0.0.1';
  const port = over.port ?? input.sshd.port;
  const store = new KnownHostsStore(over.knownHosts ?? join(input.sshd.dir, 'known_hosts'), {
    acceptNewKeyFor: over.acceptNewKeyFor ?? [],
  });
  const credential: SshCredential = over.credential ?? { privateKey: new Sensitive(readFileSync(input.sshd.clientKeyPath)) };
  return {
    host,
    port,
    username: 'root',
    label: 'esxi-1',
    credential,
    hostKeyPolicy: store.policyFor('esxi-1', host, port, (r) => pins.push(r)),
    preferredHostKeyTypes: store.pinnedKeyTypes(host, port),
    readyTimeoutMs: 5000,
    keepaliveIntervalMs: 1000,
    keepaliveCountMax: 3,
    defaultCommandTimeoutMs: 10_000,
    ...over,
  };
}

/** All descendants of a pid (sshd forks a child per connection), read from /proc. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readProcStat(d);
    if (st) parent.set(Number(d), st.ppid); // else: exited
  }
  const out: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [pid, ppid] of parent) if (frontier.includes(ppid)) next.push(pid);
    out.push(...next);
    frontier = next;
  }
  return out;
}

function signalAll(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

type Scenario = () => Promise<Record<string, unknown>>;

const scenarios: Record<string, Scenario> = {
  async 'exec-basic'() {
    const host = await connectSsh(options());
    try {
      const full = await host.exec('echo out; echo err >&2; exit 3');
      // The raw bytes must match the decoded text; the comparison below is on the text fields.
      const { stdoutBytes, ...a } = full;
      if (stdoutBytes === undefined || stdoutBytes.toString('utf8') !== a.stdout)
        throw new Error('stdoutBytes missing or different from stdout');
      const b = await host.exec(shellCommand(['printf', '%s', "it's $(not) `run`\nline2"]));
      const c = await host.exec('cat', { stdin: 'from stdin' });
      const killed = await host.exec('kill -9 $$');
      // 30 commands at once on one connection: sshd allows 10 sessions, the limiter keeps us under.
      // The deadline counts queueing for a slot; it is generous because what is proven is the limiter, not speed.
      const many = await Promise.all(Array.from({ length: 30 }, (_, i) => host.exec(`sleep 0.2; echo ${i}`, { timeoutMs: 120_000 })));
      const sessions = new Set(many.map((r) => r.code));
      return { a, b, c, killed, manyOk: many.every((r, i) => r.code === 0 && r.stdout === `${i}\n`), sessions: [...sessions], pins };
    } finally {
      host.close();
    }
  },

  async 'second-contact'() {
    // Same known_hosts as exec-basic ran with: the key must now match.
    const host = await connectSsh(options());
    host.close();
    return { pins };
  },

  async upload() {
    const host = await connectSsh(options());
    try {
      const dir = join(input.sshd.dir, 'datastore', 'zbs reroute');
      mkdirSync(dir, { recursive: true });
      const path = join(dir, 'reroute-loop.sh');
      writeFileSync(path, 'old version\n');
      const content = Buffer.concat([
        Buffer.from('#!/bin/sh\nreroute_version=1.2.3\n'),
        Buffer.from([0, 255, 39, 10]),
        Buffer.alloc(256 * 1024, 'x'),
      ]);
      const res = await uploadFileAtomic(host, path, content, 0o700, { label: 'esxi-1' });
      const sameBytes = readFileSync(path).equals(content);
      const mode = statSync(path).mode & 0o7777;
      const leftovers = readdirSync(dir);
      // The same, with every command going through busybox ash as on ESXi.
      const busybox: RemoteHost = {
        exec: (cmd, o) => host.exec(shellCommand(['/bin/busybox', 'sh', '-c', cmd]), o),
        close: () => undefined,
      };
      const path2 = join(dir, 'reroute.conf');
      const res2 = await uploadFileAtomic(busybox, path2, Buffer.from("NODE_NAME='esxi-1'\n"), 0o600);
      const mode2 = statSync(path2).mode & 0o7777;
      const remoteHash = (await host.exec(`sha256sum ${shellQuote(path2)}`)).stdout.split(' ')[0];
      const missing = await caught(uploadFileAtomic(host, join(input.sshd.dir, 'no-such-dir', 'f'), Buffer.from('x'), 0o600));
      return { res, sameBytes, mode, leftovers, res2, mode2, remoteHash, missing };
    } finally {
      host.close();
    }
  },

  async timeout() {
    const host = await connectSsh(options());
    try {
      const slow = await caught(host.exec('sleep 2', { timeoutMs: 1000 }));
      const after = await host.exec('echo still-usable', { timeoutMs: 5000 });
      // OpenSSH cannot signal a root session's command, so `sleep 2` keeps its session until it ends.
      await new Promise((r) => setTimeout(r, 1500));
      // A burst of commands that all time out: every one settles by its deadline, none hangs.
      // OpenSSH cannot signal a root session's command, so the 8 that opened keep running there;
      // later commands on this connection either run or fail fast with a clear error.
      const t = Date.now();
      const burst = await Promise.all(Array.from({ length: 12 }, () => caught(host.exec('sleep 30', { timeoutMs: 500 }))));
      const burstMs = Date.now() - t;
      const afterBurst = await caught(host.exec('echo ok', { timeoutMs: 5000 }));
      const remoteSleepers = await caught(host.exec('ps -eo args | grep -c "^sleep 30"', { timeoutMs: 5000 }));
      return { slow, after, burstCodes: burst.map((b) => (b.ok ? 'ok' : b.error.code)), burstMs, afterBurst, remoteSleepers };
    } finally {
      host.close();
    }
  },

  async 'connect-timeout'() {
    return { r: await caught(connectSsh(options({ host: input.sshd.blackholeAddress, readyTimeoutMs: 1500 }))) };
  },

  async refused() {
    return { r: await caught(connectSsh(options({ port: 2 }))) };
  },

  async 'auth-fail'() {
    const password = 'Pw-NEVER-PRINT-93';
    const stranger = readFileSync(input.sshd.strangerKeyPath);
    const r = await caught(connectSsh(options({ credential: { privateKey: new Sensitive(stranger), password: new Sensitive(password) } })));
    const keyLine = stranger.toString().split('\n')[1] ?? 'x';
    const text = r.ok ? '' : JSON.stringify(r.error);
    return { r, leaksPassword: text.includes(password), leaksKey: text.includes(keyLine) };
  },

  async 'host-key-changed'() {
    const kh = join(mkdtempSync(join(input.sshd.dir, 'kh-')), 'known_hosts');
    // Pin some other ed25519 key for 127.0.0.1, as if the host had been reinstalled.
    const otherBlob = readFileSync(`${input.sshd.strangerKeyPath}.pub`, 'utf8').split(' ')[1] as string;
    writeFileSync(kh, `127.0.0.1 ssh-ed25519 ${otherBlob} zbs-reroute:node=esxi-1\n`);
    const refused = await caught(connectSsh(options({ knownHosts: kh })));
    const khAfterRefusal = readFileSync(kh, 'utf8');
    const accepted = await caught(connectSsh(options({ knownHosts: kh, acceptNewKeyFor: ['esxi-1'] })));
    if (accepted.ok) accepted.value.close();
    return { refused, accepted: { ok: accepted.ok, ms: accepted.ms }, khAfterRefusal, khAfterAccept: readFileSync(kh, 'utf8'), pins };
  },

  async 'sshd-hung'() {
    const host = await connectSsh(options({ keepaliveIntervalMs: 500, keepaliveCountMax: 3 }));
    const sshdPids = [input.sshd.pid, ...descendants(input.sshd.pid)];
    signalAll(sshdPids, 'SIGSTOP');
    try {
      const cmd = await caught(host.exec('echo hello', { timeoutMs: 1500 }));
      // Keepalives go unanswered: the connection is declared dead, and later commands fail at once.
      await new Promise((r) => setTimeout(r, 2500));
      const later = await caught(host.exec('echo again', { timeoutMs: 5000 }));
      // A new connection to the stopped listener: TCP connects, the handshake never comes.
      const fresh = await caught(connectSsh(options({ readyTimeoutMs: 1500 })));
      return { cmd, later, fresh, stopped: sshdPids.length };
    } finally {
      signalAll(sshdPids, 'SIGCONT');
      host.close();
    }
  },

  async 'password-server'() {
    // ssh2's own server in this namespace stands in for ESXi's sshd, whose root
    // password login goes through keyboard-interactive (PAM).
    const hostKeyPem = readFileSync(input.sshd.strangerKeyPath);
    const password = 'Esxi-Root-Pw-77';
    const mode = { current: 'password' as 'password' | 'kbd-password' | 'kbd-otp' };
    const server = new Server({ hostKeys: [hostKeyPem] }, (client) => {
      client.on('authentication', (ctx) => {
        if (mode.current === 'password' && ctx.method === 'password') return ctx.password === password ? ctx.accept() : ctx.reject();
        if (mode.current !== 'password' && ctx.method === 'keyboard-interactive') {
          const prompt = mode.current === 'kbd-password' ? 'Password: ' : 'Verification code: ';
          ctx.prompt([{ prompt, echo: false }], (answers) =>
            answers[0] === password ? ctx.accept() : ctx.reject(['keyboard-interactive']),
          );
          return;
        }
        ctx.reject(mode.current === 'password' ? ['password'] : ['keyboard-interactive']);
      });
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept();
          session.on('exec', (acceptExec, _reject, info) => {
            const ch = acceptExec();
            ch.write(`ran: ${info.command}\n`);
            ch.exit(0);
            ch.end();
          });
        });
      });
      client.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(2022, '127.0.0.1', r));
    const kh = join(mkdtempSync(join(input.sshd.dir, 'pw-')), 'known_hosts');
    const conn = (pw: string): ConnectSshOptions =>
      options({ port: 2022, knownHosts: kh, credential: { password: new Sensitive(pw) }, readyTimeoutMs: 4000 });
    const run = async (): Promise<unknown> => {
      const h = await connectSsh(conn(password));
      const r = await h.exec('uname -a');
      h.close();
      return r.stdout;
    };
    try {
      const viaPassword = await caught(run());
      mode.current = 'kbd-password';
      const viaKeyboard = await caught(run());
      const wrong = await caught(connectSsh(conn('not-the-password')));
      mode.current = 'kbd-otp';
      const otpNoHandler = await caught(connectSsh(conn(password)));
      const text = JSON.stringify([wrong, otpNoHandler]);
      return { viaPassword, viaKeyboard, wrong, otpNoHandler, leaks: text.includes(password) || text.includes('not-the-password') };
    } finally {
      server.close();
    }
  },
};

async function main(): Promise<void> {
  const fn = scenarios[input.name];
  if (!fn) throw new Error(`unknown scenario ${input.name}`);
  const result = await fn();
  const elapsedMs = Date.now() - started;
  // Closed connections must not leave sockets behind (hardClose destroys a hung peer's socket after 500 ms).
  await new Promise((r) => setTimeout(r, 800));
  const openSockets = process.getActiveResourcesInfo().filter((r) => /TCP/i.test(r)).length;
  process.stdout.write(`RESULT ${JSON.stringify({ ok: true, elapsedMs, openSockets, ...result })}\n`);
}

// A scenario must never hang the test: hard stop. Generous: exec-basic (30 commands through a
// 10-session limiter, tsx start-up) took 30 s in a clean clone and over 45 s in a busier tree.
setTimeout(() => {
  process.stdout.write(`RESULT ${JSON.stringify({ ok: false, elapsedMs: Date.now() - started, hung: true })}\n`);
  process.exit(3);
}, 90_000).unref();

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stdout.write(
      `RESULT ${JSON.stringify({ ok: false, elapsedMs: Date.now() - started, error: errInfo(e), stack: e instanceof Error ? e.stack : undefined })}\n`,
    );
    process.exit(1);
  },
);
