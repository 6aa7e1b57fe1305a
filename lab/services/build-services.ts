/**
 * Compiles the service programs to plain CommonJS so the lab can start dozens of them with bare
 * `node`: under tsx each costs ~85 MB and most of a second of CPU to start, plain node ~40 MB and
 * ~50 ms, which matters for a 16-node lab on 2 cores. Uses the project's own TypeScript
 * (transpile only; `npm run typecheck` is what checks types).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

export const SERVICE_PROGRAMS = ['meta-sim', 'nfs-sim', 'host-monitor'] as const;
export type ServiceProgram = (typeof SERVICE_PROGRAMS)[number];

/** Every module the programs load, relative to the repo root (keep in step with their imports). */
export const SOURCES = [
  'lab/services/meta-sim.ts',
  'lab/services/nfs-sim.ts',
  'lab/services/host-monitor.ts',
  'lab/services/cluster-state.ts',
  'lab/services/service-runtime.ts',
  'lab/services/io-summary.ts',
  'src/errors/reroute-error.ts',
];

/**
 * Writes OUT_DIR/<same relative path>.js for each source and returns the entry file per program.
 * Relative imports keep working because the tree shape is preserved.
 */
export function buildServices(outDir: string): Record<ServiceProgram, string> {
  for (const rel of SOURCES) {
    const src = fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8');
    const out = ts.transpileModule(src, {
      fileName: rel,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
      reportDiagnostics: true,
    });
    const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) {
      throw new Error(`${rel}: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
    }
    const dest = path.join(outDir, rel.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, out.outputText);
  }
  const entries = {} as Record<ServiceProgram, string>;
  for (const p of SERVICE_PROGRAMS) entries[p] = path.join(outDir, 'lab', 'services', `${p}.js`);
  return entries;
}

if (require.main === module) {
  const outDir = process.argv[2];
  if (outDir === undefined) {
    process.stderr.write('usage: build-services.ts OUT_DIR\n');
    process.exit(2);
  }
  const entries = buildServices(path.resolve(outDir));
  for (const [name, file] of Object.entries(entries)) process.stdout.write(`${name} ${file}\n`);
}
