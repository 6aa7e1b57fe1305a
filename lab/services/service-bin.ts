/**
 * The programs the lab starts for its hosts, built once per content hash into the lab cache:
 * meta-sim as plain CommonJS (build-services.ts; no tsx loader per process), the NFS stand-in
 * (one per SCVM) and the IO probe (one per lab, `--hosts`: every ESXi from one poll loop) as
 * small static C programs (lab/native/lab-nfs-sim.c, lab-io-probe.c).
 * Per host that is ~1 MB instead of a ~60-85 MB node process, which is what lets a 64-node
 * lab (128 hosts) idle on 2 cores. The TypeScript nfs-sim.ts / host-monitor.ts stay the
 * reference behaviour (services.test.ts runs both implementations against the same checks).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildServices, SOURCES } from './build-services';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const NATIVE = ['lab-nfs-sim', 'lab-io-probe'] as const;
const GCC_TIMEOUT_MS = 120_000;

export interface ServiceBin {
  /** node + this file: the meta REST stand-in. */
  metaSimJs: string;
  /** Static C: `--node NAME [--listen IP] [--port N]`, as nfs-sim.ts. */
  nfsSim: string;
  /** Static C: host-monitor.ts's options and JSON-lines records. */
  ioProbe: string;
}

function contentHash(): string {
  const h = createHash('sha256').update('service-bin-v1');
  for (const rel of [...SOURCES, ...NATIVE.map((n) => `lab/native/${n}.c`), 'lab/services/build-services.ts']) {
    h.update(rel);
    h.update(fs.readFileSync(path.join(REPO_ROOT, rel)));
  }
  h.update(process.version);
  return h.digest('hex').slice(0, 16);
}

function gcc(src: string, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('gcc', ['-static', '-O2', '-o', out, src], { timeout: GCC_TIMEOUT_MS }, (e, _stdout, stderr) => {
      if (e) reject(new Error(`gcc ${path.basename(src)} failed: ${stderr.trim() || e.message}`));
      else resolve();
    });
  });
}

function layout(dir: string): ServiceBin {
  return {
    metaSimJs: path.join(dir, 'lab', 'services', 'meta-sim.js'),
    nfsSim: path.join(dir, 'lab-nfs-sim'),
    ioProbe: path.join(dir, 'lab-io-probe'),
  };
}

const building = new Map<string, Promise<ServiceBin>>();

/** Builds (or reuses) CACHE_ROOT/services-<hash>; concurrent labs race safely through a rename. */
export function ensureServiceBin(cacheRoot: string): Promise<ServiceBin> {
  const dir = path.join(cacheRoot, `services-${contentHash()}`);
  const pending = building.get(dir);
  if (pending) return pending;
  const p = (async () => {
    if (fs.existsSync(path.join(dir, 'complete'))) return layout(dir);
    fs.mkdirSync(cacheRoot, { recursive: true, mode: 0o755 });
    const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
    fs.mkdirSync(tmp, { mode: 0o755 });
    try {
      buildServices(tmp);
      for (const n of NATIVE) await gcc(path.join(REPO_ROOT, 'lab', 'native', `${n}.c`), path.join(tmp, n));
      fs.writeFileSync(path.join(tmp, 'complete'), `${new Date().toISOString()}\n`);
      try {
        fs.renameSync(tmp, dir);
      } catch (e) {
        // Another lab finished the same build first: use theirs.
        if (!fs.existsSync(path.join(dir, 'complete'))) throw e;
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return layout(dir);
  })().finally(() => building.delete(dir));
  building.set(dir, p);
  return p;
}
