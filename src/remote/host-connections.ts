import * as fs from 'node:fs';
import type { SshSettings } from '../manifest/manifest-types';
import { connectSsh, type HostKeyPolicy, type RemoteHost, type SshCredential } from './ssh-connection';

/**
 * ZBS_REROUTE_EXEC_LOG=FILE appends one JSON line per SSH connect and per exec
 * ({"event":"connect"|"exec","kind","node","ms","code"?}) so benchmarks can count
 * round trips per host (bench/reconcile-scaling.ts). Unset (always, in production):
 * the connection is returned untouched. Never logs commands, output or secrets.
 */
const EXEC_LOG_ENV = 'ZBS_REROUTE_EXEC_LOG';

/**
 * Lines wait in memory and go out in one append at exit (or every 256 lines):
 * an appendFileSync per exec was a synchronous open/write/close per round trip
 * inside the very runs the benchmark profiles (issue 14).
 */
const pendingLines = new Map<string, string[]>();

function flushRoundTrips(): void {
  for (const [file, lines] of pendingLines) {
    pendingLines.delete(file);
    try {
      fs.appendFileSync(file, lines.join(''));
    } catch {
      // A measurement aid must never change what the tool does.
    }
  }
}

function recordRoundTrip(file: string, entry: Record<string, unknown>): void {
  let lines = pendingLines.get(file);
  if (!lines) {
    if (pendingLines.size === 0) process.once('exit', flushRoundTrips);
    lines = [];
    pendingLines.set(file, lines);
  }
  lines.push(`${JSON.stringify({ t: Date.now(), pid: process.pid, ...entry })}\n`);
  if (lines.length >= 256) flushRoundTrips();
}

/** Writes the buffered ZBS_REROUTE_EXEC_LOG lines now (tests; the process does it at exit). */
export function flushExecLog(): void {
  flushRoundTrips();
}

function countingHost(file: string, endpoint: HostEndpoint, host: RemoteHost): RemoteHost {
  return {
    exec: async (cmd, opts) => {
      const started = Date.now();
      try {
        const r = await host.exec(cmd, opts);
        recordRoundTrip(file, { event: 'exec', kind: endpoint.kind, node: endpoint.node, ms: Date.now() - started, code: r.code });
        return r;
      } catch (err) {
        recordRoundTrip(file, { event: 'exec', kind: endpoint.kind, node: endpoint.node, ms: Date.now() - started, error: true });
        throw err;
      }
    },
    close: () => host.close(),
    get closed() {
      return isClosed(host);
    },
  } as RemoteHost;
}

/** Whether the peer (or an error) already ended this connection (SshRemoteHost.closed). */
function isClosed(host: RemoteHost): boolean {
  return (host as { closed?: boolean }).closed === true;
}

/** One host the reconciler talks to. */
export interface HostEndpoint {
  kind: 'esxi' | 'scvm';
  node: string;
  address: string;
}

export interface HostConnectionsOptions {
  ssh: SshSettings;
  users: { esxi: string; scvm: string };
  credentials: { esxi: SshCredential; scvm: SshCredential };
  /** Pinning policy for one endpoint (the state folder's known_hosts). */
  hostKeyPolicy(endpoint: HostEndpoint): HostKeyPolicy;
  preferredHostKeyTypes?(endpoint: HostEndpoint): string[];
  /** Swappable for tests that run against a local shell instead of ssh. */
  connect?: typeof connectSsh;
}

function keyOf(e: HostEndpoint): string {
  return `${e.kind}:${e.node}`;
}

/**
 * One SSH connection per host, opened on first use and reused for the whole
 * run (observe, apply and verify share it). Also remembers the host key each
 * server presented, which becomes the agent's known_hosts for SCVMs.
 */
export class HostConnections {
  private readonly open = new Map<string, Promise<RemoteHost>>();
  private readonly keys = new Map<string, string>();
  /** Connections that completed login, with when they did (for retire()). */
  private readonly ready = new Map<string, { host: RemoteHost; at: number }>();

  constructor(private readonly opts: HostConnectionsOptions) {}

  get(endpoint: HostEndpoint): Promise<RemoteHost> {
    const k = keyOf(endpoint);
    const live = this.ready.get(k);
    // A connection the host closed meanwhile (reboot, sshd restart) is dialled again, not handed out dead.
    if (live && isClosed(live.host)) this.forget(k);
    let p = this.open.get(k);
    if (!p) {
      const dialing = this.dial(endpoint);
      p = dialing;
      // A failed dial is forgotten so a later call (e.g. watch) can try again.
      dialing.then(
        (host) => {
          if (this.open.get(k) === dialing) this.ready.set(k, { host, at: Date.now() });
        },
        () => {
          if (this.open.get(k) === dialing) this.open.delete(k);
        },
      );
      this.open.set(k, p);
    }
    return p;
  }

  /** How many connections are open or being dialled. */
  get size(): number {
    return this.open.size;
  }

  private forget(k: string): void {
    const live = this.ready.get(k);
    this.ready.delete(k);
    this.open.delete(k);
    try {
      live?.host.close();
    } catch {
      // Already closed by the peer: nothing left to release.
    }
  }

  /** Close and forget the connection to one host, e.g. after its check failed; the next get() dials afresh. */
  drop(endpoint: HostEndpoint): void {
    this.forget(keyOf(endpoint));
  }

  /**
   * Close connections that logged in more than maxAgeMs ago and forget those
   * the peer closed: a long-lived pool (reroute watch) then never holds a
   * connection past its age limit, and a dead one is never handed out.
   * Returns how many were retired.
   */
  retire(maxAgeMs: number, now = Date.now()): number {
    let n = 0;
    for (const [k, live] of [...this.ready]) {
      if (isClosed(live.host) || now - live.at > maxAgeMs) {
        this.forget(k);
        n += 1;
      }
    }
    return n;
  }

  /** `keytype base64` of the key the host presented, once connected. */
  hostKeyOf(endpoint: HostEndpoint): string | undefined {
    return this.keys.get(keyOf(endpoint));
  }

  private dial(endpoint: HostEndpoint): Promise<RemoteHost> {
    const { ssh } = this.opts;
    const policy = this.opts.hostKeyPolicy(endpoint);
    const recordingPolicy: HostKeyPolicy = async (fingerprint, keyType, rawKey) => {
      const decision = await policy(fingerprint, keyType, rawKey);
      if (decision === 'accept') this.keys.set(keyOf(endpoint), `${keyType} ${rawKey.toString('base64')}`);
      return decision;
    };
    const connect = this.opts.connect ?? connectSsh;
    const logFile = process.env[EXEC_LOG_ENV];
    const started = Date.now();
    const dialed = connect({
      host: endpoint.address,
      port: ssh.port,
      username: this.opts.users[endpoint.kind],
      label: `${endpoint.node} (${endpoint.kind})`,
      credential: this.opts.credentials[endpoint.kind],
      hostKeyPolicy: recordingPolicy,
      preferredHostKeyTypes: this.opts.preferredHostKeyTypes?.(endpoint),
      readyTimeoutMs: ssh.connectTimeoutSeconds * 1000,
      keepaliveIntervalMs: ssh.keepaliveSeconds * 1000,
      keepaliveCountMax: 3,
      defaultCommandTimeoutMs: ssh.commandTimeoutSeconds * 1000,
    });
    if (!logFile) return dialed;
    return dialed.then(
      (host) => {
        recordRoundTrip(logFile, { event: 'connect', kind: endpoint.kind, node: endpoint.node, ms: Date.now() - started });
        return countingHost(logFile, endpoint, host);
      },
      (err: unknown) => {
        recordRoundTrip(logFile, { event: 'connect', kind: endpoint.kind, node: endpoint.node, ms: Date.now() - started, error: true });
        throw err;
      },
    );
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    this.ready.clear();
    for (const p of all) {
      try {
        (await p).close();
      } catch {
        // A connection that never opened has nothing to close; its error was reported by whoever awaited it.
      }
    }
  }
}
