import { createHash } from 'node:crypto';
import { RerouteError } from '../errors/reroute-error';

/** A server host key as seen during the SSH handshake. */
export interface HostKeyInfo {
  /** Key type from inside the blob, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  keyType: string;
  /** OpenSSH style fingerprint, `SHA256:<unpadded base64>` (what `ssh-keygen -lf` prints). */
  fingerprint: string;
  /** The blob in base64, as written in a known_hosts line. */
  base64: string;
}

/** OpenSSH's fingerprint: SHA-256 of the public key blob, base64 without padding. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Read the key type out of a public key blob (RFC 4253 §6.6: it starts with
 * a length-prefixed string naming the type), so we never trust a type a
 * caller says it negotiated.
 */
export function describeHostKey(blob: Buffer): HostKeyInfo {
  if (blob.length < 4) throw badBlob();
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) throw badBlob();
  const keyType = blob.subarray(4, 4 + len).toString('latin1');
  if (!/^[a-z0-9@.-]+$/.test(keyType)) throw badBlob();
  return { keyType, fingerprint: fingerprintOf(blob), base64: blob.toString('base64') };
}

function badBlob(): RerouteError {
  return new RerouteError(
    'HOST_KEY_CHANGED',
    'The host presented a malformed public host key',
    'Check that the address points at an SSH server and not another service; connect with `ssh -v` to inspect it.',
  );
}
