/**
 * The one way a test launches `reroute` (issue 15): the real CLI in a child process, in the lab's
 * controller namespace as an operator would run it there, in another network namespace, or on the
 * test's own host. Two forms share the same launch (argv, environment, working directory):
 *
 * - runCli / reroute: run to the end and return { code, stdout, stderr }, within a timeout (the
 *   whole process group is killed and the run throws, with its output, when it is over);
 * - startCli: in the background, its output readable while it runs, to watch, signal or kill.
 *
 * What runs:
 * - with `lab`: the `reroute` on the lab controller's PATH (`<lab>/ctl/bin/reroute`, which execs
 *   bin/reroute.js), inside the controller namespace, with the controller's environment (the
 *   lab's PATH, HOME, REROUTE_STATE and ZRL_LAB, as lab.exec('ctl') gives it), cwd the repo;
 * - otherwise `node [nodeArgs] bin/reroute.js` (the compiled CLI when built, else
 *   src/cli/main.ts through tsx), in `netns` when given, with this process's environment;
 * - `bin` instead: another launcher (a packaged release's bin/reroute), with only `env`.
 * NO_COLOR=1 always; `env` is added last (it wins).
 *
 * `args` as an array is the argv; as a string it is the rest of a shell command line (`sh -c`,
 * so `$VAR` and quoting work as they do for an operator), as the e2e suites have always written it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { Lab } from '../../lab/lab';
import { run } from '../../lab/proc';

export const REPO = path.resolve(__dirname, '..', '..');
/** The repo's launcher: the compiled CLI when present (npm run build), else the TypeScript source through tsx. */
export const REROUTE_JS = path.join(REPO, 'bin', 'reroute.js');
/** Default time a run may take (an apply on a lab cluster under load). */
export const CLI_TIMEOUT_MS = 240_000;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Run in this lab's controller namespace, with the controller's environment. */
  lab?: Lab;
  /** Run in this network namespace (`ip netns exec`); with `lab`, the controller's is used. */
  netns?: string;
  /** Another launcher than the repo's (a packaged release's bin/reroute); it gets only `env` (and NO_COLOR=1). */
  bin?: string;
  /** Node options before bin/reroute.js (e.g. ['-r', tsx, '-r', counter]); not with `bin`. */
  nodeArgs?: string[];
  /** Environment added for this run (it wins over the defaults). */
  env?: Record<string, string>;
  /** Working directory: default the repo. */
  cwd?: string;
  /** runCli only: the run is killed and the call throws after this long. Default CLI_TIMEOUT_MS. */
  timeoutMs?: number;
}

interface Launch {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** The environment `reroute` sees in the lab controller (lab/lab-exec.ts, target `ctl`). */
function labEnv(lab: Lab): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${path.join(lab.dir, 'ctl', 'bin')}:${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: path.join(lab.dir, 'ctl', 'home'),
    REROUTE_STATE: path.join(lab.dir, 'ctl', 'state'),
    ZRL_LAB: lab.name,
  };
}

function launch(args: string | string[], opts: CliOptions): Launch {
  let exe: string[];
  let base: NodeJS.ProcessEnv;
  if (opts.bin !== undefined) {
    exe = [opts.bin];
    base = {};
  } else if (opts.lab) {
    exe = [path.join(opts.lab.dir, 'ctl', 'bin', 'reroute')];
    base = labEnv(opts.lab);
  } else {
    exe = [process.execPath, ...(opts.nodeArgs ?? []), REROUTE_JS];
    base = { ...process.env };
  }
  if (opts.lab && opts.nodeArgs) throw new Error('runCli: nodeArgs apply to bin/reroute.js, not the lab controller launcher');
  const cli = typeof args === 'string' ? ['sh', '-c', `exec "$@" ${args}`, 'sh', ...exe] : [...exe, ...args];
  const ns = opts.lab?.controller.ns ?? opts.netns;
  return {
    argv: ns !== undefined ? ['ip', 'netns', 'exec', ns, ...cli] : cli,
    env: { ...base, NO_COLOR: '1', ...(opts.env ?? {}) },
    cwd: opts.cwd ?? REPO,
  };
}

const shown = (args: string | string[]) => (typeof args === 'string' ? args : args.join(' '));

/** Run `reroute args` to the end. Throws only when it cannot start or runs past the timeout. */
export async function runCli(args: string | string[], opts: CliOptions = {}): Promise<CliRun> {
  const l = launch(args, opts);
  const timeoutMs = opts.timeoutMs ?? CLI_TIMEOUT_MS;
  const r = await run(l.argv[0]!, l.argv.slice(1), { env: l.env, cwd: l.cwd, timeoutMs });
  if (r.timedOut)
    throw new Error(`reroute ${shown(args)} timed out after ${timeoutMs} ms\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** `reroute args` in the lab's controller namespace, as an operator runs it there (the e2e suites' shorthand). */
export function reroute(lab: Lab, args: string | string[], opts: Omit<CliOptions, 'lab'> = {}): Promise<CliRun> {
  return runCli(args, { ...opts, lab });
}

/** The --json output of a run, or an error that shows what the run printed instead. */
export function parseJson<T>(r: CliRun): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch (e) {
    throw new Error(
      `reroute --json (exit ${r.code}) printed no JSON (${(e as Error).message}):\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-1500)}`,
      { cause: e },
    );
  }
}

export interface CliProcess {
  readonly proc: ChildProcess;
  /** The CLI's pid (ip netns exec and the lab's launcher exec it, so it is the pid the CLI records). */
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as they arrived. */
  output(): string;
  /** Exit code once it has ended and its output is all in (null when a signal ended it). */
  readonly done: Promise<number | null>;
  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves to the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** `reroute args` in the background (`timeoutMs` does not apply: stop it). */
export function startCli(args: string[], opts: CliOptions = {}): CliProcess {
  const l = launch(args, opts);
  const proc = spawn(l.argv[0]!, l.argv.slice(1), { cwd: l.cwd, env: l.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`cannot start reroute ${shown(args)}`);
  let out = '';
  let err = '';
  let both = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    both += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    both += d.toString();
  });
  const done = new Promise<number | null>((resolve) => {
    proc.on('error', () => resolve(null));
    proc.on('close', (code) => resolve(code));
  });
  const pid = proc.pid;
  return {
    proc,
    pid,
    stdout: () => out,
    stderr: () => err,
    output: () => both,
    done,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 60_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await done;
      clearTimeout(timer);
      return code;
    },
  };
}
