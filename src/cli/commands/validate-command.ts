import { IoHost } from '../io-host';
import { EXIT_OK } from '../exit-codes';
import { loadManifest } from '../../manifest/manifest-load';
import { loadShippedBundle } from '../../agent/shipped-bundle';

export async function runValidate(io: IoHost, opts: { file: string }): Promise<number> {
  const bundle = loadShippedBundle();
  const manifest = loadManifest(opts.file, { bundledVersion: bundle.version });
  io.result(`${opts.file}: valid (cluster ${manifest.clusterName}, ${manifest.nodes.length} node(s), agent ${manifest.version})`, {
    ok: true,
    file: opts.file,
    cluster: manifest.clusterName,
    nodes: manifest.nodes.length,
    version: manifest.version,
  });
  return EXIT_OK;
}
