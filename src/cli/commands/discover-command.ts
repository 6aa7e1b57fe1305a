import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadShippedBundle } from '../../agent/shipped-bundle';
import { discoverCluster } from '../../discover/discover-cluster';
import { renderDiscoveredManifest, type CredentialFlag } from '../../discover/render-manifest';
import { RerouteError } from '../../errors/reroute-error';
import { DEFAULT_NFS_ADDRESS, MANIFEST_DEFAULTS, parseManifest } from '../../manifest';
import type { CredentialSource } from '../../manifest/manifest-types';
import { describePin } from '../../state/known-hosts-store';
import { EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';

export interface DiscoverCommandOptions {
  esxi: string[];
  out?: string;
  force?: boolean;
  clusterName?: string;
  datastore?: string;
  user?: string;
  keyFile?: string;
  passwordEnv?: string;
  scvm?: string;
  scvmUser?: string;
  scvmKeyFile?: string;
  scvmPasswordEnv?: string;
  pair?: string[];
  stateDir: string;
}

function credentialFlag(keyFile: string | undefined, passwordEnv: string | undefined, what: string): CredentialFlag | undefined {
  if (keyFile !== undefined && passwordEnv !== undefined) throw new RerouteError('USAGE', `give one credential for ${what}, not both a key file and a password variable`, 'Use either the key-file flag or the password-env flag.');
  if (keyFile !== undefined) return { keyFile };
  if (passwordEnv !== undefined) return { passwordEnv };
  return undefined;
}

function sourceOf(c: CredentialFlag): CredentialSource {
  if ('keyFile' in c) return { kind: 'key-file', path: c.keyFile };
  if ('passwordEnv' in c) return { kind: 'password-env', env: c.passwordEnv };
  return { kind: 'agent', socketEnv: 'SSH_AUTH_SOCK' };
}

function parsePairs(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const m = /^([^=\s]+)=([0-9.]+)$/.exec(p);
    if (!m || !m[1] || !m[2]) throw new RerouteError('USAGE', `--pair ${JSON.stringify(p)} is not ESXI_ADDRESS=SCVM_IP`, 'Write it as e.g. --pair 10.10.0.11=10.20.0.101.');
    out[m[1]] = m[2];
  }
  return out;
}

/**
 * `reroute discover`: read the ESXi hosts and the meta session list, write a
 * manifest. The text is validated with the same parser every other command
 * uses before it is written; an existing file is never overwritten without --force.
 */
export async function runDiscover(io: IoHost, opts: DiscoverCommandOptions): Promise<number> {
  if (opts.esxi.length === 0) throw new RerouteError('USAGE', 'no ESXi host given', 'Name every ESXi host of the cluster: --esxi 10.10.0.11 10.10.0.12 …');
  if (new Set(opts.esxi).size !== opts.esxi.length) throw new RerouteError('USAGE', 'an ESXi host is named twice in --esxi', 'Name each host once.');
  if (opts.out && fs.existsSync(opts.out) && !opts.force) throw new RerouteError('USAGE', `${opts.out} exists`, 'Choose another --out file, or pass --force to replace it.');
  const esxiCred = credentialFlag(opts.keyFile, opts.passwordEnv, 'the ESXi hosts') ?? { agent: true as const };
  const scvmCredGiven = credentialFlag(opts.scvmKeyFile, opts.scvmPasswordEnv, 'the SCVMs');
  const keyFile = (c: CredentialFlag): CredentialFlag => ('keyFile' in c ? { keyFile: path.resolve(c.keyFile) } : c);
  const defaults = MANIFEST_DEFAULTS;
  const user = opts.user ?? 'root';
  io.info(`Reading ${opts.esxi.length} ESXi host(s)…`);
  const found = await discoverCluster({
    esxi: opts.esxi,
    user,
    credential: sourceOf(esxiCred),
    stateDir: opts.stateDir,
    scvm: opts.scvm,
    nfsAddress: DEFAULT_NFS_ADDRESS,
    restPort: defaults.routing.rest.port,
    restPath: defaults.routing.rest.path,
    dirName: defaults.install.dirName,
    port: defaults.ssh.port,
    connectTimeoutMs: defaults.ssh.connectTimeoutSeconds * 1000,
    commandTimeoutMs: defaults.ssh.commandTimeoutSeconds * 1000,
    onPin: (r) => {
      if (r.status !== 'match') io.info(`  ${describePin(r)}`);
    },
    onProgress: (m) => io.info(m),
  });
  const rendered = renderDiscoveredManifest({
    facts: found.facts,
    sessions: found.sessions,
    sessionsFrom: found.sessionsFrom,
    clusterName: opts.clusterName,
    datastore: opts.datastore,
    operatorPairs: parsePairs(opts.pair),
    nfsAddress: DEFAULT_NFS_ADDRESS,
    esxi: { user, credential: keyFile(esxiCred) },
    scvm: { user: opts.scvmUser ?? 'smartx', credential: keyFile(scvmCredGiven ?? esxiCred), credentialGuessed: scvmCredGiven === undefined },
    now: new Date().toISOString(),
  });
  const file = opts.out ?? 'discovered.yaml';
  // Never write a manifest that the other commands would refuse.
  const manifest = parseManifest(rendered.yaml, file, { bundledVersion: loadShippedBundle().version });
  for (const p of rendered.pairings) io.info(`  ${p.esxi} ↔ SCVM ${p.scvm.storageIp} / ${p.scvm.mgmtIp} (${p.evidence})`);
  if (rendered.guesses.length > 0) io.warn(`guessed (see the comments in the file): ${rendered.guesses.join('; ')}`);
  if (opts.out) {
    fs.writeFileSync(opts.out, rendered.yaml, { mode: 0o644 });
    io.result(`Wrote ${opts.out}: cluster ${manifest.clusterName}, ${manifest.nodes.length} node(s). Next: \`reroute plan -f ${opts.out}\`.`, { ok: true, file: opts.out, cluster: manifest.clusterName, nodes: manifest.nodes.length, pairings: rendered.pairings, guesses: rendered.guesses });
  } else {
    io.result(rendered.yaml, { ok: true, manifest: rendered.yaml, pairings: rendered.pairings, guesses: rendered.guesses });
  }
  return EXIT_OK;
}
