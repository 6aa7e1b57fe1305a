import { discoverManifest, type DiscoverRequest } from '../../engine/discover-manifest';
import { EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { engineIo } from '../progress';

export type DiscoverCommandOptions = DiscoverRequest;

/** `reroute discover`: the use case is the engine's (src/engine/discover-manifest.ts); this prints what it found. */
export async function runDiscover(io: IoHost, opts: DiscoverCommandOptions): Promise<number> {
  const { yaml, manifest, pairings, guesses } = await discoverManifest(engineIo(io), opts);
  if (opts.out) {
    io.result(
      `Wrote ${opts.out}: cluster ${manifest.clusterName}, ${manifest.nodes.length} node(s). Next: \`reroute plan -f ${opts.out}\`.`,
      { ok: true, file: opts.out, cluster: manifest.clusterName, nodes: manifest.nodes.length, pairings, guesses },
    );
  } else {
    io.result(yaml, { ok: true, manifest: yaml, pairings, guesses });
  }
  return EXIT_OK;
}
