/**
 * Stand-in for the SCVM's NFS export at 192.168.33.2: answers each request with the serving
 * node's name, so an ESXi's IO probe can tell which SCVM its 192.168.33.2 route reaches.
 * Bound to the address (not 0.0.0.0) like the real export; Linux's weak host model still
 * accepts packets for it arriving on the storage or management leg.
 */
import * as net from 'node:net';
import { DEFAULT_MAX_LIFETIME_S, installShutdown, parseServiceArgs } from './service-runtime';

const PROGRAM = 'nfs-sim';
const USAGE = 'nfs-sim.ts --node NAME [--listen 192.168.33.2] [--port 2049] [--max-lifetime-s N]';
const MAX_REQUEST_BYTES = 4096;
const REQUEST_WAIT_MS = 2000;
const BIND_RETRY_MS = 500;

function main(): void {
  const args = parseServiceArgs(PROGRAM, USAGE, { node: 'string', listen: 'string', port: 'string', 'max-lifetime-s': 'string' }, ['node']);
  const node = args.str('node') ?? '';
  const addr = args.str('listen') ?? '192.168.33.2';
  const port = args.num('port', 2049, 1);
  const maxLifetimeS = args.num('max-lifetime-s', DEFAULT_MAX_LIFETIME_S, 1);
  const reply = `${node}\n`;
  const sockets = new Set<net.Socket>();

  const server = net.createServer((sock) => {
    sockets.add(sock);
    let got = 0;
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      sock.end(reply);
    };
    const timer = setTimeout(answer, REQUEST_WAIT_MS);
    sock.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (chunk.includes(10) || got >= MAX_REQUEST_BYTES) answer();
    });
    sock.on('end', answer);
    sock.on('error', () => sock.destroy());
    sock.once('close', () => {
      clearTimeout(timer);
      sockets.delete(sock);
    });
  });

  let announced = false;
  let lastError = '';
  const listen = () => server.listen(port, addr);
  server.on('listening', () => {
    if (!announced) process.stdout.write(`READY ${PROGRAM} ${node} ${addr}:${port}\n`);
    announced = true;
  });
  // The lab may add 192.168.33.2 just after starting us; keep trying instead of dying.
  server.on('error', (e: NodeJS.ErrnoException) => {
    const msg = `${addr}:${port}: ${e.code ?? e.message}`;
    if (msg !== lastError) process.stderr.write(`${PROGRAM} ${node}: listen ${msg}; retrying every ${BIND_RETRY_MS} ms\n`);
    lastError = msg;
    setTimeout(listen, BIND_RETRY_MS);
  });

  installShutdown(maxLifetimeS, () => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  listen();
}

if (require.main === module) main();
