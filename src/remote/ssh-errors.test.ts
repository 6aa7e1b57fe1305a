import { RerouteError } from '../errors/reroute-error';
import { mapSshError, type SshTarget } from './ssh-errors';

const t: SshTarget = {
  label: 'esxi-1',
  host: '10.0.0.11',
  port: 22,
  username: 'root',
  authMethods: ['password', 'keyboard-interactive'],
  readyTimeoutMs: 10000,
};
const sshErr = (message: string, level: string, code?: string): Error =>
  Object.assign(new Error(message), { level, ...(code ? { code } : {}) });

describe('mapSshError', () => {
  it('reports a handshake timeout as unreachable, naming node, address and the wait', () => {
    const e = mapSshError(sshErr('Timed out while waiting for handshake', 'client-timeout'), t);
    expect(e.code).toBe('HOST_UNREACHABLE');
    expect(e.message).toContain('esxi-1 (root@10.0.0.11:22)');
    expect(e.message).toContain('10 s');
    expect(e.fix).toMatch(/connectTimeoutSeconds/);
  });

  it('reports a keepalive timeout as a host that stopped answering', () => {
    const e = mapSshError(sshErr('Keepalive timeout', 'client-timeout'), t);
    expect(e.code).toBe('HOST_UNREACHABLE');
    expect(e.message).toMatch(/stopped answering/);
  });

  it('tells the operator how to enable SSH on a refused connection', () => {
    const e = mapSshError(sshErr('connect ECONNREFUSED', 'client-socket', 'ECONNREFUSED'), t);
    expect(e.code).toBe('HOST_UNREACHABLE');
    expect(e.fix).toMatch(/Enable SSH/);
  });

  it.each(['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'ENOTFOUND', 'EWHATEVER'])(
    'maps socket error %s to HOST_UNREACHABLE',
    (code) => {
      expect(mapSshError(sshErr(`x ${code}`, 'client-socket', code), t).code).toBe('HOST_UNREACHABLE');
    },
  );

  it('maps an authentication failure to AUTH_FAILED listing the methods tried, not the secrets', () => {
    const e = mapSshError(sshErr('All configured authentication methods failed', 'client-authentication'), t);
    expect(e.code).toBe('AUTH_FAILED');
    expect(e.message).toContain('tried: password, keyboard-interactive');
    expect(e.fix).toMatch(/authorized_keys/);
  });

  it('passes a RerouteError through unchanged (e.g. a host key refusal)', () => {
    const orig = new RerouteError('HOST_KEY_CHANGED', 'm', 'f');
    expect(mapSshError(orig, t)).toBe(orig);
  });

  it('maps an unusable private key to CREDENTIAL_MISSING', () => {
    expect(mapSshError(new Error('Cannot parse privateKey: Encrypted private OpenSSH key detected, but no passphrase given'), t).code).toBe(
      'CREDENTIAL_MISSING',
    );
  });

  it('keeps the original error as cause and puts no secret-bearing fields in details', () => {
    const orig = sshErr('Keepalive timeout', 'client-timeout');
    const e = mapSshError(orig, t);
    expect(e.cause).toBe(orig);
    expect(Object.keys(e.details).sort()).toEqual(['host', 'node', 'port', 'sshCode', 'sshLevel']);
  });
});
