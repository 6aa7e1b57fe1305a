import type { Client, ClientChannel } from 'ssh2';
import { RerouteError } from '../errors/reroute-error';
import type { ChannelLimiter } from './channel-limiter';
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

/** Run a command and return stdout, or throw REMOTE_COMMAND_FAILED with the tail of stderr. */
export async function execChecked(host: RemoteHost, cmd: string, what: string, opts?: ExecOptions): Promise<ExecResult> {
  const r = await host.exec(cmd, opts);
  if (r.code !== 0) {
    const tail = r.stderr.trim().split('\n').slice(-5).join('\n');
    throw new RerouteError(
      'REMOTE_COMMAND_FAILED',
      `${what} failed (exit ${r.code ?? r.signal ?? 'unknown'})${tail ? `: ${tail}` : ''}`,
      'See the error output above; fix the cause on the host and re-run.',
      { details: { exitCode: r.code, signal: r.signal } },
    );
  }
  return r;
}

/** What a command shares with the other commands on its connection (SshRemoteHost owns it). */
export interface CommandConnection {
  readonly client: Client;
  readonly limiter: ChannelLimiter;
  readonly target: SshTarget;
  /** Set once the connection ended: a command granted a slot after that must not open a channel. */
  closedError(): RerouteError | undefined;
  /** Commands that timed out after their channel opened (they may still run on the host). */
  timedOut: number;
  /** Commands not settled yet: the end of the connection fails them. */
  readonly pending: Set<SshCommand>;
}

/**
 * Ask sshd to SIGKILL the command's process group. OpenSSH does not kill a
 * non-pty command when its channel closes: a hung `sleep` would keep its
 * session (and a MaxSessions slot) until it ends on its own. ssh2's
 * `signal()` refuses once stdin was ended, which every exec does at once, so
 * the request is sent through the protocol object directly.
 */
function sendKill(ch: ClientChannel): void {
  const c = ch as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  try {
    if ((c.outgoing?.state === 'open' || c.outgoing?.state === 'eof') && typeof c.outgoing.id === 'number')
      c._client?._protocol?.signal(c.outgoing.id, 'KILL');
  } catch {
    /* connection already gone */
  }
}

/**
 * One command on an SSH connection, from the wait for a free channel to its result. Its deadline,
 * output limit, a refused channel and the end of the connection (fail) race; the first settles it.
 */
export class SshCommand {
  private readonly started = Date.now();
  private readonly label: string;
  private readonly shortCmd: string;
  private readonly abort = new AbortController();
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private settle!: (e?: RerouteError, res?: ExecResult) => void;
  private stream: ClientChannel | undefined;
  /** Set while this command holds a channel slot. */
  private release: (() => void) | undefined;
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private outBytes = 0;
  private code: number | null = null;
  private signal: string | undefined;

  constructor(
    private readonly conn: CommandConnection,
    private readonly cmd: string,
    private readonly opts: ExecOptions & { timeoutMs: number; maxOutputBytes: number },
  ) {
    this.label = conn.target.label ?? conn.target.host;
    this.shortCmd = cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd;
  }

  run(): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      this.settle = (e, res) => (e ? reject(e) : resolve(res as ExecResult));
      this.timer = setTimeout(() => this.timeOut(), this.opts.timeoutMs);
      this.conn.pending.add(this);
      // A rejected acquire was aborted by the timeout, which already rejected.
      this.conn.limiter.acquire(this.abort.signal).then(
        (release) => this.open(release),
        () => undefined,
      );
    });
  }

  /** The connection ended under this command. */
  fail(e: RerouteError): void {
    this.releaseSlot();
    this.finish(e);
  }

  private finish(e?: RerouteError, res?: ExecResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.conn.pending.delete(this);
    this.settle(e, res);
  }

  private releaseSlot(): void {
    const release = this.release;
    this.release = undefined;
    release?.();
  }

  private killChannel(): void {
    if (!this.stream) return;
    sendKill(this.stream);
    try {
      this.stream.close();
    } catch {
      /* channel already closed */
    }
  }

  private timeOut(): void {
    if (this.stream) this.conn.timedOut++;
    this.abort.abort(new Error('timeout'));
    this.killChannel();
    // Do not wait for sshd to confirm the close: for root logins OpenSSH cannot signal the
    // command (no privilege separation) and keeps the session until the command ends by
    // itself. Holding the slot that long would stall every later command on this host.
    this.releaseSlot();
    this.finish(
      new RerouteError(
        'REMOTE_TIMEOUT',
        `Command on ${this.label} did not finish within ${Math.round(this.opts.timeoutMs / 100) / 10} s: ${this.shortCmd}`,
        `The host may be overloaded or hung. Check it, or raise access.ssh.commandTimeoutSeconds if it is just slow.`,
        {
          details: {
            node: this.conn.target.label,
            host: this.conn.target.host,
            timeoutMs: this.opts.timeoutMs,
            elapsedMs: Date.now() - this.started,
          },
        },
      ),
    );
  }

  private open(release: () => void): void {
    this.release = release;
    // A slot freed by another command's timeout may be granted in the same tick this
    // command's own deadline passes: do not open a channel that is already too late.
    if (this.done || this.conn.closedError() || Date.now() - this.started >= this.opts.timeoutMs) {
      this.releaseSlot();
      return;
    }
    try {
      this.conn.client.exec(this.cmd, (openErr, ch) => this.opened(openErr, ch));
    } catch (e) {
      this.releaseSlot();
      this.finish(this.conn.closedError() ?? mapSshError(e, this.conn.target));
    }
  }

  private opened(openErr: Error | undefined, ch: ClientChannel): void {
    if (openErr) {
      this.releaseSlot();
      const orphans =
        this.conn.timedOut > 0
          ? ` ${this.conn.timedOut} earlier command(s) here timed out and may still be running on the host, each holding an SSH session.`
          : '';
      this.finish(
        this.conn.closedError() ??
          new RerouteError(
            'REMOTE_COMMAND_FAILED',
            `Could not open an SSH channel on ${this.label}: ${openErr.message}.${orphans}`,
            "The host's sshd refused a new session (MaxSessions, or sessions still held by commands that timed out); check the host for hung processes and re-run.",
            {
              cause: openErr,
              details: { node: this.conn.target.label, host: this.conn.target.host, timedOutCommands: this.conn.timedOut },
            },
          ),
      );
      return;
    }
    this.stream = ch;
    ch.on('close', () => {
      this.releaseSlot();
      this.finish(undefined, {
        stdout: Buffer.concat(this.out).toString('utf8'),
        stdoutBytes: Buffer.concat(this.out),
        stderr: Buffer.concat(this.err).toString('utf8'),
        code: this.code,
        ...(this.signal !== undefined ? { signal: this.signal } : {}),
      });
    });
    if (this.done) {
      // Timed out while the channel was opening.
      this.killChannel();
      return;
    }
    ch.on('data', (chunk: Buffer) => this.collect(this.out, chunk));
    ch.stderr.on('data', (chunk: Buffer) => this.collect(this.err, chunk));
    ch.on('exit', (c: number | null, sig?: string) => {
      if (typeof c === 'number') this.code = c;
      if (sig) this.signal = sig;
    });
    ch.on('error', () => undefined); // surfaced through close / connection close
    if (this.opts.stdin !== undefined) ch.end(this.opts.stdin);
    else ch.end();
  }

  private collect(into: Buffer[], chunk: Buffer): void {
    this.outBytes += chunk.length;
    if (this.outBytes > this.opts.maxOutputBytes) {
      this.killChannel();
      this.finish(
        new RerouteError(
          'REMOTE_COMMAND_FAILED',
          `Command on ${this.label} produced more than ${this.opts.maxOutputBytes} bytes of output; stopped it: ${this.shortCmd}`,
          'The host returned far more data than expected; inspect the files involved on the host.',
        ),
      );
      return;
    }
    into.push(chunk);
  }
}
