/**
 * The docs/benchmarks.md section of bench/peer-read.ts (pure: result in, markdown out).
 * Kept beside the benchmark so report.ts only registers it.
 */
import type { BenchResult, Stats } from './bench-result';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = Record<string, any>;

const NAMES: Record<string, string> = {
  'ssh-loop': 'plain OpenSSH loop (`for h …; do ssh … & done; wait`)',
  pssh: '`parallel-ssh` (pssh)',
  ansible: 'Ansible ad hoc, `raw` module, forks 8',
  'reroute-plan': '`reroute plan` (ESXi **and** SCVM hosts)',
  'reroute-status': '`reroute status` (observe only: the probe on ESXi, keys and session on SCVMs)',
  'reroute-validate': '`reroute validate` (CLI start-up, no SSH; reference)',
  'probe-in-host': "the probe run inside every ESXi host at once, no SSH (reference: the hosts' own share)",
};

const sec = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? '–' : `${(ms / 1000).toFixed(2)} s`);
const dist = (s: Stats | undefined): string => (!s || s.n === 0 ? '–' : `${sec(s.p50)} (${sec(s.min)}–${sec(s.max)})`);
const times = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? `${v}×` : '–');
const range = (s: Stats | undefined): string =>
  !s || s.n === 0 ? '–' : `${(Math.round(s.min * 100) / 100).toString()}–${(Math.round(s.max * 100) / 100).toString()}×`;
const verdict = (met: unknown): string =>
  met === true ? '**met**' : met === false ? '**not met**' : '**not measured** (tool missing or a run failed)';

export function peerReadMd(r: BenchResult, header: (r: BenchResult) => string): string {
  const p = r.parameters as Any;
  const s = r.summary as Any;
  const tools = s.tools as Record<string, Any>;
  const rows = Object.keys(NAMES)
    .map((t) => {
      const x = tools[t];
      if (!x) return `| ${NAMES[t]} | – | – | – | – |`;
      if (x.available === false) return `| ${NAMES[t]} | **not installed** | – | – | – |`;
      const failed = x.failed > 0 ? ` · **${x.failed} failed**` : '';
      return `| ${NAMES[t]} | ${dist(x.wallMs)}${failed} | ${dist(x.cpuMs)} | ${x.runs} | ${(x.load1 as Stats).n ? `${(x.load1 as Stats).p50} (${(x.load1 as Stats).min}–${(x.load1 as Stats).max})` : '–'} |`;
    })
    .join('\n');
  const ra = s.ratios as Any;
  const t = s.targets as Any;
  const inside = (tool: string): string => {
    const bd = tools[tool]?.breakdown as Any | undefined;
    if (!bd?.sshPhaseMs?.n) return '';
    return `- \`${tool.replace('-', ' ')}\`: ${sec(bd.sshPhaseMs.p50)} from the first SSH dial to the last answer, ${sec(bd.outsideSshMs.p50)} outside it (CLI start-up, manifest, planning, output); slowest ESXi host: ${sec(bd.esxiConnectMsMax.p50)} to connect, ${bd.execsPerHost.esxi} exec(s) adding up to ${sec(bd.esxiExecMsPerHostMax.p50)}; slowest SCVM: ${sec(bd.scvmConnectMsMax.p50)} to connect, ${bd.execsPerHost.scvm} exec(s) adding up to ${sec(bd.scvmExecMsPerHostMax.p50)}.`;
  };
  const lines = [inside('reroute-plan'), inside('reroute-status')].filter(Boolean);
  const breakdown = lines.length ? `Inside reroute (its exec log, medians over the runs):\n\n${lines.join('\n')}\n` : '';
  const versions = Object.entries((p.versions ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  return `## Peer tools side by side: the probe over SSH to every ESXi host (issue 14)

${header(r)}

The same read — \`esxi/probe/probe.sh\` over SSH to each of the ${p.esxiHosts} ESXi hosts of a ${p.nodes}-node lab — by each tool,
${p.rounds} rounds alternating round-robin (each round starts with the next tool; one unrecorded \`reroute status\` first pins the host keys), all from the
lab controller namespace with the same key, user (\`${p.user}\`), host list and probe command. Median (min–max) wall time and the CPU of
the tool with every process it reaped, with the 1-minute load average when each run started.
Versions: ${versions || '–'}.

| tool | wall time | CPU (tool + children) | runs | load avg (1 min) |
|---|---|---|---|---|
${rows}

| ratio (medians) | measured | per round (min–max) |
|---|---|---|
| reroute plan / OpenSSH loop | ${times(ra.rerouteOverSshLoop)} | ${range(ra.perRound?.rerouteOverSshLoop)} |
| Ansible / reroute plan | ${times(ra.ansibleOverReroute)} | ${range(ra.perRound?.ansibleOverReroute)} |
| pssh / reroute plan | ${times(ra.psshOverReroute)} | ${range(ra.perRound?.psshOverReroute)} |
| Ansible / OpenSSH loop | ${times(ra.ansibleOverSshLoop)} | – |

| goal (issue 14) | measured | |
|---|---|---|
| ${t.notSlowerThanSshLoop.target} | ${times(t.notSlowerThanSshLoop.value)} | ${verdict(t.notSlowerThanSshLoop.met)} |
| ${t.fourTimesAnsible.target} | ${times(t.fourTimesAnsible.value)} | ${verdict(t.fourTimesAnsible.met)} |

${breakdown}
Parallelism as each tool ships or is configured: ${Object.entries((p.parallelism ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k} ${v}`)
    .join('; ')}.
${r.notes.length ? `\n${r.notes.map((n) => `- ${n.length > 600 ? `${n.slice(0, 600)}… (full text in the JSON)` : n}`).join('\n')}\n` : ''}`;
}
