import { RerouteError } from '../errors/reroute-error';

/** What we know about the connection attempt, for messages. Never holds secrets. */
export interface SshTarget {
  /** Node name or role, e.g. `esxi-1` (falls back to the address). */
  label?: string;
  host: string;
  port: number;
  username: string;
  /** Authentication methods we offered, e.g. ['publickey', 'password']. */
  authMethods?: string[];
  readyTimeoutMs?: number;
}

type Ssh2Error = Error & { level?: string; code?: string; description?: string };

function where(t: SshTarget): string {
  const addr = `${t.username}@${t.host}:${t.port}`;
  return t.label && t.label !== t.host ? `${t.label} (${addr})` : addr;
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : ` within ${Math.round(ms / 100) / 10} s`;
}

/**
 * Turn an ssh2 connection error into a RerouteError an operator can act on.
 * ssh2 tags errors with `level`; `client-socket` errors also carry the errno
 * code. The original error is kept as `cause` (its message never contains
 * credentials: ssh2 does not echo them).
 */
export function mapSshError(err: unknown, t: SshTarget): RerouteError {
  if (err instanceof RerouteError) return err;
  const e = (err instanceof Error ? err : new Error(String(err))) as Ssh2Error;
  const at = where(t);
  const details = { host: t.host, port: t.port, node: t.label, sshLevel: e.level, sshCode: e.code };
  const cause = e;
  const manualCheck = `Try \`ssh -p ${t.port} ${t.username}@${t.host}\` from this machine.`;

  switch (e.level) {
    case 'client-timeout':
      if (/keepalive/i.test(e.message)) {
        return new RerouteError(
          'HOST_UNREACHABLE',
          `${at} stopped answering (SSH keepalive timed out); the connection was dropped`,
          `The host or its sshd hung or the network dropped. Check the host's console and network, then re-run. ${manualCheck}`,
          { details, cause },
        );
      }
      return new RerouteError(
        'HOST_UNREACHABLE',
        `No SSH session with ${at}${seconds(t.readyTimeoutMs)}: the host did not answer, or answered TCP but sshd never completed the handshake`,
        `Check that the host is up and reachable, that SSH is enabled (ESXi: Host > Actions > Services > Enable SSH) and not blocked by a firewall; on a slow network raise access.ssh.connectTimeoutSeconds. ${manualCheck}`,
        { details, cause },
      );
    case 'client-socket':
    case 'client-dns':
      return socketError(e, at, t, details, manualCheck);
    case 'client-authentication': {
      const tried = t.authMethods && t.authMethods.length > 0 ? ` (tried: ${t.authMethods.join(', ')})` : '';
      return new RerouteError(
        'AUTH_FAILED',
        `${at} refused our login${tried}`,
        `Check the user and credential in the manifest's access section: for a key, that its public half is in the host's authorized_keys (ESXi: /etc/ssh/keys-root/authorized_keys; refused in lockdown mode); for a password, that the environment variable holds the current one. ${manualCheck}`,
        { details, cause },
      );
    }
    case 'agent':
      return new RerouteError(
        'AUTH_FAILED',
        `The SSH agent could not be used for ${at}: ${e.message}`,
        'Check that the agent socket in the environment variable named in the manifest is alive (`ssh-add -l`) and holds the key.',
        { details, cause },
      );
    case 'handshake':
    case 'protocol':
    case 'client-ssh':
    default:
      if (/parse privateKey|private key|passphrase/i.test(e.message)) {
        return new RerouteError(
          'CREDENTIAL_MISSING',
          `The private key for ${at} could not be used: ${e.message}`,
          'Point the manifest at an unencrypted key or set the passphrase environment variable named by passphraseEnv.',
          { details, cause },
        );
      }
      return new RerouteError(
        'HOST_UNREACHABLE',
        `SSH with ${at} failed: ${e.message}`,
        `The host's SSH server rejected the session or speaks an unexpected protocol. ${manualCheck}`,
        { details, cause },
      );
  }
}

function socketError(e: Ssh2Error, at: string, t: SshTarget, details: Record<string, unknown>, manualCheck: string): RerouteError {
  const cause = e;
  switch (e.code) {
    case 'ECONNREFUSED':
      return new RerouteError(
        'HOST_UNREACHABLE',
        `${at} refused the connection: nothing listens on port ${t.port}`,
        `Enable and start SSH on the host (ESXi: Host > Actions > Services > Enable SSH, or \`vim-cmd hostsvc/enable_ssh\` and \`vim-cmd hostsvc/start_ssh\` on its console) and check access.ssh.port. ${manualCheck}`,
        { details, cause },
      );
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new RerouteError(
        'HOST_UNREACHABLE',
        `No route to ${at} (${e.code})`,
        `Check the address in the manifest and this machine's network path to it (\`ping ${t.host}\`).`,
        { details, cause },
      );
    case 'ETIMEDOUT':
      return new RerouteError(
        'HOST_UNREACHABLE',
        `Connecting to ${at} timed out`,
        `Check that the host is up and that no firewall drops port ${t.port}. ${manualCheck}`,
        { details, cause },
      );
    case 'ECONNRESET':
    case 'EPIPE':
      return new RerouteError(
        'HOST_UNREACHABLE',
        `${at} closed the connection abruptly (${e.code})`,
        `sshd on the host may be restarting, overloaded (MaxStartups) or blocking this address. ${manualCheck}`,
        { details, cause },
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new RerouteError('HOST_UNREACHABLE', `The name ${t.host} does not resolve`, "Use the host's IPv4 address in the manifest.", {
        details,
        cause,
      });
    default:
      return new RerouteError(
        'HOST_UNREACHABLE',
        `Network error talking to ${at}: ${e.code ?? e.message}`,
        `Check the host and the network path to it. ${manualCheck}`,
        { details, cause },
      );
  }
}
