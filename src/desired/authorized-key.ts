import { AUTHORIZED_KEY_MARKER } from '../agent/bundle-layout';
import { RerouteError } from '../errors/reroute-error';

/** The comment that marks this cluster's entry: `zbs-reroute:<cluster>`. */
export function authorizedKeyComment(cluster: string): string {
  return `${AUTHORIZED_KEY_MARKER}${cluster}`;
}

/** `type blob` of an OpenSSH one-line public key (its own comment is replaced by our marker). */
export function publicKeyTypeAndBlob(publicKey: string): string {
  const words = publicKey.trim().split(/\s+/);
  const [type, blob] = words;
  if (type === undefined || blob === undefined || !/^(ssh-|ecdsa-|sk-)/.test(type) || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
    throw new RerouteError('INTERNAL', 'The cluster public key is not an OpenSSH one-line public key', 'Check keys/reroute_id_rsa.pub in the state folder (it must start with `ssh-rsa AAAA`), or move the state keypair away to let zbs-reroute create or adopt one.');
  }
  return `${type} ${blob}`;
}

/**
 * The one authorized_keys line we own on every SCVM. `from=` lists every ESXi
 * management and storage IP: the agent's ssh leaves from whichever vmknic the
 * route picks, and nothing else may use the key.
 */
export function renderAuthorizedKey(cluster: string, esxiAddresses: string[], publicKey: string): string {
  const opts = [`from="${esxiAddresses.join(',')}"`, 'no-port-forwarding', 'no-pty', 'no-agent-forwarding', 'no-X11-forwarding'];
  return `${opts.join(',')} ${publicKeyTypeAndBlob(publicKey)} ${authorizedKeyComment(cluster)}`;
}

/** Is this authorized_keys line the managed entry of `cluster` (its last word is our marker)? */
export function isClusterAuthorizedKey(line: string, cluster: string): boolean {
  const words = line.trim().split(/\s+/);
  return words.length > 1 && words[words.length - 1] === authorizedKeyComment(cluster);
}
