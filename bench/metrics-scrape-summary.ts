/** The metrics-scrape section of docs/benchmarks.md (bench/metrics-scrape.ts). Pure: result in, markdown out. */
import type { BenchResult, Stats } from './bench-result';

interface ScrapeSummary {
  prometheusScrapeMs?: Stats;
  directGetMs?: Stats;
  failedScrapes?: number;
  series?: number;
  bodyBytes?: number;
  target?: { maxMs: number; met: boolean };
}

const row = (label: string, s: Stats | undefined): string =>
  !s || s.n === 0 ? `| ${label} | – | – | – | – |` : `| ${label} | ${s.n} | ${s.p50} | ${s.p90} | ${s.max} |`;

export function metricsScrapeMd(r: BenchResult, header: (r: BenchResult) => string): string {
  const s = r.summary as ScrapeSummary;
  const t = s.target;
  const verdict =
    t === undefined ? '–' : t.met ? `**met** (every scrape under ${t.maxMs} ms)` : `**not met** (target: every scrape under ${t.maxMs} ms)`;
  return `## Metrics scrape (issue 16)

${header(r)}

\`reroute watch --metrics-listen\` on a deployed ${r.lab.nodes}-node lab, scraped every second by Debian's Prometheus in the controller namespace.
${s.series ?? '–'} series, ${s.bodyBytes ?? '–'} bytes per scrape; failed scrapes: ${s.failedScrapes ?? '–'}.

| measure | n | p50 ms | p90 ms | max ms |
|---|---:|---:|---:|---:|
${row("Prometheus's scrape_duration_seconds", s.prometheusScrapeMs)}
${row('GET /metrics from the same namespace', s.directGetMs)}

Target: ${verdict}.
${r.notes.map((n) => `- ${n}`).join('\n')}
`;
}
