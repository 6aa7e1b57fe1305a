/**
 * Re-key pinned SCVM host keys for the agent's known_hosts. The reconciler pins
 * a key under the address it connected to (the SCVM management IP); the agent
 * may reach the same SCVM over its storage IP too, so each key is listed under
 * both. Pure text work: hashing and verification belong to ssh.
 */

const KEY_TYPE = /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/** The `type blob` pairs found in known_hosts-style text (host field, markers and comments dropped). */
export function hostKeysOf(text: string): string[] {
  const keys: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('@')) continue;
    const words = line.split(/\s+/);
    const at = KEY_TYPE.test(words[0] ?? '') ? 0 : KEY_TYPE.test(words[1] ?? '') ? 1 : -1;
    if (at < 0) continue;
    const blob = words[at + 1];
    if (blob === undefined || !/^[A-Za-z0-9+/]+=*$/.test(blob)) continue;
    const key = `${words[at]} ${blob}`;
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}

/** One known_hosts line per key, host field `ip1,ip2`; '' when there are no keys. */
export function knownHostsLines(addresses: string[], keys: string[]): string {
  return keys.map((k) => `${addresses.join(',')} ${k}\n`).join('');
}
