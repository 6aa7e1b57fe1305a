import { RerouteError } from '../errors/reroute-error';

/** Command-line flags whose values are node names of the manifest. */
export type NodeNameFlag = '--target' | '--force-host';

/** The node names each flag was given (absent or empty: the flag was not used). */
export type NamedNodes = Partial<Record<NodeNameFlag, readonly string[] | undefined>>;

/**
 * A name outside the manifest is a typo, never "no node": refused as a usage error naming the
 * known nodes. The engine checks this as soon as the manifest is read, before any host is
 * contacted; the planner checks it again because an offline plan never opens a session.
 */
export function checkNodeNames(cluster: string, known: readonly string[], named: NamedNodes): void {
  for (const [flag, given] of Object.entries(named) as [NodeNameFlag, readonly string[] | undefined][]) {
    const unknown = (given ?? []).filter((n) => !known.includes(n));
    if (unknown.length > 0) {
      throw new RerouteError(
        'USAGE',
        `${flag} names no node of cluster ${cluster}: ${unknown.join(', ')}`,
        `Use node names from the manifest: ${known.join(', ')}.`,
      );
    }
  }
}
