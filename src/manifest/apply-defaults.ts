/**
 * Turns schema-valid manifest data into the normalized `Manifest`: every
 * optional field gets its documented default, credentials become tagged
 * unions. Defaults live here and nowhere else.
 */
import type { CredentialSource, FallbackTier, Manifest, NodeSpec, RoutingMode, SessionSource } from './manifest-types';

export const DEFAULT_NFS_ADDRESS = '192.168.33.2';
export const DEFAULT_FALLBACK_ORDER: readonly FallbackTier[] = ['local-storage', 'remote-storage', 'remote-management'];

export const MANIFEST_DEFAULTS = {
  nfsAddress: DEFAULT_NFS_ADDRESS,
  install: { dirName: 'zbs-reroute', logFile: '/var/log/scvm_failure.log', runDir: '/var/run/zbs-reroute' },
  routing: {
    intervalSeconds: 3,
    failbackDelaySeconds: 180,
    pingTimeoutSeconds: 1,
    sessionSource: 'rest' as SessionSource,
    mode: 'active' as RoutingMode,
    rest: { port: 80, path: '/api/v2/zbs_session/session' },
  },
  scvmSudo: true,
  ssh: { port: 22, connectTimeoutSeconds: 10, commandTimeoutSeconds: 60, hostTimeoutSeconds: 300, keepaliveSeconds: 5 },
  parallelism: 8,
  agentSocketEnv: 'SSH_AUTH_SOCK',
} as const;

/** The manifest as written, after the schema accepted it. */
interface RawCredential {
  keyFile?: string;
  passphraseEnv?: string;
  agent?: true;
  socketEnv?: string;
  passwordEnv?: string;
  prompt?: true;
}
interface RawManifest {
  metadata: { name: string };
  spec: {
    version?: string;
    nfsAddress?: string;
    networks: { storage: string; management?: string };
    install?: Partial<Manifest['install']>;
    routing?: {
      intervalSeconds?: number;
      failbackDelaySeconds?: number;
      pingTimeoutSeconds?: number;
      fallbackOrder?: FallbackTier[];
      sessionSource?: SessionSource;
      mode?: RoutingMode;
      rest?: { port?: number; path?: string };
    };
    access: {
      esxi: { user: string; credential: RawCredential };
      scvm: { user: string; sudo?: boolean; credential: RawCredential };
      ssh?: Partial<Manifest['access']['ssh']>;
      parallelism?: number;
    };
    nodes: NodeSpec[];
  };
}

function credential(raw: RawCredential): CredentialSource {
  if (raw.keyFile !== undefined)
    return raw.passphraseEnv === undefined
      ? { kind: 'key-file', path: raw.keyFile }
      : { kind: 'key-file', path: raw.keyFile, passphraseEnv: raw.passphraseEnv };
  if (raw.agent) return { kind: 'agent', socketEnv: raw.socketEnv ?? MANIFEST_DEFAULTS.agentSocketEnv };
  if (raw.passwordEnv !== undefined) return { kind: 'password-env', env: raw.passwordEnv };
  return { kind: 'prompt' };
}

function node(raw: NodeSpec): NodeSpec {
  const out: NodeSpec = {
    name: raw.name,
    esxi: { address: raw.esxi.address, storageVmk: raw.esxi.storageVmk, storageIp: raw.esxi.storageIp, datastore: raw.esxi.datastore },
    scvm: { managementIp: raw.scvm.managementIp, storageIp: raw.scvm.storageIp },
  };
  if (raw.scvm.accessIp !== undefined) out.scvm.accessIp = raw.scvm.accessIp;
  if (raw.zone !== undefined) out.zone = raw.zone;
  if (raw.storageGateway !== undefined) out.storageGateway = raw.storageGateway;
  if (raw.drain !== undefined) out.drain = raw.drain.to === undefined ? {} : { to: raw.drain.to };
  return out;
}

export function applyDefaults(data: unknown, source: string, bundledVersion: string): Manifest {
  const raw = data as RawManifest;
  const { spec } = raw;
  const d = MANIFEST_DEFAULTS;
  const networks: Manifest['networks'] = { storage: spec.networks.storage };
  if (spec.networks.management !== undefined) networks.management = spec.networks.management;
  return {
    source,
    clusterName: raw.metadata.name,
    version: spec.version ?? bundledVersion,
    nfsAddress: spec.nfsAddress ?? d.nfsAddress,
    networks,
    install: { ...d.install, ...spec.install },
    routing: {
      intervalSeconds: spec.routing?.intervalSeconds ?? d.routing.intervalSeconds,
      failbackDelaySeconds: spec.routing?.failbackDelaySeconds ?? d.routing.failbackDelaySeconds,
      pingTimeoutSeconds: spec.routing?.pingTimeoutSeconds ?? d.routing.pingTimeoutSeconds,
      fallbackOrder: [...(spec.routing?.fallbackOrder ?? DEFAULT_FALLBACK_ORDER)],
      sessionSource: spec.routing?.sessionSource ?? d.routing.sessionSource,
      mode: spec.routing?.mode ?? d.routing.mode,
      rest: { ...d.routing.rest, ...spec.routing?.rest },
    },
    access: {
      esxi: { user: spec.access.esxi.user, credential: credential(spec.access.esxi.credential) },
      scvm: { user: spec.access.scvm.user, sudo: spec.access.scvm.sudo ?? d.scvmSudo, credential: credential(spec.access.scvm.credential) },
      ssh: { ...d.ssh, ...spec.access.ssh },
      parallelism: spec.access.parallelism ?? d.parallelism,
    },
    nodes: spec.nodes.map(node),
  };
}
