import { Client, type ClientChannel, type ConnectConfig, type KeyboardInteractiveCallback, type ParsedKey, type Prompt } from 'ssh2';
import { RerouteError } from '../errors/reroute-error';
import { reveal, type Sensitive } from '../core/sensitive';
import { ChannelLimiter } from './channel-limiter';
import { describeHostKey } from './host-key';
import { mapSshError, type SshTarget } from './ssh-errors';

export interface ExecOptions {
  /** Fed to the command's stdin, then stdin is closed. Without it stdin is closed at once. */
  stdin?: string | Buffer;
  /** Whole-command deadline, including the wait for a free channel. */
  timeoutMs?: number;
  /** Output beyond this (stdout + stderr) kills the command: hostile or runaway hosts. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  stdout: string;
  /** stdout as received: framing that counts bytes (the probe) must not go through UTF-8 decoding. */
  stdoutBytes?: Buffer;
  stderr: string;
  /** Exit status; null when the command died by a signal or the channel closed without one. */
  code: number | null;
  signal?: string;
}

/** A host we can run shell commands on. ssh2 in production; a local shell in tests. */
export interface RemoteHost {
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): void;
}

/**
 * A credential after resolution (see src/state/credentials.ts). Secrets may be
 * plain or wrapped in Sensitive; they are unwrapped only inside the handshake.
 */
export interface SshCredential {
  privateKey?: Buffer | Sensitive<Buffer>;
  passphrase?: string | Sensitive<string>;
  /** privateKey already decrypted with passphrase: used instead of both. */
  decryptedKey?: ParsedKey | Sensitive<ParsedKey>;
  password?: string | Sensitive<string>;
  /** Path of an ssh-agent socket. */
  agent?: string;
}

export type HostKeyDecision = 'accept' | 'reject';

/**
 * Decides whether to trust the key the server presented. May throw a
 * RerouteError (e.g. HOST_KEY_CHANGED); connectSsh then rejects with it.
 */
export type HostKeyPolicy = (fingerprint: string, keyType: string, rawKey: Buffer) => HostKeyDecision | Promise<HostKeyDecision>;

/**
 * Answers keyboard-interactive prompts that are not a plain password prompt
 * (e.g. a one-time code). Must always resolve: an unanswered prompt would
 * leave the handshake waiting until readyTimeout.
 */
export type KeyboardInteractiveHandler = (name: string, instructions: string, prompts: Array<{ prompt: string; echo: boolean }>) => Promise<string[]>;

export interface ConnectSshOptions {
  host: string;
  port?: number;
  username: string;
  /** Node name, for messages. */
  label?: string;
  credential: SshCredential;
  hostKeyPolicy: HostKeyPolicy;
  /** Key types already pinned for this host, offered first so a pinned host is not seen with a new key type. */
  preferredHostKeyTypes?: string[];
  keyboardInteractive?: KeyboardInteractiveHandler;
  /** TCP connect + handshake + authentication. */
  readyTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  /** Used when exec() is called without timeoutMs. Default 60 s. */
  defaultCommandTimeoutMs?: number;
  /** Channels open at once on this connection. Default 8 (OpenSSH allows 10). */
  maxChannels?: number;
  /** Default 64 MiB. */
  defaultMaxOutputBytes?: number;
}

const PASSWORD_PROMPT = /pass(word|code|phrase)?\s*:?\s*$/i;
const ALL_HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** Host key algorithm names for a key type (an RSA key signs with three algorithms). */
function algorithmsForKeyType(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

export function hostKeyAlgorithmOrder(preferredKeyTypes: string[] | undefined): string[] {
  const first = (preferredKeyTypes ?? []).flatMap(algorithmsForKeyType).filter((a) => ALL_HOST_KEY_ALGORITHMS.includes(a));
  return [...new Set([...first, ...ALL_HOST_KEY_ALGORITHMS])];
}

type AuthAttempt =
  | { type: 'publickey'; username: string; key: Buffer | ParsedKey; passphrase?: string }
  | { type: 'agent'; username: string; agent: string }
  | { type: 'password'; username: string; password: string }
  | { type: 'keyboard-interactive'; username: string; prompt: (name: string, instructions: string, lang: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => void };

/**
 * The methods we try, in order. keyboard-interactive is only ever offered with
 * a handler that always answers: ssh2's bare `tryKeyboard` hangs the
 * handshake. ESXi's sshd asks for the root password through
 * keyboard-interactive (PAM), so a password is offered both ways.
 */
function authAttempts(opts: ConnectSshOptions): AuthAttempt[] {
  const { username, credential: c } = opts;
  const out: AuthAttempt[] = [];
  const key = reveal(c.privateKey);
  const decrypted = reveal(c.decryptedKey);
  if (decrypted) out.push({ type: 'publickey', username, key: decrypted });
  else if (key) {
    const passphrase = reveal(c.passphrase);
    out.push(passphrase === undefined ? { type: 'publickey', username, key } : { type: 'publickey', username, key, passphrase });
  }
  if (c.agent) out.push({ type: 'agent', username, agent: c.agent });
  const password = reveal(c.password);
  if (password !== undefined) out.push({ type: 'password', username, password });
  if (password !== undefined || opts.keyboardInteractive) {
    let passwordAnswers = 0;
    out.push({
      type: 'keyboard-interactive',
      username,
      prompt: (name, instructions, _lang, prompts, finish) => {
        if (prompts.length > 0 && password !== undefined && passwordAnswers < 2 && prompts.every((p) => !p.echo && PASSWORD_PROMPT.test(p.prompt))) {
          passwordAnswers++;
          finish(prompts.map(() => password));
          return;
        }
        if (!opts.keyboardInteractive) {
          finish(prompts.map(() => ''));
          return;
        }
        opts.keyboardInteractive(name, instructions, prompts.map((p) => ({ prompt: p.prompt, echo: p.echo === true })))
          .then(finish, () => finish(prompts.map(() => '')));
      },
    });
  }
  return out;
}

/**
 * Open ONE SSH connection to a host; every command of the run goes over it.
 * Resolves once authenticated. Rejects with a RerouteError (HOST_UNREACHABLE,
 * AUTH_FAILED, HOST_KEY_CHANGED, CREDENTIAL_MISSING) and never hangs past
 * readyTimeoutMs.
 */
export function connectSsh(opts: ConnectSshOptions): Promise<SshRemoteHost> {
  const port = opts.port ?? 22;
  const attempts = authAttempts(opts);
  const target: SshTarget = {
    label: opts.label,
    host: opts.host,
    port,
    username: opts.username,
    authMethods: [...new Set(attempts.map((a) => a.type))],
    readyTimeoutMs: opts.readyTimeoutMs,
  };
  if (attempts.length === 0) {
    return Promise.reject(new RerouteError('CREDENTIAL_MISSING', `No credential to log in to ${opts.label ?? opts.host} as ${opts.username}`, 'Set a key file, agent, or password source for this host in the manifest\'s access section.'));
  }

  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let policyError: unknown;
    // Hard stop in case ssh2 never reports (e.g. a policy promise that never settles).
    const guard = setTimeout(() => fail(Object.assign(new Error('Timed out while waiting for handshake'), { level: 'client-timeout' })), opts.readyTimeoutMs + 2000);

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      hardClose(client);
      reject(mapSshError(policyError ?? err, target));
    };

    client.on('error', (err) => fail(err));
    client.on('close', () => fail(new Error('Connection closed before login completed')));
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      client.removeAllListeners('error');
      client.removeAllListeners('close');
      resolve(new SshRemoteHost(client, target, opts));
    });

    let next = 0;
    const config: ConnectConfig = {
      host: opts.host,
      port,
      username: opts.username,
      readyTimeout: opts.readyTimeoutMs,
      keepaliveInterval: opts.keepaliveIntervalMs,
      keepaliveCountMax: opts.keepaliveCountMax,
      algorithms: { serverHostKey: hostKeyAlgorithmOrder(opts.preferredHostKeyTypes) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
      hostVerifier: (rawKey: Buffer, verify: (valid: boolean) => void): void => {
        Promise.resolve()
          .then(() => {
            const info = describeHostKey(rawKey);
            return opts.hostKeyPolicy(info.fingerprint, info.keyType, rawKey);
          })
          .then(
            (decision) => {
              if (decision !== 'accept') {
                policyError = new RerouteError('HOST_KEY_CHANGED', `The host key of ${opts.label ?? opts.host} was refused`, 'Check the host key against the pinned one in the state folder\'s known_hosts.');
              }
              verify(decision === 'accept');
            },
            (err: unknown) => {
              policyError = err;
              verify(false);
            },
          );
      },
      authHandler: (methodsLeft: string[] | null, _partial: boolean | null, callback: (next: AuthAttempt | false) => void) => {
        // methodsLeft is null before the server has told us what it accepts.
        while (next < attempts.length) {
          const a = attempts[next++] as AuthAttempt;
          const wire = a.type === 'agent' ? 'publickey' : a.type;
          if (methodsLeft === null || methodsLeft.includes(wire)) {
            callback(a);
            return;
          }
        }
        callback(false);
      },
    } as ConnectConfig;
    try {
      client.connect(config);
    } catch (err) {
      fail(err);
    }
  });
}

/** End the connection; if the peer is hung and never closes, destroy the socket. */
function hardClose(client: Client): void {
  try {
    client.end();
  } catch {
    /* already gone */
  }
  // end() only half-closes; a stopped peer would keep the socket (and jest) alive.
  const sock = (client as unknown as { _sock?: { destroy(): void } })._sock;
  setTimeout(() => sock?.destroy(), 500).unref();
}

/**
 * Ask sshd to SIGKILL the command's process group. OpenSSH does not kill a
 * non-pty command when its channel closes: a hung `sleep` would keep its
 * session (and a MaxSessions slot) until it ends on its own. ssh2's
 * `signal()` refuses once stdin was ended, which every exec does at once, so
 * the request is sent through the protocol object directly.
 */
function sendKill(ch: ClientChannel): void {
  const c = ch as unknown as { outgoing?: { id?: number; state?: string }; _client?: { _protocol?: { signal(id: number, name: string): void } } };
  try {
    if ((c.outgoing?.state === 'open' || c.outgoing?.state === 'eof') && typeof c.outgoing.id === 'number') c._client?._protocol?.signal(c.outgoing.id, 'KILL');
  } catch {
    /* connection already gone */
  }
}

interface Pending {
  fail(err: RerouteError): void;
}

export class SshRemoteHost implements RemoteHost {
  private readonly limiter: ChannelLimiter;
  private readonly pending = new Set<Pending>();
  private closedError: RerouteError | undefined;
  /** Commands that timed out after their channel opened (they may still run on the host). */
  private timedOut = 0;
  private lastError: unknown;

  constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly opts: ConnectSshOptions,
  ) {
    this.limiter = new ChannelLimiter(opts.maxChannels ?? 8);
    client.on('error', (err) => {
      this.lastError = err;
    });
    client.on('close', () => {
      const err = this.lastError !== undefined
        ? mapSshError(this.lastError, target)
        : new RerouteError('HOST_UNREACHABLE', `The SSH connection to ${this.where()} closed`, 'The host or its sshd went away; check the host and re-run.');
      this.shutDown(err);
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  private where(): string {
    return this.target.label ?? this.target.host;
  }

  private shutDown(err: RerouteError): void {
    if (!this.closedError) this.closedError = err;
    for (const p of [...this.pending]) p.fail(err);
    this.pending.clear();
  }

  close(): void {
    this.shutDown(new RerouteError('INTERNAL', `The SSH connection to ${this.where()} was already closed by this program`, 'This is a bug in zbs-reroute; please report it.'));
    hardClose(this.client);
  }

  async exec(cmd: string, execOpts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closedError) throw this.closedError;
    const timeoutMs = execOpts.timeoutMs ?? this.opts.defaultCommandTimeoutMs ?? 60_000;
    const maxOutput = execOpts.maxOutputBytes ?? this.opts.defaultMaxOutputBytes ?? 64 * 1024 * 1024;
    const started = Date.now();
    const label = this.where();
    const shortCmd = cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd;

    return new Promise<ExecResult>((resolve, reject) => {
      let done = false;
      let stream: ClientChannel | undefined;
      let release: (() => void) | undefined;
      let slotHeld = false;
      const abort = new AbortController();
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let code: number | null = null;
      let signal: string | undefined;

      const releaseSlot = (): void => {
        if (slotHeld && release) release();
        slotHeld = false;
      };
      const entry: Pending = {
        fail: (e) => {
          releaseSlot();
          finish(e);
        },
      };
      const finish = (e?: RerouteError, res?: ExecResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(entry);
        if (e) reject(e);
        else resolve(res as ExecResult);
      };
      const killChannel = (): void => {
        if (!stream) return;
        sendKill(stream);
        try {
          stream.close();
        } catch {
          /* channel already closed */
        }
      };
      const timer = setTimeout(() => {
        if (stream) this.timedOut++;
        abort.abort(new Error('timeout'));
        killChannel();
        // Do not wait for sshd to confirm the close: for root logins OpenSSH cannot signal the
        // command (no privilege separation) and keeps the session until the command ends by
        // itself. Holding the slot that long would stall every later command on this host.
        releaseSlot();
        finish(new RerouteError('REMOTE_TIMEOUT', `Command on ${label} did not finish within ${Math.round(timeoutMs / 100) / 10} s: ${shortCmd}`, `The host may be overloaded or hung. Check it, or raise access.ssh.commandTimeoutSeconds if it is just slow.`, { details: { node: this.target.label, host: this.target.host, timeoutMs, elapsedMs: Date.now() - started } }));
      }, timeoutMs);
      this.pending.add(entry);

      this.limiter.acquire(abort.signal).then(
        (rel) => {
          release = rel;
          slotHeld = true;
          // A slot freed by another command's timeout may be granted in the same tick this
          // command's own deadline passes: do not open a channel that is already too late.
          if (done || this.closedError || Date.now() - started >= timeoutMs) {
            releaseSlot();
            return;
          }
          try {
            this.client.exec(cmd, (openErr, ch) => {
              if (openErr) {
                releaseSlot();
                const orphans = this.timedOut > 0 ? ` ${this.timedOut} earlier command(s) here timed out and may still be running on the host, each holding an SSH session.` : '';
                finish(this.closedError ?? new RerouteError('REMOTE_COMMAND_FAILED', `Could not open an SSH channel on ${label}: ${openErr.message}.${orphans}`, 'The host\'s sshd refused a new session (MaxSessions, or sessions still held by commands that timed out); check the host for hung processes and re-run.', { cause: openErr, details: { node: this.target.label, host: this.target.host, timedOutCommands: this.timedOut } }));
                return;
              }
              stream = ch;
              ch.on('close', () => {
                releaseSlot();
                finish(undefined, {
                  stdout: Buffer.concat(out).toString('utf8'),
                  stdoutBytes: Buffer.concat(out),
                  stderr: Buffer.concat(err).toString('utf8'),
                  code,
                  ...(signal !== undefined ? { signal } : {}),
                });
              });
              if (done) {
                // Timed out while the channel was opening.
                killChannel();
                return;
              }
              const collect = (into: Buffer[]) => (chunk: Buffer): void => {
                outBytes += chunk.length;
                if (outBytes > maxOutput) {
                  killChannel();
                  finish(new RerouteError('REMOTE_COMMAND_FAILED', `Command on ${label} produced more than ${maxOutput} bytes of output; stopped it: ${shortCmd}`, 'The host returned far more data than expected; inspect the files involved on the host.'));
                  return;
                }
                into.push(chunk);
              };
              ch.on('data', collect(out));
              ch.stderr.on('data', collect(err));
              ch.on('exit', (c: number | null, sig?: string) => {
                if (typeof c === 'number') code = c;
                if (sig) signal = sig;
              });
              ch.on('error', () => {
                /* surfaced through close / connection close */
              });
              if (execOpts.stdin !== undefined) ch.end(execOpts.stdin);
              else ch.end();
            });
          } catch (e) {
            releaseSlot();
            finish(this.closedError ?? mapSshError(e, this.target));
          }
        },
        () => {
          /* aborted by the timeout, which already rejected */
        },
      );
    });
  }
}

/** Run a command and return stdout, or throw REMOTE_COMMAND_FAILED with the tail of stderr. */
export async function execChecked(host: RemoteHost, cmd: string, what: string, opts?: ExecOptions): Promise<ExecResult> {
  const r = await host.exec(cmd, opts);
  if (r.code !== 0) {
    const tail = r.stderr.trim().split('\n').slice(-5).join('\n');
    throw new RerouteError('REMOTE_COMMAND_FAILED', `${what} failed (exit ${r.code ?? r.signal ?? 'unknown'})${tail ? `: ${tail}` : ''}`, 'See the error output above; fix the cause on the host and re-run.', { details: { exitCode: r.code, signal: r.signal } });
  }
  return r;
}
