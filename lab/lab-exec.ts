/**
 * Running commands inside a lab host the way its sshd would, so a test that
 * execs directly sees the same file system, processes and routes as the
 * product does over SSH.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, LabError, run, type RunResult } from './proc';
import { parseTarget } from './lab-topology';
import type { LabState } from './lab-state';

export interface ExecOptions {
  timeoutMs?: number;
  /** SCVM only: run as this user of the SCVM (e.g. smartx) instead of root. */
  user?: string;
  input?: string;
  /** Controller only: working directory (default: the repository). */
  cwd?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** The PATH sshd sets for a session (sshd_config SetEnv): the host's own tools, never the controller's. */
export const HOST_PATH = '/bin:/sbin:/usr/bin:/usr/sbin';

export function hostEnv(): NodeJS.ProcessEnv {
  return { PATH: HOST_PATH, HOME: '/', TERM: 'dumb', LANG: 'C' };
}

/** Into every namespace of the host's PID 1, so a command sees that host's processes and mounts. */
export function nsenterArgs(init: number): string[] {
  return ['-t', String(init), '--net', '--pid', '--mount', '--uts', '--'];
}

/**
 * Runs a shell command inside a host the way its sshd would: same network,
 * pid and mount namespaces, chrooted, busybox sh. `ctl` runs on the real
 * root file system inside the controller namespace with `reroute` on PATH.
 */
export async function execIn(s: LabState, target: string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const t = parseTarget(target);
  let r: RunResult;
  if (t.kind === 'ctl') {
    r = await run('ip', ['netns', 'exec', s.controller.ns, 'sh', '-c', command], {
      timeoutMs,
      input: opts.input,
      cwd: opts.cwd ?? s.config.repo,
      env: {
        ...process.env,
        PATH: `${path.join(s.dir, 'ctl', 'bin')}:${path.dirname(process.execPath)}:${process.env.PATH ?? HOST_PATH}`,
        HOME: path.join(s.dir, 'ctl', 'home'),
        // The lab's own state folder: host keys pinned for this lab's hosts, gone with the lab (a
        // shared ./state would refuse every host of the next lab as HOST_KEY_CHANGED).
        REROUTE_STATE: path.join(s.dir, 'ctl', 'state'),
        ZRL_LAB: s.name,
      },
    });
  } else {
    const node = s.node(target, t.kind);
    const root = t.kind === 'esxi' ? node.esxi.root : node.scvm.root;
    let init = s.pid(`${target}:init`);
    if (init === undefined || !alive(init)) {
      s.reload();
      init = s.pid(`${target}:init`);
    }
    if (init === undefined || !alive(init))
      throw new LabError(`${target} is not running`, `heal or reboot it (npm run lab -- status --name ${s.name}).`);
    const chrootArgs = [root];
    const env = hostEnv();
    if (opts.user !== undefined && opts.user !== 'root') {
      if (t.kind !== 'scvm') throw new LabError('exec as a non-root user is only modelled on SCVMs');
      const line = fs
        .readFileSync(path.join(root, 'etc', 'passwd'), 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${opts.user}:`));
      const f = line?.split(':');
      if (!f || f.length < 7) throw new LabError(`no user ${opts.user} on ${target}`);
      chrootArgs.unshift(`--userspec=${f[2]}:${f[3]}`);
      env.HOME = f[5];
      env.USER = opts.user;
    }
    r = await run('nsenter', [...nsenterArgs(init), 'chroot', ...chrootArgs, '/bin/sh', '-c', command], {
      timeoutMs,
      input: opts.input,
      env,
    });
  }
  if (r.timedOut) throw new LabError(`command on ${target} timed out after ${timeoutMs} ms: ${command}`);
  return { stdout: r.stdout, stderr: r.stderr, code: r.code };
}

/** execIn that throws on a non-zero exit and returns stdout. */
export async function execInOk(s: LabState, target: string, command: string, opts: ExecOptions = {}): Promise<string> {
  const r = await execIn(s, target, command, opts);
  if (r.code !== 0) throw new LabError(`on ${target}: \`${command}\` exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}
