/**
 * Runs many `reroute` command lines in one process, each through the CLI's own
 * entry (`main(argv)`, exactly what bin/reroute.js calls), so a corpus of a few
 * hundred cases costs one tsx start instead of hundreds. Every outgoing
 * connection attempt is counted by ./connect-counter (loaded first).
 *
 *   node -r tsx/cjs test/reliability/cli-batch-runner.ts CASES.json RESULTS.json
 *
 * CASES.json: [{ id, argv: [...] }]; RESULTS.json: [{ id, code, stdout, stderr, ms }].
 */
import './connect-counter';
import * as fs from 'node:fs';
import { main } from '../../src/cli/main';

interface BatchCase {
  id: string;
  argv: string[];
}

async function runOne(c: BatchCase): Promise<{ id: string; code: number; stdout: string; stderr: string; ms: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const realOut = process.stdout.write.bind(process.stdout);
  const realErr = process.stderr.write.bind(process.stderr);
  const capture = (sink: string[]) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  process.env.ZRB_CASE = c.id;
  process.exitCode = undefined;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  const started = Date.now();
  let code: number;
  try {
    code = await main(['node', 'reroute', ...c.argv]);
  } catch (e) {
    // main() is meant never to throw; a throw is a finding, recorded as exit 99.
    err.push(`RUNNER: main threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    code = 99;
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    process.exitCode = undefined;
  }
  return { id: c.id, code, stdout: out.join(''), stderr: err.join(''), ms: Date.now() - started };
}

async function runAll(): Promise<void> {
  const [casesFile, resultsFile] = process.argv.slice(2);
  if (!casesFile || !resultsFile) throw new Error('usage: cli-batch-runner CASES.json RESULTS.json');
  const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8')) as BatchCase[];
  const results = [];
  for (const c of cases) results.push(await runOne(c));
  fs.writeFileSync(resultsFile, JSON.stringify(results));
}

runAll().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(3);
  },
);
