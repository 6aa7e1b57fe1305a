/**
 * The HTTP edge of `--metrics-listen`: GET /metrics renders WatchMetrics, anything else is 404.
 * It listens only where the operator says (no default address), and a bad or busy address is a
 * usage error before watch starts, not a log line later.
 */
import * as http from 'node:http';
import { isIP } from 'node:net';
import { RerouteError } from '../errors/reroute-error';
import type { WatchMetrics } from './watch-metrics';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`: an IP literal and a port, nothing to resolve. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = m ? Number(m[3]) : NaN;
  if (!m || host === undefined || isIP(host) === 0 || !(port >= 1 && port <= 65535))
    throw new RerouteError(
      'USAGE',
      `--metrics-listen must be IP:PORT, got ${JSON.stringify(text)}`,
      'Give an IP address and a port, e.g. --metrics-listen 127.0.0.1:9464 (IPv6: [::1]:9464).',
    );
  return { host, port };
}

export interface MetricsServer {
  /** The address it really listens on (port 0 picks a free one). */
  readonly address: ListenAddress;
  close(): Promise<void>;
}

export async function startMetricsServer(metrics: WatchMetrics, at: ListenAddress): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  // A scraper that hangs must not hold a socket for ever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new RerouteError(
          'USAGE',
          `cannot serve metrics on ${at.host}:${at.port}: ${err.code ?? err.message}`,
          err.code === 'EADDRINUSE'
            ? 'Another process listens there: pick another port for --metrics-listen.'
            : 'Use an address of this machine (127.0.0.1 for a Prometheus on the same host).',
        ),
      ),
    );
    server.listen(at.port, at.host, () => resolve());
  });
  const a = server.address();
  const address = typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : at;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
