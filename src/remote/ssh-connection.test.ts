import { RerouteError } from '../errors/reroute-error';
import { LocalShellHost } from './local-shell-host';
import { connectSsh, execChecked, hostKeyAlgorithmOrder } from './ssh-connection';

// The real-server behaviour (timeouts, hung sshd, auth, host keys) is proven in
// test/remote/ssh-connection.test.ts against OpenSSH in a network namespace.

describe('hostKeyAlgorithmOrder', () => {
  it('offers the pinned key type first so a pinned host is not met with another key type', () => {
    expect(hostKeyAlgorithmOrder(['ssh-rsa']).slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(hostKeyAlgorithmOrder(['ecdsa-sha2-nistp256'])[0]).toBe('ecdsa-sha2-nistp256');
  });

  it('keeps every algorithm exactly once and ignores unknown types', () => {
    const all = hostKeyAlgorithmOrder(undefined);
    expect(hostKeyAlgorithmOrder(['ssh-dss', 'ssh-ed25519']).sort()).toEqual([...all].sort());
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('connectSsh without a credential', () => {
  it('fails with CREDENTIAL_MISSING before opening any socket', async () => {
    const err = await connectSsh({
      host: '203.0.113.1',
      username: 'root',
      credential: {},
      hostKeyPolicy: () => 'accept',
      readyTimeoutMs: 1000,
      keepaliveIntervalMs: 1000,
      keepaliveCountMax: 1,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RerouteError);
    expect((err as RerouteError).code).toBe('CREDENTIAL_MISSING');
  });
});

describe('execChecked', () => {
  const host = new LocalShellHost(['/bin/sh']);

  it('returns the result of a successful command', async () => {
    expect((await execChecked(host, 'echo hi', 'saying hi')).stdout).toBe('hi\n');
  });

  it('throws REMOTE_COMMAND_FAILED naming the step and the tail of stderr', async () => {
    const err = (await execChecked(host, 'echo "disk full" >&2; exit 4', 'writing the crontab').catch((e: unknown) => e)) as RerouteError;
    expect(err.code).toBe('REMOTE_COMMAND_FAILED');
    expect(err.message).toBe('writing the crontab failed (exit 4): disk full');
    expect(err.details).toEqual({ exitCode: 4, signal: undefined });
  });
});
