/**
 * The I/O edge of `reroute discover`: one read-only command per ESXi host
 * over SSH (host keys pinned in the state folder, as apply would), the meta
 * session list over HTTP when the hosts could not fetch it themselves.
 */
import * as http from 'node:http';
import { RerouteError } from '../errors/reroute-error';
import type { CredentialSource } from '../manifest/manifest-types';
import { connectSsh } from '../remote/ssh-connection';
import { resolveCredential } from '../state/credentials';
import { KnownHostsStore, type PinResult } from '../state/known-hosts-store';
import { ensureStateDir } from '../state/state-dir';
import { discoverCommand, parseDiscoverOutput, parseSessionList } from './discover-parse';
import type { EsxiFacts, SessionEntry } from './discover-types';

export interface DiscoverOptions {
  esxi: string[];
  user: string;
  credential: CredentialSource;
  stateDir: string;
  /** Any SCVM address serving the meta REST API, used when the hosts cannot reach it on the NFS address. */
  scvm?: string;
  nfsAddress: string;
  restPort: number;
  restPath: string;
  dirName: string;
  port: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  onPin?(r: PinResult): void;
  onProgress?(m: string): void;
}

async function factsOf(
  address: string,
  index: number,
  opts: DiscoverOptions,
  store: KnownHostsStore,
  credential: Awaited<ReturnType<typeof resolveCredential>>,
): Promise<EsxiFacts> {
  const node = `node-${index + 1}/esxi`;
  const host = await connectSsh({
    host: address,
    port: opts.port,
    username: opts.user,
    label: address,
    credential,
    hostKeyPolicy: store.policyFor(node, address, opts.port, opts.onPin),
    preferredHostKeyTypes: store.pinnedKeyTypes(address, opts.port),
    readyTimeoutMs: opts.connectTimeoutMs,
    keepaliveIntervalMs: 5000,
    keepaliveCountMax: 3,
    defaultCommandTimeoutMs: opts.commandTimeoutMs,
  });
  try {
    const r = await host.exec(discoverCommand(opts), { timeoutMs: opts.commandTimeoutMs, maxOutputBytes: 4 * 1024 * 1024 });
    if (r.code !== 0)
      throw new RerouteError(
        'REMOTE_COMMAND_FAILED',
        `${address}: the discovery command exited ${r.code ?? 'by a signal'}: ${r.stderr.trim().slice(-300)}`,
        'Check the host (ESXi shell access as root) and re-run.',
      );
    return parseDiscoverOutput(address, r.stdout);
  } finally {
    host.close();
  }
}

export function httpGet(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 4 * 1024 * 1024) req.destroy(new Error('response larger than 4 MiB'));
        else chunks.push(c);
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export async function discoverCluster(
  opts: DiscoverOptions,
): Promise<{ facts: EsxiFacts[]; sessions: SessionEntry[]; sessionsFrom: string }> {
  const paths = ensureStateDir(opts.stateDir);
  const store = new KnownHostsStore(paths.knownHosts);
  const credential = await resolveCredential(opts.credential, { who: `${opts.user} on the ESXi hosts` });
  const settled = await Promise.allSettled(opts.esxi.map((a, i) => factsOf(a, i, opts, store, credential)));
  const failed = settled.flatMap((s, i) =>
    s.status === 'rejected' ? [`${opts.esxi[i]}: ${s.reason instanceof Error ? s.reason.message : String(s.reason)}`] : [],
  );
  if (failed.length > 0)
    throw new RerouteError(
      'HOST_UNREACHABLE',
      `discover could not read ${failed.length} host(s):\n  ${failed.join('\n  ')}`,
      'Every host named with --esxi must answer; fix or leave out the ones listed.',
    );
  const facts = settled.map((s) => (s as PromiseFulfilledResult<EsxiFacts>).value);
  for (const f of facts)
    opts.onProgress?.(`  ${f.address}: ${f.vmknics.length} vmknic(s), datastores ${Object.keys(f.datastores).join(', ') || 'none'}`);

  // The SCVM list: from a host's own view of the NFS address first (no SCVM address needed), else --scvm.
  for (const f of facts) {
    if (!f.sessionsJson) continue;
    try {
      return {
        facts,
        sessions: parseSessionList(f.sessionsJson, `${opts.nfsAddress} (from ${f.address})`),
        sessionsFrom: `${opts.nfsAddress} as seen from ${f.address}`,
      };
    } catch {
      // Not a session list (another service on port 80): try the next host, then --scvm.
    }
  }
  if (!opts.scvm) {
    throw new RerouteError(
      'USAGE',
      `no ESXi host could read the meta session list from http://${opts.nfsAddress}:${opts.restPort}${opts.restPath}`,
      'Pass --scvm ADDRESS: the management IP of any healthy SCVM (its REST API lists every SCVM).',
    );
  }
  const url = `http://${opts.scvm}:${opts.restPort}${opts.restPath}`;
  let body: string;
  try {
    body = await httpGet(url, opts.connectTimeoutMs);
  } catch (err) {
    throw new RerouteError(
      'HOST_UNREACHABLE',
      `cannot read the meta session list at ${url}: ${(err as Error).message}`,
      'Check that --scvm is the management IP of a healthy SCVM and that its REST port is reachable from here.',
    );
  }
  return { facts, sessions: parseSessionList(body, url), sessionsFrom: opts.scvm };
}
