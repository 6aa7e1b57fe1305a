/**
 * Metrics scrape cost (issue 16): `reroute watch --metrics-listen` on a deployed 16-node lab
 * (4 in --smoke), scraped once a second by a real Prometheus (Debian's package) in the lab
 * controller's namespace. Reported: Prometheus's own `scrape_duration_seconds` for the watch
 * target over a minute, the exposition's size and series count, and direct GET timings from the
 * same namespace. Target: every scrape under 50 ms. A scrape renders watch's cached checks
 * (src/metrics/watch-metrics.ts), so its cost should not depend on SSH or on the hosts.
 */
import * as path from 'node:path';
import { httpGetInNs, promQuery, startLabPrometheus, type LabPrometheus } from '../lab/lab-prometheus';
import { run } from '../lab/proc';
import { writeLabManifest } from '../test/support/lab-manifest';
import { reroute, startCli, type CliProcess } from '../test/support/run-cli';
import { sleep, startLab, until, benchLabName } from './bench-lab';
import { stats, type BenchBody, type BenchContext, type Benchmark } from './bench-result';

const METRICS = '127.0.0.1:9464';
const PROMETHEUS = '127.0.0.1:9090';
const TARGET_MS = 50;
/** As in reconcile-scaling: 16 lab agents at a 1 s interval would saturate the 2 cores and measure the lab. */
const ROUTING = { intervalSeconds: 30, failbackDelaySeconds: 180, pingTimeoutSeconds: 1 };

/** Wall time of N GETs, each measured inside the namespace (no process start in the figure). */
async function directGets(ns: string, url: string, n: number): Promise<number[]> {
  const script = `(async () => { const out = []; for (let i = 0; i < ${n}; i++) { const t = process.hrtime.bigint(); const r = await fetch(${JSON.stringify(url)}); await r.text(); out.push(Number(process.hrtime.bigint() - t) / 1e6); await new Promise((s) => setTimeout(s, 200)); } process.stdout.write(JSON.stringify(out)); })()`;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`direct GETs failed: ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout) as number[];
}

export const metricsScrape: Benchmark = {
  name: 'metrics-scrape',
  title: 'Metrics scrape: reroute watch --metrics-listen scraped by Prometheus',
  async run(ctx: BenchContext): Promise<BenchBody> {
    const nodes = ctx.smoke ? 4 : 16;
    const seconds = ctx.smoke ? 20 : 60;
    const name = benchLabName('zb-scrape', ctx.smoke);
    const lab = await startLab(name, nodes, ctx.log);
    let watch: CliProcess | undefined;
    let prom: LabPrometheus | undefined;
    try {
      const m = writeLabManifest(lab, ctx.workDir, 'cluster.yaml', { clusterName: name, routing: ROUTING });
      const state = `--state ${ctx.workDir}/state`;
      const applied = await reroute(lab, `apply -f ${m} ${state} --auto-approve`, { timeoutMs: 900_000 });
      if (applied.code !== 0) throw new Error(`apply exited ${applied.code}: ${applied.stdout.slice(-800)}`);
      ctx.log(`deployed ${nodes} node(s)`);
      watch = startCli(['--state', `${ctx.workDir}/state`, 'watch', '-f', m, '--interval', '10', '--metrics-listen', METRICS], { lab });
      const ns = lab.controller.ns;
      const body = await until(
        'every node checked',
        300_000,
        async () => {
          const t = await httpGetInNs(ns, `http://${METRICS}/metrics`).catch(() => '');
          return (t.match(/^zbs_reroute_agent_up\{/gm) ?? []).length === nodes ? t : undefined;
        },
        2000,
      );
      ctx.log('every node checked; starting Prometheus');
      prom = startLabPrometheus({ ns, dir: path.join(ctx.workDir, 'prometheus'), listen: PROMETHEUS, targets: [METRICS] });
      const p = prom;
      await until(
        'Prometheus scraping watch',
        60_000,
        async () => (await promQuery(ns, p.url, 'up == 1').catch(() => [])).length === 1,
        1000,
      );
      await sleep(seconds * 1000);
      const raw = JSON.parse(
        await httpGetInNs(
          ns,
          `${p.url}/api/v1/query?query=${encodeURIComponent(`scrape_duration_seconds{job="zbs-reroute-watch"}[${seconds}s]`)}`,
        ),
      ) as { data: { result: { values: [number, string][] }[] } };
      const scrapesMs = (raw.data.result[0]?.values ?? []).map(([, v]) => Math.round(Number(v) * 1e6) / 1e3);
      const failedScrapes = (await promQuery(ns, p.url, `count_over_time((up{job="zbs-reroute-watch"} == 0)[${seconds}s:1s])`)).length;
      const direct = await directGets(ns, `http://${METRICS}/metrics`, 30);
      const series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      const s = stats(scrapesMs);
      if (s.n === 0) throw new Error('Prometheus recorded no scrape of watch');
      ctx.log(`scrapes: n=${s.n} p50=${s.p50} ms max=${s.max} ms; ${series} series, ${body.length} bytes`);
      return {
        lab: { nodes, name },
        parameters: { nodes, seconds, scrapeInterval: '1s', watchInterval: '10s', routing: ROUTING, targetMs: TARGET_MS },
        samples: { prometheusScrapeMs: scrapesMs, directGetMs: direct },
        summary: {
          prometheusScrapeMs: s,
          directGetMs: stats(direct),
          failedScrapes,
          series,
          bodyBytes: body.length,
          target: { maxMs: TARGET_MS, met: s.max < TARGET_MS && failedScrapes === 0 },
        },
        notes: [
          "prometheusScrapeMs: Prometheus's scrape_duration_seconds of the watch target (request, render, transfer, parse), every sample over the window.",
          'directGetMs: GET /metrics timed inside a node process in the same namespace, 200 ms apart.',
          'The lab shares 2 cores with its 2×N hosts and agents: read the figures next to the load in the envelope.',
        ],
      };
    } finally {
      await watch?.stop('SIGTERM', 30_000);
      await prom?.stop();
      await lab.stop();
    }
  },
};
