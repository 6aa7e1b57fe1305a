import { hostname, userInfo } from 'node:os';
import type { ApplyEventSink } from '../apply/apply-events';
import type { ApplyDeps, ApplyJournalSink } from '../apply/apply-plan';
import { shippedEsxiScript } from '../agent/shipped-bundle';
import type { Manifest } from '../manifest/manifest-types';
import { TAKEOVER_VERIFY_SECONDS } from '../plan/plan-esxi';
import type { HostConnections } from '../remote/host-connections';
import type { ClusterKeypair } from '../state/cluster-keypair';
import { RerouteError } from '../errors/reroute-error';

/** `<user>@<machine>`: who holds a host lease (apply adds the pid). */
export function leaseOwner(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (containers): the lease still names the machine and pid.
  }
  return `${user}@${hostname()}`;
}

/**
 * What applyPlan needs from a cluster run: the run's connections, the
 * cluster key, the shipped host-ops library and the manifest's limits.
 * Shared by `reroute apply` and `reroute watch --mode correct`, so both
 * change hosts the same way.
 */
export function applyDepsFor(opts: {
  manifest: Manifest;
  version: string;
  connections: HostConnections;
  keypair: ClusterKeypair | undefined;
  events: ApplyEventSink;
  journal?: ApplyJournalSink;
  leaseOwner?: string;
}): ApplyDeps {
  const { manifest, connections, keypair } = opts;
  return {
    connect: (h) => connections.get({ kind: h.host, node: h.node, address: h.address }),
    privateKey: () => {
      // Only a plan that installs the key (ssh session source) asks for it, and then the session has one.
      if (keypair === undefined)
        throw new RerouteError(
          'INTERNAL',
          'the plan writes the cluster key but this run has none',
          'This is a bug in zbs-reroute; please report it.',
        );
      return keypair.privateKeyPem.reveal();
    },
    hostOpsLibrary: shippedEsxiScript('apply/host-ops.sh'),
    statusFile: `${manifest.install.runDir}/status`,
    version: opts.version,
    events: opts.events,
    journal: opts.journal,
    leaseOwner: opts.leaseOwner ?? leaseOwner(),
    // Long enough for the slowest host step (a takeover waits for the new agent) on top of the host timeout.
    leaseTtlSeconds: manifest.access.ssh.hostTimeoutSeconds + TAKEOVER_VERIFY_SECONDS,
    commandTimeoutMs: manifest.access.ssh.commandTimeoutSeconds * 1000,
    parallelism: manifest.access.parallelism,
  };
}
