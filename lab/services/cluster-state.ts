/**
 * The lab's single source of truth for what ZBS meta would say about the cluster.
 * The lab core writes it; every meta-sim re-reads it per request; the shell `zbs-meta`
 * reads the plain-text sidecars because a chrooted busybox SCVM has no JSON parser.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RerouteError } from '../../src/errors/reroute-error';

export interface ScvmState {
  /** "ip" in the session list: the storage-network address. */
  storageIp: string;
  /** "secondary_data_ip": the management-network address. */
  mgmtIp: string;
  sessionId: string;
  machineUuid: string;
  cid: number;
  /** Access point listed in the session list (fault `access-unhealthy` clears it). */
  healthy: boolean;
  /** This SCVM's meta answers at all; false closes its REST port. */
  metaUp: boolean;
  /** This SCVM's meta accepts connections but never answers. */
  hung: boolean;
  /**
   * The ESXi client IPs registered in this SCVM's session (`local_clients_ips`), comma-joined,
   * '' when none. Set by the REST PUT or `zbs-meta session refresh_address`; a new session
   * (access restart) starts empty. Optional so older state files still load.
   */
  localClientsIps?: string;
}

export interface ClusterState {
  version: 1;
  scvms: Record<string, ScvmState>;
}

export interface ZbsSession {
  session_id: string;
  ip: string;
  port: number;
  cid: number;
  secondary_data_ip: string;
  zone: string;
  machine_uuid: string;
  /** Comma-joined client IPs of the local hypervisor ('' when none); field name as in the PUT body. */
  local_clients_ips: string;
}

export interface ZbsSessionListResponse {
  ec: 'EOK';
  data: ZbsSession[];
}

export const ZBS_SESSION_PORT = 10201;
export const ZBS_ZONE = 'default';

/** Stable per name so a lab rebuilt with the same nodes shows the same sessions. */
function uuidFrom(seed: string): string {
  const h = crypto.createHash('sha256').update(seed).digest('hex');
  // RFC 4122 shape, version 4 / variant 10xx bits set so tools parsing uuids accept it.
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function newScvmState(name: string, cid: number, storageIp: string, mgmtIp: string): ScvmState {
  return {
    storageIp,
    mgmtIp,
    sessionId: uuidFrom(`session:${name}`),
    machineUuid: uuidFrom(`machine:${name}`),
    cid,
    healthy: true,
    metaUp: true,
    hung: false,
    localClientsIps: '',
  };
}

/** A fresh random session id: what an access service gets from meta when it (re)starts. */
export function newSessionId(): string {
  return crypto.randomUUID();
}

/** The SCVM whose current session has this id (any health), or undefined. */
export function findBySessionId(state: ClusterState, sessionId: string): [string, ScvmState] | undefined {
  return Object.entries(state.scvms).find(([, s]) => s.sessionId === sessionId);
}

/** One session as the REST API shows it. */
export function sessionView(s: ScvmState): ZbsSession {
  return {
    session_id: s.sessionId,
    ip: s.storageIp,
    port: ZBS_SESSION_PORT,
    cid: s.cid,
    secondary_data_ip: s.mgmtIp,
    zone: ZBS_ZONE,
    machine_uuid: s.machineUuid,
    local_clients_ips: s.localClientsIps ?? '',
  };
}

/** Parses a `local_clients_ips` value ("ip1,ip2", '' allowed); returns the normalised string or an error. */
export function parseClientIps(value: unknown): { ok: string } | { error: string } {
  if (typeof value !== 'string') return { error: 'local_clients_ips must be a string of comma-separated IPv4 addresses' };
  const ips = value
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  const bad = ips.filter((x) => !isIpv4(x));
  if (bad.length > 0) return { error: `not IPv4 addresses: ${bad.join(', ')}` };
  return { ok: ips.join(',') };
}

/** Ordered by cid then name, so every view (REST, table, sidecars) agrees. */
export function orderedScvms(state: ClusterState): [string, ScvmState][] {
  return Object.entries(state.scvms).sort(([an, a], [bn, b]) => a.cid - b.cid || (an < bn ? -1 : an > bn ? 1 : 0));
}

export function sessionListResponse(state: ClusterState): ZbsSessionListResponse {
  return {
    ec: 'EOK',
    data: orderedScvms(state)
      .filter(([, s]) => s.healthy)
      .map(([, s]) => sessionView(s)),
  };
}

export function renderSessionsTxt(state: ClusterState): string {
  return (
    sessionListResponse(state)
      // Field 8: the client IPs, '-' when none (awk splits on blanks, so an empty field would vanish).
      .data.map(
        (d) =>
          `${d.session_id} ${d.ip} ${d.port} ${d.cid} ${d.secondary_data_ip} ${d.zone} ${d.machine_uuid} ${d.local_clients_ips || '-'}\n`,
      )
      .join('')
  );
}

export function metaStatus(s: ScvmState): 'up' | 'down' | 'hung' {
  if (!s.metaUp) return 'down';
  return s.hung ? 'hung' : 'up';
}

export function renderMetaStatusTxt(state: ClusterState): string {
  return orderedScvms(state)
    .map(([name, s]) => `${name} ${metaStatus(s)}\n`)
    .join('');
}

export function sessionsTxtPath(clusterFile: string): string {
  return path.join(path.dirname(clusterFile), 'sessions.txt');
}

export function metaStatusTxtPath(clusterFile: string): string {
  return path.join(path.dirname(clusterFile), 'meta-status.txt');
}

const NAME_RE = /^[A-Za-z0-9._-]+$/;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isIpv4(v: unknown): v is string {
  const m = typeof v === 'string' ? IPV4_RE.exec(v) : null;
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** Returns every problem, so a broken lab write is diagnosed in one go. */
export function validateClusterState(value: unknown): string[] {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null) return ['cluster state is not an object'];
  const v = value as Record<string, unknown>;
  if (v.version !== 1) problems.push(`version must be 1, got ${JSON.stringify(v.version)}`);
  if (typeof v.scvms !== 'object' || v.scvms === null || Array.isArray(v.scvms)) {
    problems.push('scvms must be an object keyed by SCVM name');
    return problems;
  }
  for (const [name, raw] of Object.entries(v.scvms as Record<string, unknown>)) {
    const p = (msg: string) => problems.push(`scvms.${name}: ${msg}`);
    if (!NAME_RE.test(name)) p('name must match [A-Za-z0-9._-]+ (it is written unquoted into sidecar files)');
    if (typeof raw !== 'object' || raw === null) {
      p('not an object');
      continue;
    }
    const s = raw as Record<string, unknown>;
    if (!isIpv4(s.storageIp)) p('storageIp must be an IPv4 address');
    if (!isIpv4(s.mgmtIp)) p('mgmtIp must be an IPv4 address');
    if (typeof s.sessionId !== 'string' || !UUID_RE.test(s.sessionId)) p('sessionId must be a lowercase uuid');
    if (typeof s.machineUuid !== 'string' || !UUID_RE.test(s.machineUuid)) p('machineUuid must be a lowercase uuid');
    if (typeof s.cid !== 'number' || !Number.isInteger(s.cid) || s.cid < 1) p('cid must be a positive integer');
    for (const k of ['healthy', 'metaUp', 'hung'] as const) if (typeof s[k] !== 'boolean') p(`${k} must be a boolean`);
    if (s.localClientsIps !== undefined) {
      const c = parseClientIps(s.localClientsIps);
      if ('error' in c || c.ok !== s.localClientsIps) p('localClientsIps must be comma-separated IPv4 addresses without blanks');
    }
  }
  return problems;
}

export function parseClusterState(text: string, source = 'cluster state'): ClusterState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RerouteError(
      'INTERNAL',
      `${source}: not valid JSON: ${(e as Error).message}`,
      'Write the cluster file only through writeClusterState()/updateScvm() in lab/services/cluster-state.ts.',
      { cause: e },
    );
  }
  const problems = validateClusterState(value);
  if (problems.length > 0) {
    throw new RerouteError(
      'INTERNAL',
      `${source}: invalid cluster state:\n  ${problems.join('\n  ')}`,
      'Fix the lab code that builds the cluster state (see lab/services/README.md for the schema).',
      { details: { problems } },
    );
  }
  return value as ClusterState;
}

export function readClusterState(file: string): ClusterState {
  return parseClusterState(fs.readFileSync(file, 'utf8'), file);
}

/** Readers never see a half-written file: write beside, then rename over. */
function writeAtomic(file: string, content: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(tmp, content, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeClusterState(file: string, state: ClusterState): void {
  const problems = validateClusterState(state);
  if (problems.length > 0) {
    throw new RerouteError(
      'INTERNAL',
      `refusing to write invalid cluster state to ${file}:\n  ${problems.join('\n  ')}`,
      'Fix the lab code that builds the cluster state (see lab/services/README.md).',
      { details: { problems } },
    );
  }
  // Sidecars first: the JSON is what meta-sim polls, so once it changes the sidecars already match.
  writeAtomic(sessionsTxtPath(file), renderSessionsTxt(state));
  writeAtomic(metaStatusTxtPath(file), renderMetaStatusTxt(state));
  writeAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}

const LOCK_WAIT_MS = 5_000;
const LOCK_STALE_MS = 10_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs a read-modify-write under a lock file beside the cluster file. Two kinds of writers
 * exist: the lab core (faults) and every meta-sim (a PUT of local_clients_ips), in different
 * processes, so an unlocked update could drop the other's change. Synchronous and bounded.
 */
export function withClusterLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        // A holder killed mid-update leaves the file behind; an old one is taken over.
        if (Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) fs.rmSync(lock, { force: true });
      } catch {
        // removed by its holder meanwhile
      }
      if (Date.now() > deadline)
        throw new RerouteError(
          'INTERNAL',
          `cluster state lock ${lock} held for over ${LOCK_WAIT_MS} ms`,
          'Remove the lock file if no lab command is running.',
        );
      sleepSync(20);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Read-modify-write of one SCVM under the cluster lock. */
export function updateScvm(file: string, name: string, patch: Partial<ScvmState>): ClusterState {
  return withClusterLock(file, () => {
    const state = readClusterState(file);
    const cur = state.scvms[name];
    if (cur === undefined) {
      throw new RerouteError('USAGE', `no SCVM named ${name} in ${file}`, `Use one of: ${Object.keys(state.scvms).join(', ')}.`);
    }
    state.scvms[name] = { ...cur, ...patch };
    writeClusterState(file, state);
    return state;
  });
}

/**
 * What meta does for `PUT …/session/<id>` and `zbs-meta session refresh_address`: sets the
 * session's client IPs. Returns the updated session, or undefined for an unknown id.
 */
export function setSessionClientIps(file: string, sessionId: string, ips: string): ZbsSession | undefined {
  return withClusterLock(file, () => {
    const state = readClusterState(file);
    const hit = findBySessionId(state, sessionId);
    if (hit === undefined) return undefined;
    const [name, cur] = hit;
    state.scvms[name] = { ...cur, localClientsIps: ips };
    writeClusterState(file, state);
    return sessionView(state.scvms[name]);
  });
}
