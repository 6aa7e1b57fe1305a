import { Client, type ConnectConfig } from 'ssh2';
import { RerouteError } from '../errors/reroute-error';
import { ChannelLimiter } from './channel-limiter';
import { describeHostKey } from './host-key';
import { authAttempts, authHandler, type KeyboardInteractiveHandler, type SshCredential } from './ssh-auth';
import { SshCommand, type CommandConnection, type ExecOptions, type ExecResult, type RemoteHost } from './ssh-command';
import { mapSshError, type SshTarget } from './ssh-errors';

export type HostKeyDecision = 'accept' | 'reject';

/**
 * Decides whether to trust the key the server presented. May throw a
 * RerouteError (e.g. HOST_KEY_CHANGED); connectSsh then rejects with it.
 */
export type HostKeyPolicy = (fingerprint: string, keyType: string, rawKey: Buffer) => HostKeyDecision | Promise<HostKeyDecision>;

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

const ALL_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** Host key algorithm names for a key type (an RSA key signs with three algorithms). */
function algorithmsForKeyType(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

export function hostKeyAlgorithmOrder(preferredKeyTypes: string[] | undefined): string[] {
  const first = (preferredKeyTypes ?? []).flatMap(algorithmsForKeyType).filter((a) => ALL_HOST_KEY_ALGORITHMS.includes(a));
  return [...new Set([...first, ...ALL_HOST_KEY_ALGORITHMS])];
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
    return Promise.reject(
      new RerouteError(
        'CREDENTIAL_MISSING',
        `No credential to log in to ${opts.label ?? opts.host} as ${opts.username}`,
        "Set a key file, agent, or password source for this host in the manifest's access section.",
      ),
    );
  }

  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let policyError: unknown;
    // Hard stop in case ssh2 never reports (e.g. a policy promise that never settles).
    const guard = setTimeout(
      () => fail(Object.assign(new Error('Timed out while waiting for handshake'), { level: 'client-timeout' })),
      opts.readyTimeoutMs + 2000,
    );

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

    const config: ConnectConfig = {
      host: opts.host,
      port,
      username: opts.username,
      readyTimeout: opts.readyTimeoutMs,
      keepaliveInterval: opts.keepaliveIntervalMs,
      keepaliveCountMax: opts.keepaliveCountMax,
      algorithms: {
        serverHostKey: hostKeyAlgorithmOrder(opts.preferredHostKeyTypes) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'],
      },
      hostVerifier: (rawKey: Buffer, verify: (valid: boolean) => void): void => {
        Promise.resolve()
          .then(() => {
            const info = describeHostKey(rawKey);
            return opts.hostKeyPolicy(info.fingerprint, info.keyType, rawKey);
          })
          .then(
            (decision) => {
              if (decision !== 'accept') {
                policyError = new RerouteError(
                  'HOST_KEY_CHANGED',
                  `The host key of ${opts.label ?? opts.host} was refused`,
                  "Check the host key against the pinned one in the state folder's known_hosts.",
                );
              }
              verify(decision === 'accept');
            },
            (err: unknown) => {
              policyError = err;
              verify(false);
            },
          );
      },
      authHandler: authHandler(attempts),
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

export class SshRemoteHost implements RemoteHost {
  private readonly connection: CommandConnection;
  private closedError: RerouteError | undefined;
  private lastError: unknown;

  constructor(
    private readonly client: Client,
    readonly target: SshTarget,
    private readonly opts: ConnectSshOptions,
  ) {
    this.connection = {
      client,
      limiter: new ChannelLimiter(opts.maxChannels ?? 8),
      target,
      closedError: () => this.closedError,
      timedOut: 0,
      pending: new Set(),
    };
    client.on('error', (err) => {
      this.lastError = err;
    });
    client.on('close', () => {
      const err =
        this.lastError !== undefined
          ? mapSshError(this.lastError, target)
          : new RerouteError(
              'HOST_UNREACHABLE',
              `The SSH connection to ${this.where()} closed`,
              'The host or its sshd went away; check the host and re-run.',
            );
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
    for (const p of [...this.connection.pending]) p.fail(err);
    this.connection.pending.clear();
  }

  close(): void {
    this.shutDown(
      new RerouteError(
        'INTERNAL',
        `The SSH connection to ${this.where()} was already closed by this program`,
        'This is a bug in zbs-reroute; please report it.',
      ),
    );
    hardClose(this.client);
  }

  async exec(cmd: string, execOpts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closedError) throw this.closedError;
    const command = new SshCommand(this.connection, cmd, {
      ...execOpts,
      timeoutMs: execOpts.timeoutMs ?? this.opts.defaultCommandTimeoutMs ?? 60_000,
      maxOutputBytes: execOpts.maxOutputBytes ?? this.opts.defaultMaxOutputBytes ?? 64 * 1024 * 1024,
    });
    return command.run();
  }
}
