/**
 * ZBS meta REST stand-in for one SCVM: answers the cluster-wide session list from the lab's
 * cluster file, and can be made unreachable (metaUp=false: connection refused) or hung
 * (accepts, never answers) by the lab without restarting it.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type * as net from 'node:net';
import {
  findBySessionId,
  parseClientIps,
  readClusterState,
  sessionListResponse,
  sessionView,
  setSessionClientIps,
  type ClusterState,
  type ScvmState,
} from './cluster-state';
import { DEFAULT_MAX_LIFETIME_S, installShutdown, parseServiceArgs } from './service-runtime';

const PROGRAM = 'meta-sim';
const USAGE =
  'meta-sim.ts --listen IP[,IP…] --port N --cluster-file PATH --self NAME [--path /api/v2/zbs_session/session] [--max-lifetime-s N]';
// The cluster file is watched (inotify: no wakeups while the lab is idle); the slow poll only covers
// a missed event. A 200 ms poll in each of 64 SCVMs' meta-sims cost 12 % of a core at rest.
const SAFETY_POLL_MS = 2_000;
const BIND_RETRY_MS = 500;
const HUNG_HOLD_MS = 10 * 60 * 1000;
const MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_SESSION_PATH = '/api/v2/zbs_session/session';

interface Listener {
  addr: string;
  server: http.Server | null;
  sockets: Set<net.Socket>;
  retry: NodeJS.Timeout | null;
  lastError: string | null;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function main(): void {
  const args = parseServiceArgs(
    PROGRAM,
    USAGE,
    { listen: 'string', port: 'string', 'cluster-file': 'string', self: 'string', path: 'string', 'max-lifetime-s': 'string' },
    ['listen', 'port', 'cluster-file', 'self'],
  );
  const addrs = (args.str('listen') ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  const port = args.num('port', 80, 1);
  const clusterFile = args.str('cluster-file') ?? '';
  const self = args.str('self') ?? '';
  const sessionPath = (args.str('path') ?? DEFAULT_SESSION_PATH).replace(/\/+$/, '');
  const maxLifetimeS = args.num('max-lifetime-s', DEFAULT_MAX_LIFETIME_S, 1);

  const hungSockets = new Set<net.Socket>();
  let lastReadError: string | null = null;

  /** Fresh read each time: the lab flips faults by rewriting the file, and must see them at once. */
  function readSelf(): { self: ScvmState | null; error: string | null; body: unknown; state: ClusterState | null } {
    try {
      const state = readClusterState(clusterFile);
      lastReadError = null;
      return {
        self: state.scvms[self] ?? null,
        error: state.scvms[self] ? null : `no SCVM ${self} in ${clusterFile}`,
        body: sessionListResponse(state),
        state,
      };
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== lastReadError) process.stderr.write(`${PROGRAM} ${self}: ${msg}\n`);
      lastReadError = msg;
      return { self: null, error: msg, body: null, state: null };
    }
  }

  /** `<path>/<session_id>`: GET shows one session, PUT sets its local_clients_ips (as ZBS's REST does). */
  function handleOne(req: http.IncomingMessage, res: http.ServerResponse, id: string, state: ClusterState | null): void {
    if (req.method === 'GET') {
      const hit = state === null ? undefined : findBySessionId(state, id);
      if (hit === undefined) sendJson(res, 404, { ec: 'ENotFound', error: `no session ${id}` });
      else sendJson(res, 200, { ec: 'EOK', data: sessionView(hit[1]) });
      return;
    }
    if (req.method !== 'PUT') {
      res.setHeader('Allow', 'GET, PUT');
      sendJson(res, 405, { ec: 'EMethodNotAllowed', error: `${req.method ?? '?'} not allowed on ${sessionPath}/<id>` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return sendJson(res, 413, { ec: 'EBadRequest', error: 'body too large' });
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendJson(res, 400, { ec: 'EBadRequest', error: 'body is not JSON' });
      }
      const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).local_clients_ips : undefined;
      const ips = parseClientIps(value);
      if ('error' in ips) return sendJson(res, 400, { ec: 'EBadRequest', error: ips.error });
      let updated;
      try {
        updated = setSessionClientIps(clusterFile, id, ips.ok);
      } catch (e) {
        return sendJson(res, 500, { ec: 'EInternal', error: (e as Error).message });
      }
      if (updated === undefined) return sendJson(res, 404, { ec: 'ENotFound', error: `no session ${id}` });
      return sendJson(res, 200, { ec: 'EOK', data: updated });
    });
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const { self: me, error, body, state } = readSelf();
    if (me !== null && !me.metaUp) {
      req.socket.resetAndDestroy();
      return;
    }
    if (me !== null && me.hung) {
      const sock = req.socket;
      hungSockets.add(sock);
      const t = setTimeout(() => sock.destroy(), HUNG_HOLD_MS);
      sock.once('close', () => {
        clearTimeout(t);
        hungSockets.delete(sock);
      });
      return;
    }
    const urlPath = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    const one = urlPath.startsWith(`${sessionPath}/`) ? urlPath.slice(sessionPath.length + 1) : undefined;
    if (one !== undefined && /^[^/]+$/.test(one)) {
      handleOne(req, res, /^[0-9A-Za-z-]+$/.test(one) ? one : '?', state);
      return;
    }
    if (urlPath !== sessionPath) {
      sendJson(res, 404, { ec: 'ENotFound', error: `no such path: ${urlPath || '/'}` });
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      sendJson(res, 405, { ec: 'EMethodNotAllowed', error: `${req.method ?? '?'} not allowed on ${sessionPath}` });
      return;
    }
    if (error !== null || body === null) {
      sendJson(res, 500, { ec: 'EInternal', error: error ?? 'no state' });
      return;
    }
    sendJson(res, 200, body);
  }

  const listeners: Listener[] = addrs.map((addr) => ({ addr, server: null, sockets: new Set(), retry: null, lastError: null }));
  let wantOpen = true;

  function open(l: Listener, done?: () => void): void {
    if (l.server !== null || l.retry !== null) {
      done?.();
      return;
    }
    const server = http.createServer(handle);
    server.keepAliveTimeout = 5000;
    server.on('connection', (s: net.Socket) => {
      l.sockets.add(s);
      s.once('close', () => l.sockets.delete(s));
    });
    server.once('error', (e: NodeJS.ErrnoException) => {
      l.server = null;
      const msg = `${l.addr}:${port}: ${e.code ?? e.message}`;
      if (msg !== l.lastError) process.stderr.write(`${PROGRAM} ${self}: listen ${msg}; retrying every ${BIND_RETRY_MS} ms\n`);
      l.lastError = msg;
      l.retry = setTimeout(() => {
        l.retry = null;
        if (wantOpen) open(l);
      }, BIND_RETRY_MS);
      done?.();
    });
    server.listen(port, l.addr, () => {
      l.lastError = null;
      done?.();
    });
    l.server = server;
  }

  function close(l: Listener): void {
    if (l.retry !== null) {
      clearTimeout(l.retry);
      l.retry = null;
    }
    if (l.server !== null) {
      l.server.close();
      l.server = null;
    }
    // A downed meta drops established connections too, rather than finishing keep-alive requests.
    for (const s of l.sockets) s.resetAndDestroy();
    l.sockets.clear();
  }

  function apply(metaUp: boolean): void {
    wantOpen = metaUp;
    for (const l of listeners) (metaUp ? open : close)(l);
  }

  // Re-read only when the file was replaced or changed (stat is cheap; the lab writes by rename).
  let lastSig = '';
  const check = (): void => {
    let sig: string;
    try {
      const st = fs.statSync(clusterFile);
      sig = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      sig = 'missing';
    }
    if (sig === lastSig) return;
    lastSig = sig;
    const { self: me } = readSelf();
    if (me !== null && me.metaUp !== wantOpen) apply(me.metaUp);
  };
  const base = path.basename(clusterFile);
  try {
    // The directory, not the file: a rename replaces the file's inode, which ends a watch on it.
    fs.watch(path.dirname(clusterFile), { persistent: false }, (_event, name) => {
      if (name === null || name === base) check();
    });
  } catch (e) {
    process.stderr.write(
      `${PROGRAM} ${self}: cannot watch ${clusterFile} (${(e as Error).message}); polling every ${SAFETY_POLL_MS} ms only\n`,
    );
  }
  setInterval(check, SAFETY_POLL_MS);

  installShutdown(maxLifetimeS, () => {
    for (const l of listeners) close(l);
    for (const s of hungSockets) s.destroy();
  });

  const initial = readSelf().self;
  wantOpen = initial === null ? true : initial.metaUp;
  let pending = listeners.length;
  const ready = () => {
    pending -= 1;
    if (pending === 0) process.stdout.write(`READY ${PROGRAM} ${self} ${addrs.map((a) => `${a}:${port}`).join(',')}\n`);
  };
  if (!wantOpen || listeners.length === 0) {
    pending = 1;
    ready();
  } else {
    for (const l of listeners) open(l, ready);
  }
}

if (require.main === module) main();
