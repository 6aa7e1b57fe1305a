import { AUTHORIZED_KEY_MARKER } from '../agent/bundle-layout';
import { RerouteError } from '../errors/reroute-error';

/**
 * The one command the agent's ssh session source runs on an SCVM (esxi/agent/reroute-loop.sh,
 * fetch_tool). Forced by our authorized_keys entry: whatever a holder of the key asks for, sshd
 * runs this, read-only, so the key is worth one session list and nothing else.
 */
export const AGENT_SESSION_COMMAND = 'zbs-meta session list';

/** The comment that marks this cluster's entry: `zbs-reroute:<cluster>`. */
export function authorizedKeyComment(cluster: string): string {
  return `${AUTHORIZED_KEY_MARKER}${cluster}`;
}

/** `type blob` of an OpenSSH one-line public key (its own comment is replaced by our marker). */
export function publicKeyTypeAndBlob(publicKey: string): string {
  const words = publicKey.trim().split(/\s+/);
  const [type, blob] = words;
  if (type === undefined || blob === undefined || !/^(ssh-|ecdsa-|sk-)/.test(type) || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
    throw new RerouteError(
      'INTERNAL',
      'The cluster public key is not an OpenSSH one-line public key',
      'Check keys/reroute_id_rsa.pub in the state folder (it must start with `ssh-rsa AAAA`), or move the state keypair away to let zbs-reroute create or adopt one.',
    );
  }
  return `${type} ${blob}`;
}

/**
 * The one authorized_keys line we own on every SCVM (the operator user's file).
 * `restrict` turns off every forwarding, the pty, ~/.ssh/rc and whatever later
 * OpenSSH releases add (sshd >= 7.2); `command=` makes sshd run the agent's one
 * read-only command whatever the client asks for, so root on one ESXi host (who
 * can read the private key) gets a session list from the SCVMs, not a shell as a
 * sudo-capable user; `from=` lists every ESXi management and storage IP: the
 * agent's ssh leaves from whichever vmknic the route picks, and nothing else may
 * use the key.
 */
export function renderAuthorizedKey(cluster: string, esxiAddresses: string[], publicKey: string): string {
  const opts = ['restrict', `command="${AGENT_SESSION_COMMAND}"`, `from="${esxiAddresses.join(',')}"`];
  return `${opts.join(',')} ${publicKeyTypeAndBlob(publicKey)} ${authorizedKeyComment(cluster)}`;
}

/** The `from="..."` addresses of an entry ([] when it has none). */
export function authorizedKeyFrom(entry: string): string[] {
  const m = /(?:^|,)from="([^"]*)"/.exec(entry);
  return m?.[1] === undefined ? [] : m[1].split(',').filter((x) => x !== '');
}

/** Whether an entry forces a command (`command="..."` among its options). */
export function authorizedKeyForcesCommand(entry: string): boolean {
  return /(?:^|,)command="/.test(entry);
}

/** Is this authorized_keys line the managed entry of `cluster` (its last word is our marker)? */
export function isClusterAuthorizedKey(line: string, cluster: string): boolean {
  const words = line.trim().split(/\s+/);
  return words.length > 1 && words[words.length - 1] === authorizedKeyComment(cluster);
}
