/**
 * npm run bench [-- --only NAME[,NAME]] [-- --smoke | --quick] [-- --out DIR] [-- --no-docs] [-- --docs-only]
 *
 * Runs each benchmark on a lab of its own (needs root, like the lab tests), writes
 * bench/results/<name>.json per benchmark and regenerates docs/benchmarks.md (and the failover
 * timeline SVG) from every result file present. Benchmarks report figures; they never fail on
 * a figure. A benchmark that crashes is reported and the others still run (exit 1 at the end).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentAtRest } from './agent-at-rest';
import { agentIteration } from './agent-iteration';
import { runBenchmark, writeResult, type Benchmark } from './bench-result';
import { cliCost } from './cli-cost';
import { failover } from './failover';
import { lossProfile } from './loss-profile';
import { metricsScrape } from './metrics-scrape';
import { peerRead } from './peer-read';
import { reconcileScaling } from './reconcile-scaling';
import { writeDocs } from './report';
import { sessionSource } from './session-source';

export const BENCHMARKS: Benchmark[] = [
  sessionSource,
  reconcileScaling,
  failover,
  agentAtRest,
  lossProfile,
  peerRead,
  agentIteration,
  cliCost,
  metricsScrape,
];

const REPO = path.resolve(__dirname, '..');

interface Args {
  only?: string[];
  smoke: boolean;
  out: string;
  docs: boolean;
  /** Only regenerate docs/benchmarks.md and the SVG from the result files (no lab, no root). */
  docsOnly: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { smoke: false, out: path.join(REPO, 'bench', 'results'), docs: true, docsOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    // --quick is the loss profile's name for the same thing: fewer configurations and runs.
    if (v === '--smoke' || v === '--quick') a.smoke = true;
    else if (v === '--no-docs') a.docs = false;
    else if (v === '--docs-only') a.docsOnly = true;
    else if (v === '--only') a.only = [...(a.only ?? []), ...(argv[++i] ?? '').split(',').filter(Boolean)];
    else if (v === '--out') a.out = path.resolve(argv[++i] ?? '');
    else if (v === '--help' || v === '-h') {
      process.stdout.write(
        `usage: npm run bench -- [--smoke|--quick] [--only ${BENCHMARKS.map((b) => b.name).join('|')}] [--out DIR] [--no-docs] [--docs-only]\n`,
      );
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${v}\n`);
      process.exit(2);
    }
  }
  return a;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.docsOnly) {
    const written = writeDocs(args.out, path.join(REPO, 'docs'));
    process.stderr.write(`bench: wrote ${written.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: the lab needs root (network namespaces, chroot sshd)\n');
    return 1;
  }
  const unknown = (args.only ?? []).filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const chosen = BENCHMARKS.filter((b) => !args.only || args.only.includes(b.name));
  let failed = 0;
  for (const b of chosen) {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `zrb-${b.name}-`));
    try {
      const r = await runBenchmark(b, { smoke: args.smoke, workDir });
      const file = writeResult(args.out, r);
      process.stderr.write(`bench: ${b.name} done in ${(r.durationMs / 1000).toFixed(0)} s → ${path.relative(process.cwd(), file)}\n`);
    } catch (err) {
      failed += 1;
      process.stderr.write(`bench: ${b.name} crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  }
  if (args.docs) {
    const written = writeDocs(args.out, path.join(REPO, 'docs'));
    process.stderr.write(`bench: wrote ${written.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
  }
  return failed > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
