/**
 * docs/benchmarks.md and docs/benchmarks-failover.svg, regenerated from bench/results/*.json.
 * Rendering is pure (results in, text out); writeDocs does the file I/O.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { agentIterationMd } from './agent-iteration-summary';
import { readResults, type BenchResult, type Stats } from './bench-result';
import { cliCostMd } from './cli-cost-summary';
import { metricsScrapeMd } from './metrics-scrape-summary';
import type { TimelineExample } from './failover';
import { lossProfileMd } from './loss-profile-summary';
import { peerReadMd } from './peer-read-summary';
import { metCell, TARGET_ORDER } from './reconcile-targets';

const SVG_NAME = 'benchmarks-failover.svg';

const f0 = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
const f1 = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : (Math.round(v * 10) / 10).toString();
const f2 = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : (Math.round(v * 100) / 100).toString();
const sec = (ms: number | null | undefined): string =>
  ms === null || ms === undefined || !Number.isFinite(ms) ? '–' : `${(ms / 1000).toFixed(1)} s`;
const dist = (s: Stats | undefined, fmt: (v: number) => string = f1): string =>
  !s || s.n === 0 ? '–' : `${fmt(s.p50)} (${fmt(s.min)}–${fmt(s.max)})`;
const distS = (s: Stats | undefined): string => (!s || s.n === 0 ? '–' : `${sec(s.p50)} (${sec(s.min)}–${sec(s.max)})`);

/** The target table's rows, each as reconcileTargets wrote it (its target and measured text). */
function targetRows(t: Any, s: Any, sizes: number[]): string {
  return TARGET_ORDER.filter((k) => t[k] !== undefined)
    .map((k) => `| ${(t[k] as Any).target} | ${(t[k] as Any).measured ?? '–'} | ${metCell(k, t[k] as Any, s, sizes)} |`)
    .join('\n');
}

/** The CLI's own CPU per host (issue 14: reported, not judged), when the result has it. */
function cliPerHost(t: Any): string {
  const c = t.cliCpuPerHostMs as Any | undefined;
  if (!c) return '';
  const ms = (v: unknown) => (typeof v === 'number' ? `${v} ms` : '–');
  return `\nCLI CPU per host (reported, not a target; the CLI's own CPU at the largest size minus the smallest, per host added): observe ${ms(c.observe)}, no-op plan ${ms(c.noopPlan)}, apply ${ms(c.apply)}.\n`;
}

function header(r: BenchResult): string {
  const l = r.machine;
  return `_${r.mode} run, ${r.date.slice(0, 16).replace('T', ' ')} UTC, ${(r.durationMs / 1000).toFixed(0)} s, lab of ${r.lab.nodes} node(s); load average at start ${l.loadAvgStart.join(' / ')}, at end ${l.loadAvgEnd.join(' / ')} on ${l.cpus} CPU(s); code at ${r.source?.commit ?? '?'}${r.source?.dirty ? ' + uncommitted changes' : ''}. Raw data: \`bench/results/${r.benchmark}.json\`._`;
}

function notes(r: BenchResult): string {
  const cut = (n: string) => (n.length > 600 ? `${n.slice(0, 600)}… (full text in the JSON)` : n);
  return r.notes.length ? `\n${r.notes.map((n) => `- ${cut(n)}`).join('\n')}\n` : '';
}

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function sessionSourceMd(r: BenchResult): string {
  const s = r.summary as Any;
  const rest = s.rest as Any;
  const ssh = s.ssh as Any;
  const ratio = s.ratioSshOverRest as Any;
  const p = r.parameters as Any;
  const row = (what: string, a: string, b: string, rt?: number | null) =>
    `| ${what} | ${a} | ${b} | ${rt === undefined ? '' : rt === null ? '–' : `${rt}×`} |`;
  const raw = (x: Any) =>
    x.capS === 0 ? 'not run (smoke)' : x.returnedAfterMs === null ? `did not return within ${x.capS} s` : sec(x.returnedAfterMs);
  return `## 1. Session list source: REST vs ssh + zbs-meta

${header(r)}

${p.callsPerSource} calls per source from esxi-1 to its SCVM's storage IP, with the agent's exact commands
(\`wget -q -O - http://IP:80/api/v2/zbs_session/session\`; \`ssh -i KEY -o BatchMode=yes -o ConnectTimeout=2
-o StrictHostKeyChecking=yes -o UserKnownHostsFile=… smartx@IP zbs-meta session list\`). Median (min–max).

| per call | REST (wget) | ssh + zbs-meta | ssh / REST |
|---|---|---|---|
${row('wall time, ms', dist(rest.wallMs), dist(ssh.wallMs), ratio.wall)}
${row('client CPU user+sys, ms (wait4 rusage; mean)', f2(rest.cpuMs.mean), f2(ssh.cpuMs.mean), ratio.cpu)}
${row('client peak RSS, KiB (ru_maxrss = VmHWM at exit)', dist(rest.maxRssKb, f0), dist(ssh.maxRssKb, f0), ratio.maxRss)}
${row('bytes on the wire (vmk1 rx+tx, /proc/net/dev)', dist(rest.wireBytes, f0), dist(ssh.wireBytes, f0), ratio.wireBytes)}
${row('packets on the wire', dist(rest.wirePackets, f0), dist(ssh.wirePackets, f0))}
${row('response body, bytes', f0(rest.responseBytes.p50), f0(ssh.responseBytes.p50))}
${row("agent's whole single fetch (client + watchdog + parse): CPU ms/call", f1(rest.agentFetchCpuMsPerCall), f1(ssh.agentFetchCpuMsPerCall), ratio.agentFetchCpu)}
${row("agent's whole single fetch: wall ms/call", f1(rest.agentFetchWallMsPerCall), f1(ssh.agentFetchWallMsPerCall))}
${row('server side CPU ms/call (meta-sim / sshd+zbs-meta)', f1(rest.serverCpuMsPerCall), f1(ssh.serverCpuMsPerCall))}

**Hung meta** (accepts TCP, never answers; the lab's \`zbs-meta\` sleeps 30 s). Time until the agent has control back:

| | REST | ssh |
|---|---|---|
| one fetch from the hung local SCVM (watchdog: FETCH_TIMEOUT ${p.fetchTimeoutS} s / SSH_TIMEOUT ${p.sshTimeoutS} s) | ${distS(rest.hungLocalOneMs)} | ${distS(ssh.hungLocalOneMs)} |
| the fetch part of one iteration, local meta hung, peers fine (list obtained from a peer) | ${distS(rest.hungLocalSessionsMs)} | ${distS(ssh.hungLocalSessionsMs)} |
| the fetch part of one iteration, every meta hung (FETCH_TRIES ${p.fetchTries}; route kept) | ${distS(rest.hungAllSessionsMs)} | ${distS(ssh.hungAllSessionsMs)} |
| the bare client, no watchdog | ${raw(rest.rawHung)} | ${raw(ssh.rawHung)} |

**Default: \`rest\`** (the agent's \`SESSION_SOURCE\` default and the manifest's \`routing.sessionSource\` default).
Per call, ssh costs ${ratio.cpu ?? '–'}× the client CPU, ${ratio.maxRss ?? '–'}× the peak memory, ${ratio.wireBytes ?? '–'}× the bytes and
${ratio.wall ?? '–'}× the wall time of REST (the RSA handshake dominates), and with the local meta hung an
iteration using ssh needs ${ratio.hungLocalSessions ?? '–'}× as long to get a list from a peer (two 6 s watchdogs instead of two 2 s ones),
which delays a failover by that much. ssh stays available for SCVMs whose REST port is not reachable.
${notes(r)}`;
}

const STEP_NAMES: Record<string, string> = {
  startup: 'CLI start-up (`validate`, no SSH)',
  'observe-fresh': 'observe, fresh cluster (`status`)',
  'plan-fresh': 'plan, fresh cluster',
  'apply-scratch': 'apply from scratch (+ verify)',
  'noop-plan': 'no-op plan',
  observe: 'observe, installed (`status`)',
  upgrade: 'upgrade (apply new version + verify)',
};

function reconcileMd(r: BenchResult): string {
  const s = r.summary as Any;
  const sizes = (r.parameters as Any).sizes as number[];
  const head = `| step | ${sizes.map((n) => `${n} node(s)`).join(' | ')} |\n|---|${sizes.map(() => '---').join('|')}|`;
  const rows = Object.keys(STEP_NAMES)
    .map((st) => {
      const cells = sizes.map((n) => {
        const x = (s[`n${n}`] as Any | undefined)?.[st] as Any | undefined;
        if (!x) return '–';
        const rt = x.roundTrips as Any;
        const trips = st === 'startup' ? '' : ` · ${rt.perEsxi.max}/${rt.perScvm.max} exec`;
        const bad = ((x.exitCodes as number[] | undefined) ?? []).filter((c) => c !== 0 && !(st === 'plan-fresh' && c === 2));
        const host = (x.hostCpuMs as Stats | undefined)?.n
          ? `, hosts ${sec((x.hostCpuMs as Stats).p50)}, floor ${sec(x.cpuFloorMs as number)}`
          : '';
        const cpu = (x.cliCpuMs as Stats | undefined)?.n ? ` (CLI CPU ${sec((x.cliCpuMs as Stats).p50)}${host})` : '';
        return `${sec(x.wallMs.p50)}${cpu}${trips}${bad.length ? ` · **exit ${bad.join(',')}**` : ''}`;
      });
      return `| ${STEP_NAMES[st]} | ${cells.join(' | ')} |`;
    })
    .join('\n');
  const t = s.targets as Any;
  const big = s[`n${t.largest}`] as Any | undefined;
  return `## 2. Reconcile scaling

${header(r)}

Wall time of the \`reroute\` command (median of ${(r.parameters as Any).repeats} for the repeatable steps, one run for apply and
upgrade), with the CLI process's own CPU time in brackets (where recorded, also the CPU the lab hosts spent on the
step's SSH sessions and the floor (CLI + hosts) / cores that no wall time can beat on this machine) · SSH execs per ESXi host / per SCVM (max over hosts). Access parallelism ${(r.parameters as Any).parallelism} (manifest default).
CLI: ${(r.parameters as Any).cli}, run in the ${(r.parameters as Any).where ?? 'lab controller namespace'}. For reference, the dev CLI
(\`bin/reroute.js\` through tsx, which transpiles on every start) needs ${distS(s.devCliStartupMs as Stats | undefined)} just to start.

${head}
${rows}

| target | measured | |
|---|---|---|
${targetRows(t, s, sizes)}
${cliPerHost(t)}
A target counts as met only when every run it is read from succeeded (bench/reconcile-targets.ts): a failed run measured a failure.

Reading it: round trips per host do not grow with the cluster (observe: 1 exec per ESXi host; plan: 3, the probe,
the preflight and the agent's \`--fetch-once\`). What grows is waiting: the CLI's own CPU at
${t.largest} nodes is ${sec(big?.observe?.cliCpuMs?.p50)} of an observe taking ${sec(big?.observe?.wallMs?.p50)}${big?.observe?.hostCpuMs?.n ? `, while the ${2 * t.largest} lab hosts spent ${sec(big.observe.hostCpuMs.p50)} of CPU answering it (sshd, busybox, the probe and the ESXi command stand-ins), so no run on these 2 cores could take less than ${sec(big.observe.cpuFloorMs)}` : `; the rest is ${2 * t.largest} lab hosts (sshd, busybox, the probe) answering on the same 2 cores`}.
A real cluster spreads that host work over ${t.largest} ESXi hosts and ${t.largest} SCVMs, each with its own CPUs. The targets
are judged on the lab figures as measured, not corrected for that.
${notes(r)}`;
}

function failoverMd(r: BenchResult): string {
  const s = r.summary as Any;
  const p = r.parameters as Any;
  const keys = Object.keys(s);
  // Extremes over every scenario and interval, for the sentence under the table.
  const maxOf = (field: string, which: 'min' | 'max'): number => {
    const v = keys.map((k) => ((s[k] as Any)[field] as Stats)[which]).filter((x) => Number.isFinite(x));
    return v.length === 0 ? NaN : which === 'min' ? Math.min(...v) : Math.max(...v);
  };
  const rows = keys
    .map((k) => {
      const x = s[k] as Any;
      const exp = x.target.failbackExpectedErrorMs as number[] | undefined;
      const expCell = exp ? `${x.target.failbackWithinExpected} in ${sec(exp[0])}…${sec(exp[1])}` : '–';
      return `| ${k} | ${x.runs} | ${(x.failedOverTo as string[]).join(', ')} | ${distS(x.failoverMs)} | ${distS(x.gapMs)} | ${x.target.gapWithinBound} ≤ ${sec(x.target.gapBoundMs)} | ${distS(x.failbackMs)} | ${distS(x.failbackErrorMs)} | ${x.target.failbackWithinOneInterval} | ${expCell} | ${sec(x.failbackGapMs.max)} |`;
    })
    .join('\n');
  return `## 3. Failover and failback

${header(r)}

Agent on all ${r.lab.nodes} hosts, session source REST, failback delay ${p.failbackDelay} s, ping timeout ${p.pingTimeout} s;
${p.rounds} round(s) per interval, the three faults at once on nodes 1–3, held ${p.holdMs / 1000} s after every host
failed over, then healed. Median (min–max).

| scenario @ interval | runs | failed over to | fault → route moved | longest IO gap | gap ≤ 2×interval + ping | heal → back on local SCVM | failback error (− delay) | error within ±1 interval (issue target) | error in expected window | IO gap at failback (max) |
|---|---|---|---|---|---|---|---|---|---|---|
${rows}

Seed tooling: ≈ 30 s to move IO and ≤ 3 min to move it back. Here the route moved ${sec(maxOf('failoverMs', 'min'))}–${sec(maxOf('failoverMs', 'max'))}
after the fault, and failback came ${sec(maxOf('failbackErrorMs', 'min'))} to ${sec(maxOf('failbackErrorMs', 'max'))} after the configured delay (production default 180 s),
with no IO gap when moving back (both paths healthy).

![failover timeline](${SVG_NAME})
${notes(r)}`;
}

function atRestMd(r: BenchResult): string {
  const s = r.summary as Any;
  const row = (src: string) => {
    const x = s[src] as Any | undefined;
    if (!x) return `| ${src} | – | – | – | – | – | – | – |`;
    return `| ${src} | ${f1(x.cpuSecondsPerHour.total)} (loop ${f1(x.cpuSecondsPerHour.loop)} + cron ${f1(x.cpuSecondsPerHour.cronStarters)}) | ${f2(x.loopCpuPercentOfOneCore)} % | ${f1(x.cpuMsPerIteration)} | ${f0(x.loopRssKb.p50)} | ${f0(x.treeRssKb.max)} | ${f0(x.logBytesPerHour)} | ${f0(x.lastFetchMs)} |`;
  };
  const p = r.parameters as Any;
  return `## 4. Agent cost at rest

${header(r)}

Idle healthy lab, production timings (interval ${p.timing.interval} s, failback ${p.timing.failbackDelay} s), measured for ${p.periodS} s
and extrapolated to one hour.

| source | CPU s per hour | of one core | CPU ms per iteration | loop shell RSS, KiB | peak RSS of loop + children, KiB | log bytes/hour | fetch_ms |
|---|---|---|---|---|---|---|---|
${row('rest')}
${row('ssh')}

ssh / REST CPU per hour: ${s.ratioSshOverRestCpu ?? '–'}×.
${notes(r)}`;
}

const RENDER: Record<string, (r: BenchResult) => string> = {
  'session-source': sessionSourceMd,
  'reconcile-scaling': reconcileMd,
  failover: failoverMd,
  'agent-at-rest': atRestMd,
  'agent-iteration': (r) => agentIterationMd(r, header),
  'peer-read': (r) => peerReadMd(r, header),
  'cli-cost': (r) => cliCostMd(r, header),
  'metrics-scrape': (r) => metricsScrapeMd(r, header),
};

const ORDER = [
  'session-source',
  'reconcile-scaling',
  'failover',
  'agent-at-rest',
  'loss-profile',
  'peer-read',
  'agent-iteration',
  'cli-cost',
  'metrics-scrape',
];

/** `archive` holds earlier runs kept for comparison (e.g. the loss profile of the previous agent). */
export function renderMarkdown(results: BenchResult[], archive: BenchResult[] = []): string {
  const before = archive.find((r) => r.benchmark === 'loss-profile');
  const render = (r: BenchResult): string =>
    r.benchmark === 'loss-profile'
      ? lossProfileMd(r, header, before)
      : (RENDER[r.benchmark] ?? (() => `## ${r.benchmark}\n\n(no renderer)\n`))(r);
  const sorted = [...results].sort((a, b) => ORDER.indexOf(a.benchmark) - ORDER.indexOf(b.benchmark));
  const loadRows = sorted.map(
    (r) =>
      `| ${r.benchmark} | ${r.mode} | ${r.date.slice(0, 16).replace('T', ' ')} | ${r.machine.loadAvgStart.join(' / ')} | ${r.machine.loadAvgEnd.join(' / ')} | ${(r.durationMs / 1000).toFixed(0)} s |`,
  );
  const body = sorted.map(render).join('\n');
  return `# Benchmarks

Generated by \`npm run bench\` from \`bench/results/*.json\` (do not edit by hand; re-run instead).
\`npm run bench -- --only NAME\` runs one benchmark, \`-- --smoke\` (or \`--quick\`) tiny sizes (about 1 minute per benchmark, 5 for the first four, about 6 for the loss profile). Needs root, like the lab.
Benchmarks report figures; they are not pass/fail tests. Issue 7's and issue 12's targets are compared where they set them.

**Noise.** Every figure was taken on the lab (network namespaces, chrooted busybox hosts, real sshd) on a
machine with ${sorted[0]?.machine.cpus ?? 2} cores shared with other jobs running at the same time: the load average below is recorded
with every result, and absolute times are inflated by it (a 16-node lab also loads the machine itself).
Ratios and round-trip counts are the robust figures; ESXi's own busybox, ssh and vmkernel will differ.

| benchmark | mode | date (UTC) | load avg at start (1/5/15 min) | at end | duration |
|---|---|---|---|---|---|
${loadRows.join('\n')}

${body}`;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#bab0ac'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One failover round as a timeline: per ESXi host, who served its IO, the IO gaps, route changes. */
export function renderFailoverSvg(ex: TimelineExample): string {
  const W = 960;
  const left = 90;
  const right = 20;
  const top = 66;
  const rowH = 46;
  const t0 = ex.tFault - 2_000;
  const t1 = ex.tEnd;
  const width = W - left - right;
  const x = (t: number) => left + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * width;
  const nodes = [...new Set(ex.hosts.flatMap((h) => h.segments.map((s) => s.node)))].sort();
  const color = (n: string) => PALETTE[nodes.indexOf(n) % PALETTE.length] as string;
  const H = top + ex.hosts.length * rowH + 70;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(
    `<text x="${left}" y="20" font-size="14" font-weight="bold">One failover round (interval ${ex.interval} s, failback delay ${ex.failbackDelay} s): who serves each ESXi host's IO</text>`,
  );
  out.push(
    `<text x="${left}" y="36" fill="#555">0 s: SCVM storage link of node-1 down, ESXi storage link of node-2 down, node-3 unhealthy in meta (node-4 untouched).</text>`,
  );
  out.push(
    `<text x="${left}" y="50" fill="#555">All healed at ${((ex.tHeal - ex.tFault) / 1000).toFixed(1)} s. Bar colour: SCVM answering the host's IO probe; red: IO gap; black tick: 192.168.33.2 route change.</text>`,
  );
  ex.hosts.forEach((h, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + 20}" text-anchor="end">${esc(h.host)}</text>`);
    out.push(`<rect x="${left}" y="${y + 6}" width="${width}" height="22" fill="#f2f2f2"/>`);
    for (const s of h.segments) {
      const w = Math.max(1, x(s.to + 50) - x(s.from));
      out.push(
        `<rect x="${x(s.from).toFixed(1)}" y="${y + 6}" width="${w.toFixed(1)}" height="22" fill="${color(s.node)}"><title>${esc(s.node)}</title></rect>`,
      );
    }
    for (const g of h.gaps) {
      if (g.ms <= 0) continue;
      out.push(
        `<rect x="${x(g.from).toFixed(1)}" y="${y + 4}" width="${Math.max(2, x(g.to) - x(g.from)).toFixed(1)}" height="26" fill="#e15759" opacity="0.85"><title>gap ${g.ms} ms</title></rect>`,
      );
    }
    for (const r of h.routes) {
      if (r.action !== 'add') continue;
      out.push(
        `<line x1="${x(r.t).toFixed(1)}" x2="${x(r.t).toFixed(1)}" y1="${y + 2}" y2="${y + 32}" stroke="#000" stroke-width="1.5"><title>route via ${esc(r.via ?? '?')}</title></line>`,
      );
    }
  });
  const yAxis = top + ex.hosts.length * rowH + 4;
  out.push(`<line x1="${left}" x2="${left + width}" y1="${yAxis}" y2="${yAxis}" stroke="#333"/>`);
  const span = (t1 - t0) / 1000;
  const step = span > 40 ? 5 : span > 15 ? 2 : 1;
  for (let s = Math.ceil(-2 / step) * step; s <= span - 2; s += step) {
    const xx = x(ex.tFault + s * 1000);
    out.push(
      `<line x1="${xx.toFixed(1)}" x2="${xx.toFixed(1)}" y1="${yAxis}" y2="${yAxis + 5}" stroke="#333"/><text x="${xx.toFixed(1)}" y="${yAxis + 18}" text-anchor="middle" fill="#333">${s}</text>`,
    );
  }
  out.push(`<text x="${left + width}" y="${yAxis + 32}" text-anchor="end" fill="#333">seconds since the faults</text>`);
  for (const [t, label] of [
    [ex.tFault, 'faults'],
    [ex.tHeal, 'heal'],
  ] as const) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top - 4}" y2="${yAxis}" stroke="#333" stroke-dasharray="4 3"/><text x="${(x(t) + 3).toFixed(1)}" y="${top + 2}" fill="#333">${label}</text>`,
    );
  }
  nodes.forEach((n, i) => {
    const lx = left + i * 110;
    out.push(
      `<rect x="${lx}" y="${H - 22}" width="14" height="12" fill="${color(n)}"/><text x="${lx + 18}" y="${H - 12}">${esc(n)}</text>`,
    );
  });
  out.push(
    `<rect x="${left + nodes.length * 110}" y="${H - 22}" width="14" height="12" fill="#e15759"/><text x="${left + nodes.length * 110 + 18}" y="${H - 12}">IO gap</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function writeDocs(resultsDir: string, docsDir: string): string[] {
  const results = readResults(resultsDir);
  const archive = readResults(path.join(resultsDir, 'archive')).filter((r) => r.benchmark === 'loss-profile');
  const written: string[] = [];
  fs.mkdirSync(docsDir, { recursive: true });
  const md = path.join(docsDir, 'benchmarks.md');
  fs.writeFileSync(md, renderMarkdown(results, archive));
  written.push(md);
  const fo = results.find((r) => r.benchmark === 'failover');
  const ex = (fo?.samples as { timelineExample?: TimelineExample | null } | undefined)?.timelineExample;
  if (ex) {
    const svg = path.join(docsDir, SVG_NAME);
    fs.writeFileSync(svg, renderFailoverSvg(ex));
    written.push(svg);
  }
  return written;
}
