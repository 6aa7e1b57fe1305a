import * as childProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';

/**
 * Counts every outgoing connection attempt this process makes, whatever code
 * path makes it: ssh2 (and anything else) ends in net.Socket.prototype.connect,
 * and an external `ssh` would be a child process. Each attempt is appended as
 * one line to the file named by ZRB_CONNECT_LOG (test harness only; the
 * product knows nothing of it). Loaded with `node -r` or imported first.
 */
const logFile = process.env.ZRB_CONNECT_LOG;

export function recordAttempt(kind: string, detail: string): void {
  if (logFile) fs.appendFileSync(logFile, `${JSON.stringify({ case: process.env.ZRB_CASE ?? '', kind, detail, pid: process.pid })}\n`);
}

const originalConnect = net.Socket.prototype.connect;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
(net.Socket.prototype as any).connect = function patchedConnect(this: net.Socket, ...args: unknown[]) {
  const first = args[0];
  const detail =
    typeof first === 'object' && first !== null
      ? JSON.stringify({
          host: (first as { host?: unknown }).host,
          port: (first as { port?: unknown }).port,
          path: (first as { path?: unknown }).path,
        })
      : JSON.stringify(args.slice(0, 2));
  recordAttempt('socket', detail);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (originalConnect as any).apply(this, args);
};

for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync', 'fork'] as const) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const original = (childProcess as any)[name];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (childProcess as any)[name] = function patchedChild(...args: unknown[]) {
    recordAttempt('child', `${name} ${JSON.stringify(args[0])}`);
    return original.apply(this, args);
  };
}
