import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadShippedBundle } from '../agent/shipped-bundle';
import { discoverCluster } from '../discover/discover-cluster';
import type { Pairing } from '../discover/discover-types';
import { renderDiscoveredManifest, type CredentialFlag } from '../discover/render-manifest';
import { RerouteError } from '../errors/reroute-error';
import { DEFAULT_NFS_ADDRESS, MANIFEST_DEFAULTS, parseManifest } from '../manifest';
import type { CredentialSource, Manifest } from '../manifest/manifest-types';
import type { EngineIo } from './engine-io';

export interface DiscoverRequest {
  esxi: string[];
  /** Where the manifest is written; absent: only returned. */
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
  /** ESXI_ADDRESS=SCVM_IP pairings the operator knows better than discovery. */
  pair?: string[];
  stateDir: string;
}

export interface DiscoveredManifest {
  yaml: string;
  manifest: Manifest;
  pairings: Pairing[];
  guesses: string[];
}

function credentialFlag(keyFile: string | undefined, passwordEnv: string | undefined, what: string): CredentialFlag | undefined {
  if (keyFile !== undefined && passwordEnv !== undefined)
    throw new RerouteError(
      'USAGE',
      `give one credential for ${what}, not both a key file and a password variable`,
      'Use either the key-file flag or the password-env flag.',
    );
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
    if (!m || !m[1] || !m[2])
      throw new RerouteError(
        'USAGE',
        `--pair ${JSON.stringify(p)} is not ESXI_ADDRESS=SCVM_IP`,
        'Write it as e.g. --pair 10.10.0.11=10.20.0.101.',
      );
    out[m[1]] = m[2];
  }
  return out;
}

/**
 * `reroute discover`: read the ESXi hosts and the meta session list, write a
 * manifest. The text is validated with the same parser every other command
 * uses before it is written; an existing file is never overwritten without --force.
 */
export async function discoverManifest(io: EngineIo, req: DiscoverRequest): Promise<DiscoveredManifest> {
  if (req.esxi.length === 0)
    throw new RerouteError('USAGE', 'no ESXi host given', 'Name every ESXi host of the cluster: --esxi 10.10.0.11 10.10.0.12 …');
  if (new Set(req.esxi).size !== req.esxi.length)
    throw new RerouteError('USAGE', 'an ESXi host is named twice in --esxi', 'Name each host once.');
  if (req.out && fs.existsSync(req.out) && !req.force)
    throw new RerouteError('USAGE', `${req.out} exists`, 'Choose another --out file, or pass --force to replace it.');
  const esxiCred = credentialFlag(req.keyFile, req.passwordEnv, 'the ESXi hosts') ?? { agent: true as const };
  const scvmCredGiven = credentialFlag(req.scvmKeyFile, req.scvmPasswordEnv, 'the SCVMs');
  const keyFile = (c: CredentialFlag): CredentialFlag => ('keyFile' in c ? { keyFile: path.resolve(c.keyFile) } : c);
  const defaults = MANIFEST_DEFAULTS;
  const user = req.user ?? 'root';
  io.emit({ code: 'DISCOVER_START', hosts: req.esxi.length });
  const found = await discoverCluster({
    esxi: req.esxi,
    user,
    credential: sourceOf(esxiCred),
    stateDir: req.stateDir,
    scvm: req.scvm,
    nfsAddress: DEFAULT_NFS_ADDRESS,
    restPort: defaults.routing.rest.port,
    restPath: defaults.routing.rest.path,
    dirName: defaults.install.dirName,
    port: defaults.ssh.port,
    connectTimeoutMs: defaults.ssh.connectTimeoutSeconds * 1000,
    commandTimeoutMs: defaults.ssh.commandTimeoutSeconds * 1000,
    onPin: (pin) => io.emit({ code: 'HOST_KEY_PINNED', pin }),
    onProgress: (message) => io.emit({ code: 'DISCOVER_PROGRESS', message }),
  });
  const rendered = renderDiscoveredManifest({
    facts: found.facts,
    sessions: found.sessions,
    sessionsFrom: found.sessionsFrom,
    clusterName: req.clusterName,
    datastore: req.datastore,
    operatorPairs: parsePairs(req.pair),
    nfsAddress: DEFAULT_NFS_ADDRESS,
    esxi: { user, credential: keyFile(esxiCred) },
    scvm: {
      user: req.scvmUser ?? 'smartx',
      credential: keyFile(scvmCredGiven ?? esxiCred),
      credentialGuessed: scvmCredGiven === undefined,
    },
    now: new Date().toISOString(),
  });
  // Never write a manifest that the other commands would refuse.
  const manifest = parseManifest(rendered.yaml, req.out ?? 'discovered.yaml', { bundledVersion: loadShippedBundle().version });
  io.emit({ code: 'DISCOVERED', pairings: rendered.pairings, guesses: rendered.guesses });
  if (req.out) fs.writeFileSync(req.out, rendered.yaml, { mode: 0o644 });
  return { yaml: rendered.yaml, manifest, pairings: rendered.pairings, guesses: rendered.guesses };
}
