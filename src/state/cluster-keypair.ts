import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { utils as ssh2Utils } from 'ssh2';
import { RerouteError } from '../errors/reroute-error';
import { fingerprintOf } from '../remote/host-key';
import { Sensitive } from '../core/sensitive';
import { ensureStateDir } from './state-dir';

/**
 * The cluster's reroute keypair: the agent on every ESXi host uses it to ssh
 * to the SCVMs (session source `ssh`), and its public half is the one entry we
 * own in each SCVM's authorized_keys. One per cluster, kept in the state folder.
 */
export interface ClusterKeypair {
  /** PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), which ESXi's ssh client and OpenSSH both read. */
  privateKeyPem: Sensitive<Buffer>;
  /** `ssh-rsa AAAA... zbs-reroute:<cluster>` (no newline). */
  publicKeyOpenSsh: string;
  /** sha256 (hex) of the private PEM bytes: compare with a host's copy without printing the key. */
  privateKeySha256: string;
  /** `SHA256:...` of the public key, as ssh-keygen -lf prints it. */
  publicKeyFingerprint: string;
  privateKeyPath: string;
  publicKeyPath: string;
}

export type KeypairOrigin = 'existing' | 'created' | 'adopted';

export function publicKeyComment(cluster: string): string {
  return `zbs-reroute:${cluster}`;
}

/** SSH wire encoding of an mpint from an unsigned big-endian integer. */
function mpint(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  let v = unsigned.subarray(i);
  if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return sshString(v);
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** `ssh-rsa` public blob (RFC 4253 §6.6: string "ssh-rsa", mpint e, mpint n) from a private PEM. */
export function rsaPublicBlob(privatePem: Buffer): Buffer {
  const jwk = createPublicKey(createPrivateKey(privatePem)).export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new Error('not an RSA key');
  return Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(Buffer.from(jwk.e, 'base64url')), mpint(Buffer.from(jwk.n, 'base64url'))]);
}

function describe(pem: Buffer, cluster: string, privateKeyPath: string, publicKeyPath: string): ClusterKeypair {
  const blob = rsaPublicBlob(pem);
  return {
    privateKeyPem: new Sensitive(pem),
    publicKeyOpenSsh: `ssh-rsa ${blob.toString('base64')} ${publicKeyComment(cluster)}`,
    privateKeySha256: createHash('sha256').update(pem).digest('hex'),
    publicKeyFingerprint: fingerprintOf(blob),
    privateKeyPath,
    publicKeyPath,
  };
}

/**
 * Normalise a key handed in from a host (e.g. the seed tooling's
 * `.smartx_key/smartx_reroute_id_rsa`) to PKCS#1 PEM. Accepts PKCS#1, PKCS#8
 * and OpenSSH-format RSA keys without a passphrase; the message never
 * contains key material.
 */
export function normaliseRsaPrivateKey(key: Buffer, origin: string): Buffer {
  const refuse = (why: string): RerouteError =>
    new RerouteError('CREDENTIAL_MISSING', `The reroute private key from ${origin} ${why}`, `Check the key file on ${origin}; if it is damaged or not RSA, remove it there and let apply install the cluster key.`);
  let nodeKey: KeyObject | undefined;
  try {
    // PEM PKCS#1 / PKCS#8 (what the seed tooling's ssh-keygen -m PEM wrote).
    nodeKey = createPrivateKey({ key, format: 'pem' });
  } catch {
    // OpenSSH's own format ("BEGIN OPENSSH PRIVATE KEY"): ssh2 reads it and re-emits PKCS#1 for RSA.
    const parsed = ssh2Utils.parseKey(key);
    const k = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!k || k instanceof Error || !k.isPrivateKey()) throw refuse('is not an unencrypted private key');
    if (k.type !== 'ssh-rsa') throw refuse(`is a ${k.type} key; the agent needs RSA`);
    try {
      nodeKey = createPrivateKey({ key: k.getPrivatePEM(), format: 'pem' });
    } catch {
      throw refuse('cannot be converted to PEM');
    }
  }
  if (nodeKey.asymmetricKeyType !== 'rsa') throw refuse(`is a ${nodeKey.asymmetricKeyType ?? 'unknown'} key; the agent needs RSA`);
  return Buffer.from(nodeKey.export({ type: 'pkcs1', format: 'pem' }));
}

/** Read the keypair from the state folder, or undefined if none was created yet. */
export function loadClusterKeypair(stateDir: string, cluster: string): ClusterKeypair | undefined {
  const paths = ensureStateDir(stateDir);
  if (!existsSync(paths.privateKey)) return undefined;
  const pem = readFileSync(paths.privateKey);
  let kp: ClusterKeypair;
  try {
    kp = describe(pem, cluster, paths.privateKey, paths.publicKey);
  } catch (err) {
    throw new RerouteError('CREDENTIAL_MISSING', `The cluster key ${paths.privateKey} cannot be read as an RSA private key`, 'Restore it from a host (keys/reroute_id_rsa in the install folder) or a backup of the state folder.', { cause: err });
  }
  // The public file is derived; rewrite it if it was lost or edited.
  if (!existsSync(paths.publicKey) || readFileSync(paths.publicKey, 'utf8') !== `${kp.publicKeyOpenSsh}\n`) {
    writeFileSync(paths.publicKey, `${kp.publicKeyOpenSsh}\n`, { mode: 0o644 });
    chmodSync(paths.publicKey, 0o644);
  }
  if ((statSync(paths.privateKey).mode & 0o077) !== 0) chmodSync(paths.privateKey, 0o600);
  return kp;
}

export interface EnsureKeypairOptions {
  /** A private key found on a host; adopted when the state folder has none. */
  adopt?: { key: Buffer | Sensitive<Buffer>; from: string };
}

/**
 * Return the cluster keypair, creating it once (RSA 3072) or adopting one
 * found on a host. An existing keypair always wins: a different key on a host
 * is for the planner to replace, not for the state folder to follow.
 */
export function ensureClusterKeypair(stateDir: string, cluster: string, opts: EnsureKeypairOptions = {}): { keypair: ClusterKeypair; origin: KeypairOrigin } {
  const existing = loadClusterKeypair(stateDir, cluster);
  if (existing) return { keypair: existing, origin: 'existing' };
  const paths = ensureStateDir(stateDir);

  let pem: Buffer;
  let origin: KeypairOrigin;
  if (opts.adopt) {
    const raw = opts.adopt.key instanceof Sensitive ? opts.adopt.key.reveal() : opts.adopt.key;
    pem = normaliseRsaPrivateKey(raw, opts.adopt.from);
    origin = 'adopted';
  } else {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 0x10001, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    pem = Buffer.from(privateKey);
    origin = 'created';
  }

  // Write to a temp name and link it into place: link fails if another run got there first.
  const tmp = `${paths.privateKey}.tmp-${process.pid}`;
  writeFileSync(tmp, pem, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    linkSync(tmp, paths.privateKey);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    unlinkSync(tmp);
    const winner = loadClusterKeypair(stateDir, cluster);
    if (!winner) throw err;
    return { keypair: winner, origin: 'existing' };
  }
  unlinkSync(tmp);
  const kp = describe(pem, cluster, paths.privateKey, paths.publicKey);
  writeFileSync(paths.publicKey, `${kp.publicKeyOpenSsh}\n`, { mode: 0o644 });
  chmodSync(paths.publicKey, 0o644);
  return { keypair: kp, origin };
}

/**
 * Drop a keypair this run created and never installed (it lost the race for the cluster key
 * lease): the next plan then adopts the key the winner installed instead of replacing it. Only
 * while the state folder still holds exactly that key.
 */
export function discardCreatedKeypair(kp: ClusterKeypair): boolean {
  if (!existsSync(kp.privateKeyPath)) return false;
  if (createHash('sha256').update(readFileSync(kp.privateKeyPath)).digest('hex') !== kp.privateKeySha256) return false;
  unlinkSync(kp.privateKeyPath);
  if (existsSync(kp.publicKeyPath)) unlinkSync(kp.publicKeyPath);
  return true;
}
