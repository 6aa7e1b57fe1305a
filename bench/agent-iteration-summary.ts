/**
 * The docs/benchmarks.md section of bench/agent-iteration.ts (pure: result in, markdown out).
 * Kept beside the benchmark so report.ts only registers it.
 */
import type { BenchResult, Stats } from './bench-result';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = Record<string, any>;

const sec = (ms: number | undefined): string => (ms === undefined || !Number.isFinite(ms) ? '–' : `${(ms / 1000).toFixed(2)} s`);
const dist = (s: Stats | undefined): string => (!s || s.n === 0 ? '–' : `${sec(s.p50)} (${sec(s.min)}–${sec(s.max)})`);
const cpu = (s: Stats | undefined): string => (!s || s.n === 0 ? '–' : `${Math.round(s.p50)} ms (max ${Math.round(s.max)})`);
const load = (s: Stats | undefined): string => (!s || s.n === 0 ? '–' : `${s.min}–${s.max}`);
const verdict = (met: unknown): string =>
  met === true ? '**met**' : met === false ? '**not met**' : '**not judged** (load not the condition, or a sample failed)';

export function agentIterationMd(r: BenchResult, header: (r: BenchResult) => string): string {
  const p = r.parameters as Any;
  const s = r.summary as Any;
  const row = (phase: string, label: string) => {
    const x = s[phase] as Any | undefined;
    if (!x) return `| ${label} | – | – | – | – | – | – |`;
    return `| ${label} | ${load(x.load1 as Stats)} | ${dist(x.wallMs as Stats)} | ${cpu(x.cpuMs as Stats)} | ${(x.bursts as Stats)?.p50 ?? '–'} | ${sec(x.boundMs as number)} | ${verdict(x.met)} |`;
  };
  const notes = r.notes.length ? `\n${r.notes.map((n) => `- ${n}`).join('\n')}\n` : '';
  return `## Agent iteration at 64 nodes during a failover (issue 14)

${header(r)}

One \`iterate\` of the shipped agent on a lab ESXi host whose local SCVM storage link is down, with
${p.peersPerTier} peers per tier (${p.livePeersPerTier} answering), ping timeout ${p.pingTimeoutS} s, interval ${p.intervalS} s,
tier bursts of ${p.pingBurst} peers; ${p.reps} samples per phase, each a fresh agent shell (the first
iteration of a failover: no backoff yet). Wall time p50 (min–max); CPU is the agent shell and every
child it reaped.

| phase | load average (1 min) | iteration wall | iteration CPU | bursts | target | |
|---|---|---|---|---|---|---|
${row('idle', 'as the machine was (no load generated)')}
${row('load4', `${p.poolSize} busy loops (load ≈ 4)`)}
${notes}`;
}
