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

function recordRoundTrip(file: string, entry: Record<string, unknown>): void {
  try {
    fs.appendFileSync(file, `${JSON.stringify({ t: Date.now(), pid: process.pid, ...entry })}\n`);
  } catch {
    // A measurement aid must never change what the tool does.
  }
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
  };
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

  constructor(private readonly opts: HostConnectionsOptions) {}

  get(endpoint: HostEndpoint): Promise<RemoteHost> {
    const k = keyOf(endpoint);
    let p = this.open.get(k);
    if (!p) {
      p = this.dial(endpoint);
      // A failed dial is forgotten so a later call (e.g. watch) can try again.
      p.catch(() => this.open.delete(k));
      this.open.set(k, p);
    }
    return p;
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
    for (const p of all) {
      try {
        (await p).close();
      } catch {
        // A connection that never opened has nothing to close; its error was reported by whoever awaited it.
      }
    }
  }
}
