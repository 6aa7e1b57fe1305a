/**
 * One per ESXi namespace: the "VM IO" the product must never disturb, plus a record of every
 * route change the host saw. Both go to one JSON-lines file read by io-summary.ts.
 * 16 of these run at once on a 2-core machine, so the probe is one short TCP exchange per
 * period and writes are plain synchronous appends (no buffering to lose on SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { DEFAULT_MAX_LIFETIME_S, installShutdown, parseServiceArgs } from './service-runtime';

const PROGRAM = 'host-monitor';
const USAGE =
  'host-monitor.ts --host NAME --out PATH [--target 192.168.33.2] [--port 2049] [--period-ms 50] [--timeout-ms 300] ' +
  '[--max-lifetime-s 86400] [--max-bytes 536870912] [--no-route-monitor] [--exit-with-parent]';
const MAX_REPLY_BYTES = 256;

export type MonitorRecord =
  | { t: number; type: 'start'; host: string; target: string; periodMs: number; timeoutMs: number; pid: number }
  | { t: number; type: 'io'; seq: number; ok: true; node: string; ms: number }
  | { t: number; type: 'io'; seq: number; ok: false; err: string; ms: number }
  | { t: number; type: 'route'; line: string }
  | { t: number; type: 'truncated'; bytes: number }
  | { t: number; type: 'monitor-error'; err: string }
  | { t: number; type: 'stop'; reason: string };

type ProbeResult = { ok: true; node: string } | { ok: false; err: string };

/** One IO: connect, send a line, read the serving node's name; settles exactly once. */
function probe(target: string, port: number, timeoutMs: number, request: string, done: (r: ProbeResult) => void): void {
  let settled = false;
  let reply = '';
  const sock = net.createConnection({ host: target, port });
  const finish = (r: ProbeResult) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    sock.destroy();
    done(r);
  };
  const timer = setTimeout(() => finish({ ok: false, err: 'ETIMEDOUT' }), timeoutMs);
  sock.setNoDelay(true);
  sock.on('connect', () => sock.write(request));
  sock.on('data', (chunk: Buffer) => {
    reply += chunk.toString('utf8');
    const nl = reply.indexOf('\n');
    if (nl >= 0) finish({ ok: true, node: reply.slice(0, nl).trim() });
    else if (reply.length > MAX_REPLY_BYTES) finish({ ok: false, err: 'EBADREPLY' });
  });
  sock.on('end', () => finish(reply.trim() !== '' ? { ok: true, node: reply.trim() } : { ok: false, err: 'EEMPTY' }));
  sock.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, err: e.code ?? e.message }));
}

function main(): void {
  const args = parseServiceArgs(
    PROGRAM,
    USAGE,
    {
      host: 'string',
      out: 'string',
      target: 'string',
      port: 'string',
      'period-ms': 'string',
      'timeout-ms': 'string',
      'max-lifetime-s': 'string',
      'max-bytes': 'string',
      'no-route-monitor': 'boolean',
      'exit-with-parent': 'boolean',
    },
    ['host', 'out'],
  );
  const host = args.str('host') ?? '';
  const out = args.str('out') ?? '';
  const target = args.str('target') ?? '192.168.33.2';
  const port = args.num('port', 2049, 1);
  const periodMs = args.num('period-ms', 50, 5);
  const timeoutMs = args.num('timeout-ms', 300, 10);
  const maxLifetimeS = args.num('max-lifetime-s', DEFAULT_MAX_LIFETIME_S, 1);
  const maxBytes = args.num('max-bytes', 512 * 1024 * 1024, 4096);
  const maxInFlight = Math.ceil(timeoutMs / periodMs) + 1;

  let fd: number;
  try {
    fd = fs.openSync(out, 'a', 0o644);
  } catch (e) {
    process.stderr.write(`${PROGRAM}: cannot open --out ${out}: ${(e as Error).message}\n`);
    process.exit(2);
  }
  let bytes = 0;
  let truncated = false;
  const write = (rec: MonitorRecord) => {
    const line = `${JSON.stringify(rec)}\n`;
    bytes += Buffer.byteLength(line);
    fs.writeSync(fd, line);
  };

  write({ t: Date.now(), type: 'start', host, target: `${target}:${port}`, periodMs, timeoutMs, pid: process.pid });

  let seq = 0;
  let inFlight = 0;
  const tick = () => {
    // A probe stuck beyond its timeout would be a bug; the cap keeps a bug from piling up sockets.
    if (inFlight >= maxInFlight || truncated) return;
    seq += 1;
    const mySeq = seq;
    const t = Date.now();
    inFlight += 1;
    probe(target, port, timeoutMs, `io ${host} ${mySeq}\n`, (r) => {
      inFlight -= 1;
      if (truncated) return;
      const ms = Date.now() - t;
      write(r.ok ? { t, type: 'io', seq: mySeq, ok: true, node: r.node, ms } : { t, type: 'io', seq: mySeq, ok: false, err: r.err, ms });
      if (bytes >= maxBytes) {
        truncated = true;
        write({ t: Date.now(), type: 'truncated', bytes });
      }
    });
  };
  const ticker = setInterval(tick, periodMs);

  let monitor: ChildProcess | null = null;
  if (!args.flag('no-route-monitor')) {
    // pdeathsig: a SIGKILLed monitor must not leave `ip monitor` running in the namespace.
    const cmd = fs.existsSync('/usr/bin/setpriv')
      ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', 'ip', 'monitor', 'route']
      : ['ip', 'monitor', 'route'];
    monitor = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    monitor.stdout?.setEncoding('utf8');
    monitor.stdout?.on('data', (chunk: string) => {
      const now = Date.now();
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trimEnd();
        buf = buf.slice(nl + 1);
        if (line !== '') write({ t: now, type: 'route', line });
      }
    });
    monitor.stderr?.setEncoding('utf8');
    monitor.stderr?.on('data', (chunk: string) => write({ t: Date.now(), type: 'monitor-error', err: chunk.trim() }));
    monitor.on('error', (e) => write({ t: Date.now(), type: 'monitor-error', err: e.message }));
    monitor.on('exit', (code, signal) => {
      if (monitor !== null) write({ t: Date.now(), type: 'monitor-error', err: `ip monitor exited (${code ?? signal})` });
      monitor = null;
    });
  }

  installShutdown(
    maxLifetimeS,
    (reason) => {
      clearInterval(ticker);
      const m = monitor;
      monitor = null;
      m?.kill('SIGTERM');
      write({ t: Date.now(), type: 'stop', reason });
      fs.closeSync(fd);
    },
    { exitWithParent: args.flag('exit-with-parent') },
  );
  process.stdout.write(`READY ${PROGRAM} ${host} ${out}\n`);
}

if (require.main === module) main();
