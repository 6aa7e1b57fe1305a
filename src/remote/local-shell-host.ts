import { spawn } from 'node:child_process';
import { RerouteError } from '../errors/reroute-error';
import type { ExecOptions, ExecResult, RemoteHost } from './ssh-connection';

/**
 * A RemoteHost that runs commands in a local shell (e.g. `busybox sh`).
 * For tests of anything that speaks to hosts only through RemoteHost: the
 * commands meet the same shell dialect as on ESXi without an SSH server.
 */
export class LocalShellHost implements RemoteHost {
  private closed = false;
  /** Every command run, in order (tests assert on them). */
  readonly commands: string[] = [];

  constructor(
    private readonly shell: string[] = ['/bin/sh'],
    private readonly env: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  ) {}

  exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new RerouteError('INTERNAL', 'LocalShellHost used after close()', 'Bug in the test.'));
    this.commands.push(cmd);
    const [bin, ...args] = this.shell as [string, ...string[]];
    return new Promise((resolve, reject) => {
      const child = spawn(bin, [...args, '-c', cmd], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              child.kill('SIGKILL');
            }, opts.timeoutMs);
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.stdin.on('error', () => {
        /* the command may exit without reading stdin */
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) {
          reject(
            new RerouteError(
              'REMOTE_TIMEOUT',
              `Local command did not finish within ${opts.timeoutMs} ms`,
              'Bug or hang in the test command.',
            ),
          );
          return;
        }
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code,
          ...(signal ? { signal } : {}),
        });
      });
      child.stdin.end(opts.stdin ?? '');
    });
  }

  close(): void {
    this.closed = true;
  }
}
