import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { RerouteError } from '../errors/reroute-error';
import { describeHostKey, fingerprintOf } from '../remote/host-key';
import type { HostKeyPolicy } from '../remote/ssh-connection';

export type PinStatus = 'new' | 'match' | 'replaced';

export interface PinResult {
  status: PinStatus;
  node: string;
  address: string;
  port: number;
  keyType: string;
  fingerprint: string;
  /** For 'replaced': the fingerprints that were pinned before. */
  previousFingerprints?: string[];
}

interface Entry {
  hosts: string[];
  keyType: string;
  base64: string;
  comment: string;
  /** Original line (kept byte for byte when the file is rewritten). */
  line: string;
}

const COMMENT_PREFIX = 'zbs-reroute:node=';

/**
 * OpenSSH writes a host on port 22 bare and any other port as `[host]:port`,
 * and looks it up the same way; following that lets an operator run
 * `ssh -o UserKnownHostsFile=state/known_hosts` against the same pins.
 */
export function hostPattern(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function parseLine(line: string): Entry | undefined {
  const t = line.trim();
  if (t === '' || t.startsWith('#') || t.startsWith('@')) return undefined;
  const parts = t.split(/\s+/);
  if (parts.length < 3) return undefined;
  const [hosts, keyType, base64, ...rest] = parts as [string, string, string, ...string[]];
  return { hosts: hosts.split(','), keyType, base64, comment: rest.join(' '), line };
}

function fingerprintOfBase64(b64: string): string {
  return fingerprintOf(Buffer.from(b64, 'base64'));
}

export interface KnownHostsStoreOptions {
  /**
   * Nodes whose changed key the operator accepted (`--accept-new-host-key NODE`):
   * a host label (`node-1/esxi`) or a plain node name (`node-1`, both of its hosts).
   */
  acceptNewKeyFor?: Iterable<string>;
}

/**
 * Pins SSH host keys on first contact (trust on first use, shown to the
 * operator) and refuses a changed key afterwards. One line per key:
 * `<host pattern> <keytype> <base64> zbs-reroute:node=<node>`.
 */
export class KnownHostsStore {
  private readonly acceptFor: Set<string>;
  private readonly refused = new Map<string, RerouteError>();

  constructor(
    readonly path: string,
    opts: KnownHostsStoreOptions = {},
  ) {
    this.acceptFor = new Set(opts.acceptNewKeyFor ?? []);
  }

  private read(): Array<{ line: string; entry?: Entry }> {
    if (!existsSync(this.path)) return [];
    const text = readFileSync(this.path, 'utf8');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.map((line) => {
      const entry = parseLine(line);
      return entry ? { line, entry } : { line };
    });
  }

  private accepts(label: string): boolean {
    // Labels are `<node>/<kind>`; operators name nodes as the manifest does.
    return this.acceptFor.has(label) || this.acceptFor.has(label.split('/')[0] ?? label);
  }

  /**
   * Every changed key refused so far, one per host. A connection layer may turn
   * the refusal into "unreachable"; the caller asks here so the run can stop.
   */
  refusals(): RerouteError[] {
    return [...this.refused.values()];
  }

  /** Keys pinned for this address and port. */
  /** Pinned keys of a host as `type base64` (what the agent's known_hosts needs). */
  pinnedKeys(address: string, port: number): string[] {
    const pat = hostPattern(address, port);
    return this.read().flatMap((l) => (l.entry && l.entry.hosts.includes(pat) ? [`${l.entry.keyType} ${l.entry.base64}`] : []));
  }

  pinned(address: string, port: number): Array<{ keyType: string; fingerprint: string; node?: string }> {
    const pat = hostPattern(address, port);
    return this.read()
      .flatMap((l) => (l.entry && l.entry.hosts.includes(pat) ? [l.entry] : []))
      .map((e) => ({
        keyType: e.keyType,
        fingerprint: fingerprintOfBase64(e.base64),
        ...(e.comment.startsWith(COMMENT_PREFIX) ? { node: e.comment.slice(COMMENT_PREFIX.length) } : {}),
      }));
  }

  /** Key types pinned for a host, to be offered first in the handshake (see connectSsh). */
  pinnedKeyTypes(address: string, port: number): string[] {
    return [...new Set(this.pinned(address, port).map((p) => p.keyType))];
  }

  /**
   * Check a presented key. First contact pins it ('new'); the same key is a
   * 'match'; any other key (or a key of another type) is refused with
   * HOST_KEY_CHANGED, unless the operator accepted a new key for this node.
   */
  check(node: string, address: string, port: number, rawKey: Buffer): PinResult {
    const info = describeHostKey(rawKey);
    const pat = hostPattern(address, port);
    const lines = this.read();
    const mine = lines.flatMap((l) => (l.entry && l.entry.hosts.includes(pat) ? [l.entry] : []));
    const base = { node, address, port, keyType: info.keyType, fingerprint: info.fingerprint };

    if (mine.length === 0) {
      this.append(`${pat} ${info.keyType} ${info.base64} ${COMMENT_PREFIX}${node}`);
      return { status: 'new', ...base };
    }
    if (mine.some((e) => e.keyType === info.keyType && e.base64 === info.base64)) {
      return { status: 'match', ...base };
    }
    const previous = mine.map((e) => `${fingerprintOfBase64(e.base64)} (${e.keyType})`);
    if (this.accepts(node)) {
      // Drop only this host from lines that list several hosts; keep everything else byte for byte.
      const kept = lines.flatMap((l) => {
        if (!l.entry || !l.entry.hosts.includes(pat)) return [l.line];
        const others = l.entry.hosts.filter((h) => h !== pat);
        return others.length === 0 ? [] : [[others.join(','), l.entry.keyType, l.entry.base64, l.entry.comment].filter((s) => s !== '').join(' ')];
      });
      kept.push(`${pat} ${info.keyType} ${info.base64} ${COMMENT_PREFIX}${node}`);
      this.rewrite(kept);
      return { status: 'replaced', ...base, previousFingerprints: mine.map((e) => fingerprintOfBase64(e.base64)) };
    }
    const refusal = new RerouteError(
      'HOST_KEY_CHANGED',
      `The SSH host key of ${node} (${address}:${port}) has changed since it was pinned.\n` +
        `  pinned:    ${previous.join(', ')}\n` +
        `  presented: ${info.fingerprint} (${info.keyType})\n` +
        'This happens when a host is reinstalled or its keys regenerated, and also when someone intercepts the connection. Nothing was changed on the host.',
      `Check the presented fingerprint on the host's console (\`for f in /etc/ssh/ssh_host_*key.pub; do ssh-keygen -lf "$f"; done\`), then re-run with --accept-new-host-key ${node} to pin the new key.`,
      { details: { node, address, port, pinnedFingerprints: mine.map((e) => fingerprintOfBase64(e.base64)), presentedFingerprint: info.fingerprint, presentedKeyType: info.keyType } },
    );
    this.refused.set(`${node} ${pat}`, refusal);
    throw refusal;
  }

  /**
   * A HostKeyPolicy for connectSsh that checks against this store and
   * reports each result (e.g. to print 'new' fingerprints to the operator).
   */
  policyFor(node: string, address: string, port: number, onResult?: (r: PinResult) => void): HostKeyPolicy {
    return (_fingerprint, _keyType, rawKey) => {
      const r = this.check(node, address, port, rawKey);
      onResult?.(r);
      return 'accept';
    };
  }

  private append(line: string): void {
    // O_APPEND: concurrent pins of different hosts never interleave within a line.
    const old = existsSync(this.path) ? readFileSync(this.path, 'utf8') : '';
    const prefix = old !== '' && !old.endsWith('\n') ? '\n' : '';
    appendFileSync(this.path, `${prefix}${line}\n`, { mode: 0o600 });
  }

  private rewrite(lines: string[]): void {
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}

/** Human line for a pin result, e.g. for the operator on first contact. */
export function describePin(r: PinResult): string {
  switch (r.status) {
    case 'new':
      return `${r.node} (${r.address}): first contact, pinned host key ${r.fingerprint} (${r.keyType})`;
    case 'replaced':
      return `${r.node} (${r.address}): replaced pinned host key ${(r.previousFingerprints ?? []).join(', ')} with ${r.fingerprint} (${r.keyType}) as requested`;
    case 'match':
      return `${r.node} (${r.address}): host key ${r.fingerprint} matches the pinned key`;
  }
}
