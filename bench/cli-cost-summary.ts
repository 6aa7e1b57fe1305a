/** The cli-cost section of docs/benchmarks.md (bench/cli-cost.ts). Pure: result in, markdown out. */
import type { BenchResult, Stats } from './bench-result';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STEPS: Array<[string, string]> = [
  ['validate', '`validate` (3-node example)'],
  ['validate-nocache', '`validate`, code cache off'],
  ['plan-offline', '`plan --observed` (3-node snapshot)'],
  ['plan-offline-nocache', '`plan --observed`, code cache off'],
  ['observe', '`status` (observe)'],
  ['plan-fresh', '`plan`, fresh cluster'],
  ['apply', '`apply` from scratch'],
  ['noop-plan', '`plan`, nothing to do'],
];

const ms = (s: Stats | undefined): string => (!s || s.n === 0 ? '–' : `${Math.round(s.p50)} (${Math.round(s.min)}–${Math.round(s.max)})`);

export function cliCostMd(r: BenchResult, header: (r: BenchResult) => string): string {
  const s = r.summary as Any;
  const p = r.parameters as Any;
  const sizes = (p.sizes as number[]) ?? [];
  const cols = ['local', ...sizes.map((n) => `n${n}`)];
  const head = `| command | ${cols.map((c) => (c === 'local' ? 'no SSH' : `${c.slice(1)} node(s)`)).join(' | ')} |\n|---|${cols.map(() => '---:').join('|')}|`;
  const rows = STEPS.filter(([k]) => s.byStep?.[k])
    .map(([k, label]) => `| ${label} | ${cols.map((c) => ms(s.byStep[k]?.[c]?.cpuMs)).join(' | ')} |`)
    .join('\n');
  const fit = (name: string, label: string): string => {
    const f = s.fixedAndPerHost?.[name] as { fixedMs: number; perHostMs: number } | null | undefined;
    return f ? `- ${label}: **${f.fixedMs} ms fixed + ${f.perHostMs} ms per host**` : `- ${label}: – (needs two lab sizes)`;
  };
  const cache = (name: string, label: string): string => {
    const g = s.codeCache?.[name] as Any | null | undefined;
    return g ? `- ${label}: ${g.withCacheMs} ms with the V8 code cache, ${g.withoutCacheMs} ms without (${g.savedPct} % saved)` : '';
  };
  return `## CLI fixed cost (CPU per run and per host)

${header(r)}

user+sys CPU of the \`reroute\` process (release bundle), ms: median (min–max).

${head}
${rows}

${fit('observe', 'observe')}
${fit('planFresh', 'plan, fresh cluster')}
${fit('noopPlan', 'no-op plan')}
${cache('validate', 'validate')}
${cache('planOffline', 'offline plan')}
${r.notes.length ? `\n${r.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}
