import type { SshSettings } from '../manifest/manifest-types';
import { connectSsh, type HostKeyPolicy, type RemoteHost, type SshCredential } from './ssh-connection';

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
    return connect({
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
