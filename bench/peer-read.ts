/**
 * A peer side by side (issue 14): the same read — esxi/probe/probe.sh over SSH to every ESXi host
 * of one lab — done by Ansible (`raw`, forks 8), parallel-ssh, a plain parallel OpenSSH loop and
 * `reroute plan` (which also reads every SCVM), in one run, the tools alternating round-robin.
 * Every tool starts in the lab's controller namespace with the same `ssh` (the lab's wrapper:
 * operator key, pinned known_hosts, BatchMode), the same user, host list and probe command;
 * `reroute plan` uses the manifest holding that key. Each run is wrapped in bench/native/rusage.c,
 * so wall time and the CPU of the whole process tree (every ssh child reaped) are the kernel's.
 * A tool that is not installed is reported as missing; the others still run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Lab } from '../lab/lab';
import { loadManifest } from '../src/manifest/manifest-load';
import { loadProbeScript, probeCommand, probeContext } from '../src/observe/observe-cluster';
import { shellCommand, shellQuote } from '../src/core/shell-quote';
import { writeLabManifest } from '../test/support/lab-manifest';
import { buildRusage, packagedCli, startLab, benchLabName } from './bench-lab';
import { loadAvg, stats, type BenchBody, type BenchContext, type Benchmark, type Stats } from './bench-result';
import { countRoundTrips } from './reconcile-scaling';
import { parseCallSamples } from './session-source';

export type PeerTool = 'ssh-loop' | 'pssh' | 'ansible' | 'reroute-plan' | 'reroute-status' | 'reroute-validate' | 'probe-in-host';

/** Rotation order; round r starts at index r, so no tool always runs right after the same one. */
export const TOOLS: PeerTool[] = ['ssh-loop', 'pssh', 'ansible', 'reroute-plan', 'reroute-status', 'reroute-validate', 'probe-in-host'];
/** Where the probe lies in each ESXi host for the no-SSH reference run. */
const IN_HOST_PROBE = '/tmp/zp-probe.sh';

/** The external programs each tool needs in the controller namespace, and where they come from. */
const NEEDS: Partial<Record<PeerTool, { bin: string; install: string }>> = {
  pssh: { bin: 'parallel-ssh', install: 'apt-get install pssh (bench/REQUIREMENTS.apt)' },
  ansible: { bin: 'ansible', install: 'apt-get install ansible-core (bench/REQUIREMENTS.apt)' },
};

export interface PeerSample {
  tool: PeerTool;
  round: number;
  wallMs: number;
  /** user+sys of the tool and every child it reaped (ssh processes, Ansible forks), ms. */
  cpuMs: number;
  maxRssKb: number;
  code: number;
  /** ESXi hosts whose complete probe output (`@@end`) came back; SCVMs for reroute in scvmOk. */
  esxiOk: number;
  scvmOk?: number;
  /** 1-minute load average when the run started. */
  load1: number;
  failure?: string;
  /** reroute plan only: the SSH phase and per-host times from its exec log (execBreakdown). */
  breakdown?: PlanBreakdown;
}

interface Setup {
  lab: Lab;
  dir: string;
  nodes: number;
  ru: string;
  cli: string;
  manifest: string;
}

const q = shellQuote;

const ESXI_USER = 'root';

/** Writes the per-tool scripts; every one reads the same hosts file, probe command and probe.sh. */
function writeScripts(s: Setup, cmd: string, inlineCmd: string, hosts: string[]): void {
  const d = s.dir;
  fs.writeFileSync(path.join(d, 'hosts'), `${hosts.join('\n')}\n`);
  fs.writeFileSync(path.join(d, 'probe-cmd'), cmd);
  // Ansible's inventory: the same addresses, no group or host variables beyond the user.
  fs.writeFileSync(path.join(d, 'inventory'), `[esxi]\n${hosts.join('\n')}\n\n[esxi:vars]\nansible_user=${ESXI_USER}\n`);
  // The command reaches `raw` through a variable so Ansible's free-form argument splitting never sees it.
  fs.writeFileSync(path.join(d, 'ansible-vars.json'), JSON.stringify({ probe_cmd: inlineCmd }));
  fs.writeFileSync(path.join(d, 'ansible.cfg'), '[defaults]\n');
  fs.writeFileSync(
    path.join(d, 'ssh-loop.sh'),
    [
      '#!/bin/sh',
      '# The plain OpenSSH loop: one ssh per host, all at once, probe.sh on stdin.',
      `cmd=$(cat ${q(`${d}/probe-cmd`)})`,
      `for h in $(cat ${q(`${d}/hosts`)}); do`,
      `  ssh -l ${ESXI_USER} "$h" "$cmd" <${q(`${d}/probe.sh`)} >"$1/$h.out" 2>"$1/$h.err" &`,
      'done',
      'wait',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(d, 'pssh.sh'),
    [
      '#!/bin/sh',
      '# parallel-ssh at its default parallelism (32: every host of the lab at once), probe.sh on stdin (-I).',
      `exec parallel-ssh -h ${q(`${d}/hosts`)} -l ${ESXI_USER} -t 300 -I -o "$1" -e "$1/err" "$(cat ${q(`${d}/probe-cmd`)})" <${q(`${d}/probe.sh`)} >"$1/pssh.stdout" 2>&1`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(d, 'ansible.sh'),
    [
      '#!/bin/sh',
      '# Ansible ad hoc, raw module, 8 forks. ControlMaster off: every tool opens fresh connections per run',
      "# (with Ansible's default ControlPersist=60s, later rounds would reuse the first round's sessions).",
      `export ANSIBLE_CONFIG=${q(`${d}/ansible.cfg`)} ANSIBLE_SSH_ARGS='-o ControlMaster=no' ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP=${q(`${d}/ansible-tmp`)}`,
      `exec ansible esxi -i ${q(`${d}/inventory`)} -m raw -f 8 -e @${q(`${d}/ansible-vars.json`)} -a '{{ probe_cmd }}' >"$1/ansible.stdout" 2>"$1/ansible.stderr"`,
      '',
    ].join('\n'),
  );
}

const read = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
/** A complete probe output ends with its `@@end COUNT` trailer. */
const complete = (text: string): boolean => /^@@end \d+\r?$/m.test(text);

/** How many hosts gave a complete probe output, per tool's output layout. */
function hostsOk(tool: PeerTool, out: string, hosts: string[]): number {
  if (tool === 'ssh-loop') return hosts.filter((h) => complete(read(path.join(out, `${h}.out`)))).length;
  if (tool === 'pssh') return hosts.filter((h) => complete(read(path.join(out, h)))).length;
  if (tool === 'ansible') {
    // Ad hoc output: "HOST | CHANGED | rc=0 >>" then the host's stdout, host after host.
    const blocks = read(path.join(out, 'ansible.stdout')).split(/^(?=\S+ \| [A-Z!]+)/m);
    return blocks.filter((b) => /^\S+ \| CHANGED \| rc=0 >>/.test(b) && complete(b)).length;
  }
  return 0;
}

function failureText(tool: PeerTool, out: string): string {
  const files =
    tool === 'ansible'
      ? ['ansible.stdout', 'ansible.stderr']
      : tool === 'pssh'
        ? ['pssh.stdout']
        : fs.existsSync(out)
          ? fs.readdirSync(out).filter((f) => f.endsWith('.err'))
          : [];
  const lines = files
    .flatMap((f) => read(path.join(out, f)).split('\n'))
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('@@') && !/^\[\d+\] .* SUCCESS/.test(l));
  return [...new Set(lines)].slice(0, 8).join(' / ').slice(0, 600);
}

/**
 * Reference, not a tool: the same probe command run inside every ESXi host at once, entered
 * directly (nsenter + chroot from the bench process, no SSH): the hosts' own share of every
 * tool's wall time. Timed from here, so it includes starting nsenter; no CPU figure.
 */
async function probeInHosts(s: Setup, cmd: string, round: number): Promise<PeerSample> {
  const load1 = loadAvg()[0] as number;
  const t0 = Date.now();
  const results = await Promise.all(
    s.lab.nodes.map((n) =>
      s.lab
        .exec(`esxi-${n.index}`, `${cmd} <${IN_HOST_PROBE}`, { timeoutMs: 600_000 })
        .catch((e: unknown) => ({ code: -1, stdout: '', stderr: String(e) })),
    ),
  );
  const wallMs = Date.now() - t0;
  const ok = results.filter((r) => r.code === 0 && complete(r.stdout)).length;
  const bad = results.find((r) => r.code !== 0 || !complete(r.stdout));
  return {
    tool: 'probe-in-host',
    round,
    wallMs,
    cpuMs: NaN,
    maxRssKb: NaN,
    code: bad?.code ?? 0,
    esxiOk: ok,
    load1,
    ...(bad ? { failure: `${ok}/${results.length} complete: ${bad.stderr.trim().slice(0, 300)}` } : {}),
  };
}

async function runOnce(s: Setup, tool: PeerTool, round: number, hosts: string[], cmd: string): Promise<PeerSample> {
  if (tool === 'probe-in-host') return probeInHosts(s, cmd, round);
  const out = path.join(s.dir, 'out', `${tool}-${round}`);
  fs.mkdirSync(out, { recursive: true });
  const ruFile = path.join(out, 'rusage');
  const execLog = path.join(out, 'exec.jsonl');
  const wrap = `${q(s.ru)} ${q(ruFile)}`;
  const command = {
    'ssh-loop': `${wrap} sh ${q(`${s.dir}/ssh-loop.sh`)} ${q(out)}`,
    pssh: `${wrap} sh ${q(`${s.dir}/pssh.sh`)} ${q(out)}`,
    ansible: `${wrap} sh ${q(`${s.dir}/ansible.sh`)} ${q(out)}`,
    'reroute-plan': `ZBS_REROUTE_EXEC_LOG=${q(execLog)} NO_COLOR=1 ${wrap} ${q(s.cli)} plan -f ${q(s.manifest)} --state ${q(`${s.dir}/state`)} >${q(`${out}/stdout`)} 2>&1`,
    'reroute-status': `ZBS_REROUTE_EXEC_LOG=${q(execLog)} NO_COLOR=1 ${wrap} ${q(s.cli)} status -f ${q(s.manifest)} --state ${q(`${s.dir}/state`)} >${q(`${out}/stdout`)} 2>&1`,
    'reroute-validate': `NO_COLOR=1 ${wrap} ${q(s.cli)} validate -f ${q(s.manifest)} >${q(`${out}/stdout`)} 2>&1`,
  }[tool as Exclude<PeerTool, 'probe-in-host'>];
  const load1 = loadAvg()[0] as number;
  const t0 = Date.now();
  const r = await s.lab.exec('ctl', `LANG=C.UTF-8 LC_ALL=C.UTF-8 ${command}`, { timeoutMs: 600_000 });
  const ru = parseCallSamples(read(ruFile), '')[0];
  const sample: PeerSample = {
    tool,
    round,
    wallMs: ru?.wallMs ?? Date.now() - t0,
    cpuMs: ru?.cpuMs ?? NaN,
    maxRssKb: ru?.maxRssKb ?? NaN,
    code: r.code,
    esxiOk: 0,
    load1,
  };
  if (tool.startsWith('reroute-')) {
    const { execs } = countRoundTrips(read(execLog));
    if (tool !== 'reroute-validate') sample.breakdown = execBreakdown(read(execLog));
    // Hosts the CLI ran commands on (the product's exec log); a host it could not reach has none.
    sample.esxiOk = Object.keys(execs).filter((k) => k.startsWith('esxi:')).length;
    sample.scvmOk = Object.keys(execs).filter((k) => k.startsWith('scvm:')).length;
    const wanted = tool === 'reroute-validate' ? 0 : s.nodes;
    if (r.code !== 0 || sample.esxiOk !== wanted)
      sample.failure =
        read(`${out}/stdout`)
          .split('\n')
          .filter((l) => /cannot|fail|error|unreachable|timed out/i.test(l))
          .slice(0, 8)
          .join(' / ')
          .slice(0, 600) || `exit ${r.code}`;
  } else {
    sample.esxiOk = hostsOk(tool, out, hosts);
    if (r.code !== 0 || sample.esxiOk !== hosts.length)
      sample.failure = `exit ${r.code}, ${sample.esxiOk}/${hosts.length} complete: ${failureText(tool, out)}`;
  }
  return sample;
}

export interface HostTimes {
  connectMs: Stats;
  /** Sum of a host's exec times (plan runs its preflight execs beside the probe, so this can exceed the wall time). */
  execMsPerHost: Stats;
  execsPerHost: number;
}

export interface PlanBreakdown {
  sshPhaseMs: number;
  esxi: HostTimes;
  scvm: HostTimes;
}

interface ExecLine {
  t: number;
  event: string;
  kind: string;
  node: string;
  ms: number;
}

/**
 * Where reroute plan's wall time goes, from the product's exec log (one line per connect and
 * exec, stamped at its end): the SSH phase from the first dial to the last answer, connect and
 * exec times per kind of host; the rest of the wall time is the CLI's own start-up and planning.
 */
export function execBreakdown(logText: string): PlanBreakdown | undefined {
  const lines: ExecLine[] = [];
  for (const l of logText.split('\n')) {
    try {
      if (l.trim()) lines.push(JSON.parse(l) as ExecLine);
    } catch {
      // a torn line of a killed run: skip it
    }
  }
  if (lines.length === 0) return undefined;
  const start = Math.min(...lines.map((l) => l.t - l.ms));
  const end = Math.max(...lines.map((l) => l.t));
  const of = (kind: string, event: string) => lines.filter((l) => l.kind === kind && l.event === event);
  const perHost = (kind: string) => {
    const sums: Record<string, number> = {};
    for (const l of of(kind, 'exec')) sums[l.node] = (sums[l.node] ?? 0) + l.ms;
    return Object.values(sums);
  };
  const count = (kind: string) =>
    Math.max(
      0,
      ...Object.values(of(kind, 'exec').reduce<Record<string, number>>((a, l) => ({ ...a, [l.node]: (a[l.node] ?? 0) + 1 }), {})),
    );
  return {
    sshPhaseMs: end - start,
    esxi: { connectMs: stats(of('esxi', 'connect').map((l) => l.ms)), execMsPerHost: stats(perHost('esxi')), execsPerHost: count('esxi') },
    scvm: { connectMs: stats(of('scvm', 'connect').map((l) => l.ms)), execMsPerHost: stats(perHost('scvm')), execsPerHost: count('scvm') },
  };
}

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a !== undefined && b !== undefined && b > 0 && a > 0 ? Math.round((a / b) * 100) / 100 : null;

/** Per-round ratio a/b (the two runs of one round are minutes apart at most, under similar load). */
function pairedRatios(samples: PeerSample[], a: PeerTool, b: PeerTool): Stats {
  const ok = (t: PeerTool, r: number) => samples.find((s) => s.tool === t && s.round === r && !s.failure);
  const rounds = [...new Set(samples.map((s) => s.round))];
  return stats(rounds.map((r) => ((x, y) => (x && y ? x.wallMs / y.wallMs : NaN))(ok(a, r), ok(b, r))));
}

/** Medians over the runs of one reroute command of where its time went (execBreakdown). */
function breakdownSummary(samples: PeerSample[], tool: PeerTool): Record<string, unknown> {
  const runs = samples.flatMap((x) => (x.tool === tool && !x.failure && x.breakdown ? [{ wallMs: x.wallMs, b: x.breakdown }] : []));
  const over = (f: (b: PlanBreakdown) => number) => stats(runs.map((x) => f(x.b)));
  return {
    sshPhaseMs: over((b) => b.sshPhaseMs),
    outsideSshMs: stats(runs.map((x) => x.wallMs - x.b.sshPhaseMs)),
    esxiConnectMsMax: over((b) => b.esxi.connectMs.max),
    esxiExecMsPerHostMax: over((b) => b.esxi.execMsPerHost.max),
    scvmConnectMsMax: over((b) => b.scvm.connectMs.max),
    scvmExecMsPerHostMax: over((b) => b.scvm.execMsPerHost.max),
    execsPerHost: { esxi: runs[0]?.b.esxi.execsPerHost ?? null, scvm: runs[0]?.b.scvm.execsPerHost ?? null },
  };
}

export function summarize(samples: PeerSample[], available: Record<PeerTool, boolean>): Record<string, unknown> {
  const per: Record<string, unknown> = {};
  const median: Partial<Record<PeerTool, number>> = {};
  for (const t of TOOLS) {
    const all = samples.filter((s) => s.tool === t);
    const ok = all.filter((s) => !s.failure);
    const wall = stats(ok.map((s) => s.wallMs));
    if (ok.length > 0 && ok.length === all.length) median[t] = wall.p50;
    per[t] = {
      available: available[t],
      runs: all.length,
      failed: all.length - ok.length,
      wallMs: wall,
      cpuMs: stats(ok.map((s) => s.cpuMs)),
      maxRssKb: stats(ok.map((s) => s.maxRssKb)),
      load1: stats(all.map((s) => s.load1)),
    };
  }
  for (const t of ['reroute-plan', 'reroute-status'] as const) (per[t] as Record<string, unknown>).breakdown = breakdownSummary(samples, t);
  const rr = median['reroute-plan'];
  const ratios = {
    rerouteOverSshLoop: ratio(rr, median['ssh-loop']),
    ansibleOverReroute: ratio(median.ansible, rr),
    psshOverReroute: ratio(median.pssh, rr),
    ansibleOverSshLoop: ratio(median.ansible, median['ssh-loop']),
    perRound: {
      rerouteOverSshLoop: pairedRatios(samples, 'reroute-plan', 'ssh-loop'),
      ansibleOverReroute: pairedRatios(samples, 'ansible', 'reroute-plan'),
      psshOverReroute: pairedRatios(samples, 'pssh', 'reroute-plan'),
    },
  };
  // A tool with any failed run leaves its ratio unset: a failed run never counts as a target met.
  const targets = {
    notSlowerThanSshLoop: {
      value: ratios.rerouteOverSshLoop,
      target: 'reroute plan ≤ 1 × the OpenSSH loop over the ESXi hosts',
      met: ratios.rerouteOverSshLoop === null ? null : ratios.rerouteOverSshLoop <= 1,
    },
    fourTimesAnsible: {
      value: ratios.ansibleOverReroute,
      target: 'Ansible ≥ 4 × reroute plan',
      met: ratios.ansibleOverReroute === null ? null : ratios.ansibleOverReroute >= 4,
    },
  };
  return { tools: per, ratios, targets, load1: stats(samples.map((s) => s.load1)) };
}

async function available(lab: Lab): Promise<{ ok: Record<PeerTool, boolean>; versions: Record<string, string>; missing: string[] }> {
  const ok = Object.fromEntries(TOOLS.map((t) => [t, true])) as Record<PeerTool, boolean>;
  const versions: Record<string, string> = {};
  const missing: string[] = [];
  for (const [tool, need] of Object.entries(NEEDS) as Array<[PeerTool, { bin: string; install: string }]>) {
    const r = await lab.exec('ctl', `command -v ${need.bin} >/dev/null && ${need.bin} --version 2>&1 | head -1`, { timeoutMs: 60_000 });
    if (r.code !== 0) {
      ok[tool] = false;
      missing.push(`${tool}: \`${need.bin}\` not found in the controller namespace's PATH — not measured (${need.install})`);
    } else versions[tool] = r.stdout.trim();
  }
  versions.openssh = (await lab.exec('ctl', 'ssh -V 2>&1', { timeoutMs: 30_000 })).stdout.trim();
  return { ok, versions, missing };
}

export const peerRead: Benchmark = {
  name: 'peer-read',
  title: 'A peer side by side: the probe over SSH to every ESXi host',
  async run(ctx: BenchContext): Promise<BenchBody> {
    const nodes = ctx.smoke ? 4 : 16;
    const rounds = ctx.smoke ? 3 : 5;
    const labName = benchLabName(`zp-peer${nodes}`, ctx.smoke);
    const { cli, how } = packagedCli(ctx.workDir, ctx.log);
    ctx.log(`CLI: ${how}`);
    const lab = await startLab(labName, nodes, ctx.log);
    const samples: PeerSample[] = [];
    try {
      const dir = path.join(ctx.workDir, 'peer');
      const manifestFile = writeLabManifest(lab, dir, 'cluster.yaml', {});
      const manifest = loadManifest(manifestFile, { bundledVersion: '0.0.0', anyVersion: true });
      // One command line for every host (same datastore name, run dir, NFS address and cluster IPs),
      // so a tool that sends one command everywhere (parallel-ssh, Ansible) sends exactly reroute's.
      const commands = new Set(manifest.nodes.map((n) => probeCommand(manifest, n)));
      if (commands.size !== 1)
        throw new Error(`the probe command differs between hosts (${commands.size} variants); the peers send one command to all`);
      const cmd = [...commands][0] as string;
      const ctx0 = probeContext(manifest, manifest.nodes[0] as (typeof manifest.nodes)[0]);
      const script = loadProbeScript();
      fs.writeFileSync(path.join(dir, 'probe.sh'), script);
      for (const n of lab.nodes) fs.writeFileSync(path.join(n.esxi.root, IN_HOST_PROBE), script);
      // Ansible's raw module has no stdin: the same script travels inside the command instead.
      const inlineCmd = shellCommand([
        '/bin/sh',
        '-c',
        script.toString('utf8'),
        'probe',
        ctx0.installDir,
        manifest.install.runDir,
        manifest.nfsAddress,
        ...ctx0.clusterIps,
      ]);
      const hosts = lab.nodes.map((n) => lab.sshTarget(`esxi-${n.index}`).ip);
      const setup: Setup = { lab, dir, nodes, ru: buildRusage(ctx.workDir), cli, manifest: manifestFile };
      writeScripts(setup, cmd, inlineCmd, hosts);
      const tools = await available(lab);
      for (const m of tools.missing) ctx.log(`MISSING ${m}`);
      const chosen = TOOLS.filter((t) => tools.ok[t]);
      const logRun = (s: PeerSample) =>
        ctx.log(
          `round ${s.round} ${s.tool}: ${s.wallMs} ms wall, ${s.cpuMs} ms CPU, ${s.esxiOk}${s.scvmOk !== undefined ? `+${s.scvmOk}` : ''} host(s), load ${s.load1}${s.failure ? ` FAILED: ${s.failure}` : ''}`,
        );
      // Warm-up, not recorded: reroute pins every host key in its state on first contact (the
      // OpenSSH tools have the lab's known_hosts already); the --version checks above warmed the rest.
      logRun(await runOnce(setup, 'reroute-status', 0, hosts, cmd));
      for (let round = 1; round <= rounds; round++) {
        for (let i = 0; i < chosen.length; i++) {
          const s = await runOnce(setup, chosen[(round + i) % chosen.length] as PeerTool, round, hosts, cmd);
          logRun(s);
          samples.push(s);
        }
      }
      const failures = samples.filter((s) => s.failure).map((s) => `FAILED RUN: ${s.tool} round ${s.round}: ${s.failure}`);
      return {
        lab: { nodes, name: labName },
        parameters: {
          nodes,
          esxiHosts: hosts.length,
          rounds,
          order: 'round-robin; round r starts with tool r mod k; after one unrecorded reroute status (host key pinning)',
          probeCommand: cmd,
          probeScriptBytes: script.length,
          where:
            'lab controller namespace, through the lab `ssh` wrapper (ssh -F ctl/ssh_config: operator key, IdentitiesOnly, pinned known_hosts, StrictHostKeyChecking yes, BatchMode)',
          user: ESXI_USER,
          parallelism: {
            'ssh-loop': 'all hosts at once',
            pssh: 'default -p 32 (all hosts at once)',
            ansible: 'forks 8',
            'reroute-plan': 'access.parallelism 8 (manifest default), ESXi and SCVM hosts',
          },
          cli: how,
          versions: tools.versions,
          missing: tools.missing,
        },
        samples: { runs: samples },
        summary: summarize(samples, tools.ok),
        notes: [
          ...tools.missing.map((m) => `MISSING TOOL: ${m}`),
          ...failures,
          `Same read for every tool: the probe command \`/bin/sh -s -- …\` with esxi/probe/probe.sh (${script.length} bytes) on stdin, to ${hosts.length} ESXi hosts as ${ESXI_USER}, from the lab controller namespace with the lab's operator key and pinned known_hosts. reroute plan reads the ${nodes} SCVMs too (authorized_keys, root's, zbs-meta session list and show): twice the hosts; and beside the probe it runs its preflight on every ESXi host (esxi/preflight/preflight.sh and the agent's own session fetch, \`--fetch-once\`): 3 execs per ESXi host where the peers run 1. \`reroute status\` is the observe alone (probe + SCVM reads, no preflight).`,
          "Unavoidable differences: Ansible's raw module cannot feed stdin, so the same script travels inside the command (`/bin/sh -c <script> probe <same args>`) and Ansible's ssh plugin asks for a tty (-tt) for raw; Ansible runs with ControlMaster=no (its default ControlPersist would let later rounds reuse earlier rounds' connections, which no other tool does). reroute plan speaks SSH through its own library (ssh2), not OpenSSH; it also loads and checks the manifest and computes the plan.",
          'Wall and CPU from bench/native/rusage.c around each tool (wait4): CPU is the tool plus every child it reaped (each ssh process, Ansible forks). Lab hosts run on the same 2 cores, so a tool that spends more CPU on the controller also slows the hosts answering it.',
          'A run counts only when every host returned a complete probe output (`@@end` trailer) and the tool exited 0; a tool with a failed run gets no ratio, and a missing ratio is never a target met.',
        ],
      };
    } finally {
      await lab.stop();
    }
  },
};
