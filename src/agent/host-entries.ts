import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import { RerouteError } from '../errors/reroute-error';
import { shellQuote } from '../core/shell-quote';
import { AGENT_LOOP_FILE, BUSYBOX_PATH, CROND_PID_PATH, CRONTAB_PATH, LOCAL_SH_BEGIN, LOCAL_SH_END } from './bundle-layout';

/**
 * Datastore names that mean "no datastore". The seed tooling once wrote
 * `/vmfs/volumes/None/...` into a crontab after an ssh timeout and the agent
 * never ran again; the manifest schema rejects these too, this is the last guard.
 */
const NOT_A_DATASTORE = new Set(['', 'none', 'null', 'undefined', '.', '..']);

/** `/vmfs/volumes/<datastore>/<dirName>`: the one place every owned ESXi file lives. */
export function installDirFor(manifest: Pick<Manifest, 'install'>, node: Pick<NodeSpec, 'name' | 'esxi'>): string {
  const ds = node.esxi.datastore;
  const dir = manifest.install.dirName;
  if (NOT_A_DATASTORE.has(ds.trim().toLowerCase()) || ds.includes('/')) {
    throw new RerouteError(
      'MANIFEST_INVALID',
      `Node ${node.name}: "${ds}" is not a usable datastore name`,
      `Set nodes[].esxi.datastore of ${node.name} to a persistent datastore listed under /vmfs/volumes on that host.`,
    );
  }
  if (NOT_A_DATASTORE.has(dir.trim().toLowerCase()) || dir.includes('/')) {
    throw new RerouteError(
      'MANIFEST_INVALID',
      `install.dirName "${dir}" is not a usable folder name`,
      'Set install.dirName to a plain folder name such as zbs-reroute.',
    );
  }
  return `/vmfs/volumes/${ds}/${dir}`;
}

/** The exact root crontab line we own (cron re-launches the loop; its lock keeps one copy alive). */
export function renderCrontabLine(installDir: string): string {
  return `* * * * * /bin/sh ${installDir}/${AGENT_LOOP_FILE} &`;
}

/**
 * Our local.sh block, markers included, newline-terminated. The root crontab
 * lives on the ramdisk, so at boot the block puts our line back and restarts
 * crond so it reads it.
 */
export function renderLocalShBlock(installDir: string): string {
  const line = shellQuote(renderCrontabLine(installDir));
  const crontab = shellQuote(CRONTAB_PATH);
  const pid = shellQuote(CROND_PID_PATH);
  return (
    [
      LOCAL_SH_BEGIN,
      `grep -qxF ${line} ${crontab} || echo ${line} >> ${crontab}`,
      `if [ -f ${pid} ]; then kill "$(cat ${pid})" 2>/dev/null; fi`,
      `${shellQuote(BUSYBOX_PATH)} crond`,
      LOCAL_SH_END,
    ].join('\n') + '\n'
  );
}

/** Content of the drain pin file: one line, the target IP. Apply writes exactly this. */
export function pinFileContent(targetIp: string): string {
  return `${targetIp}\n`;
}
