/**
 * A real Prometheus server (Debian's `prometheus` package) inside a lab namespace, for the
 * monitoring lab test and the scrape benchmark: it scrapes `reroute watch --metrics-listen` over
 * that namespace's loopback and evaluates the rules it is given. Nothing listens or is sent
 * outside the namespace. The caller stops it (SIGTERM, then SIGKILL after 10 s).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { run } from './proc';

export interface LabPrometheus {
  /** http://ADDR:PORT, reachable from inside the namespace only. */
  readonly url: string;
  /** Its stderr so far (for a failure message). */
  log(): string;
  stop(): Promise<void>;
}

export interface LabPrometheusOptions {
  ns: string;
  /** Scratch folder for its config, rules and TSDB. */
  dir: string;
  /** IP:PORT it listens on inside the namespace. */
  listen: string;
  /** IP:PORT targets of the `zbs-reroute-watch` job. */
  targets: string[];
  /** Alert/recording rules file content (YAML), if any. */
  rules?: string;
  scrapeInterval?: string;
}

export function startLabPrometheus(o: LabPrometheusOptions): LabPrometheus {
  fs.mkdirSync(path.join(o.dir, 'data'), { recursive: true });
  const every = o.scrapeInterval ?? '1s';
  const config: Record<string, unknown> = {
    global: { scrape_interval: every, evaluation_interval: every },
    scrape_configs: [{ job_name: 'zbs-reroute-watch', scrape_timeout: every, static_configs: [{ targets: o.targets }] }],
  };
  if (o.rules !== undefined) {
    fs.writeFileSync(path.join(o.dir, 'rules.yml'), o.rules);
    config.rule_files = [path.join(o.dir, 'rules.yml')];
  }
  fs.writeFileSync(path.join(o.dir, 'prometheus.yml'), stringify(config));
  const p = spawn(
    'ip',
    [
      'netns',
      'exec',
      o.ns,
      'prometheus',
      `--config.file=${path.join(o.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(o.dir, 'data')}`,
      `--web.listen-address=${o.listen}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => p.on('exit', () => resolve()));
  return {
    url: `http://${o.listen}`,
    log: () => err,
    async stop() {
      if (p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** GET a URL from inside a namespace (node's fetch there); the body, or an error naming the status. */
export async function httpGetInNs(ns: string, url: string, timeoutMs = 15_000): Promise<string> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(${timeoutMs - 1000}) }).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); }, (e) => { console.error(String(e)); process.exit(2); })`;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeoutMs });
  if (r.code !== 0) throw new Error(`GET ${url}: exit ${r.code}: ${(r.stdout + r.stderr).slice(-500)}`);
  return r.stdout;
}

/** An instant PromQL query against a lab Prometheus: the result vector. */
export async function promQuery(
  ns: string,
  prometheusUrl: string,
  expr: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const body = JSON.parse(await httpGetInNs(ns, `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)) as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== 'success') throw new Error(`query ${expr}: ${body.status}`);
  return body.data.result;
}

/**
 * Many instant queries in one process in the namespace (a process start there costs seconds on a
 * loaded machine): for each expression, its result vector or the error Prometheus gave.
 */
export async function promQueries(
  ns: string,
  prometheusUrl: string,
  exprs: string[],
): Promise<{ expr: string; ok: boolean; error?: string }[]> {
  const urls = exprs.map((e) => `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(e)}`);
  const script = `(async () => { const out = []; for (const u of ${JSON.stringify(urls)}) { try { const r = await fetch(u); const b = await r.json(); out.push({ ok: b.status === 'success', error: b.error }); } catch (e) { out.push({ ok: false, error: String(e) }); } } process.stdout.write(JSON.stringify(out)); })()`;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`queries failed to run: ${r.stderr.slice(-500)}`);
  const results = JSON.parse(r.stdout) as { ok: boolean; error?: string }[];
  return exprs.map((expr, i) => ({ expr, ...(results[i] ?? { ok: false, error: 'no answer' }) }));
}
