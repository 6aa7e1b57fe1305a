/**
 * esxi/preflight/preflight.sh output → the facts the checks judge. Pure;
 * never throws. Framing is the probe's (src/observe/probe-framing.ts) under
 * the preflight header, so command output cannot forge a section.
 */
import { readProbeFrames, type ProbeSection, type SectionStatus } from '../observe/probe-framing';
import {
  parseBusyboxApplets,
  parseFilesystemList,
  parseFirewallRulesets,
  parseNfsList,
  parseSecureBoot,
  parseVmwareVersion,
  type EsxiVersion,
  type Filesystem,
  type NfsMount,
} from '../observe/esxi-tables';

export const PREFLIGHT_HEADER = '@@zbs-reroute-preflight v1';

/** A command output preflight ran: what it said, or why there is nothing to judge. */
export type Read<T> = { ok: true; value: T; raw: string } | { ok: false; why: string };

export interface EsxiFacts {
  complete: boolean;
  problems: string[];
  /** Host clock (epoch seconds) at the start and end of the script. */
  now?: number;
  nowEnd?: number;
  version: Read<EsxiVersion>;
  /** command → where the shell finds it (null: not found). */
  commands: Map<string, string | null>;
  busybox: Read<Set<string>>;
  firewall: Read<Map<string, boolean>>;
  nfs: Read<NfsMount[]>;
  /** `esxcli storage nfs41 list` (NFS 4.1 mounts; absent from preflight scripts before issue 13). */
  nfs41: Read<NfsMount[]>;
  filesystems: Read<Filesystem[]>;
  secureBoot: Read<'enabled' | 'disabled'>;
  /** ls -l mode strings (undefined: the file is not there). */
  localShMode?: string;
  autoBackupMode?: string;
  datastoreMode?: string;
  agentKeyPresent: boolean;
  crondAlive?: boolean;
}

function statusText(s: SectionStatus): string {
  if (typeof s === 'object') return s.rc === 137 ? 'killed after the time bound (hung)' : `exited with status ${s.rc}`;
  return s;
}

function readSection<T>(sec: ProbeSection | undefined, what: string, parse: (text: string) => T | undefined): Read<T> {
  if (!sec) return { ok: false, why: `${what}: no output` };
  if (sec.status === 'missing') return { ok: false, why: `${what}: command not found on the host` };
  const raw = sec.bytes.toString('utf8');
  if (sec.status !== 'ok' && sec.status !== 'truncated') return { ok: false, why: `${what} ${statusText(sec.status)}` };
  const value = parse(raw);
  if (value === undefined) return { ok: false, why: `${what}: output not understood: ${JSON.stringify(raw.trim().slice(0, 80))}` };
  return { ok: true, value, raw };
}

function epoch(sec: ProbeSection | undefined): number | undefined {
  if (!sec || sec.status !== 'ok') return undefined;
  const t = sec.bytes.toString('latin1').trim();
  return /^\d{1,12}$/.test(t) ? Number(t) : undefined;
}

export function parsePreflightOutput(input: Buffer | string): EsxiFacts {
  const frames = readProbeFrames(input, PREFLIGHT_HEADER);
  const sec = (name: string): ProbeSection | undefined => frames.sections.find((s) => s.name === name);
  const facts: EsxiFacts = {
    complete: frames.complete,
    problems: frames.problems,
    version: readSection(sec('esxi_version'), '`vmware -v`', parseVmwareVersion),
    commands: new Map(),
    busybox: readSection(sec('busybox') ?? sec('busybox_help'), 'busybox', (t) => {
      const s = parseBusyboxApplets(t);
      return s.size > 0 ? s : undefined;
    }),
    firewall: readSection(sec('firewall'), '`esxcli network firewall ruleset list`', (t) => {
      const m = parseFirewallRulesets(t);
      return m.size > 0 ? m : undefined;
    }),
    nfs: readSection(sec('nfs'), '`esxcli storage nfs list`', (t) => (t.trim() === '' ? [] : parseNfsList(t))),
    nfs41: readSection(sec('nfs41'), '`esxcli storage nfs41 list`', (t) => (t.trim() === '' ? [] : parseNfsList(t))),
    filesystems: readSection(sec('filesystems'), '`esxcli storage filesystem list`', (t) => {
      const l = parseFilesystemList(t);
      return l.length > 0 ? l : undefined;
    }),
    secureBoot: readSection(sec('secure_boot'), '`secureBoot.py -s`', parseSecureBoot),
    agentKeyPresent: false,
  };
  const now = epoch(sec('now'));
  const nowEnd = epoch(sec('now_end'));
  if (now !== undefined) facts.now = now;
  if (nowEnd !== undefined) facts.nowEnd = nowEnd;
  for (const line of (sec('commands')?.bytes.toString('utf8') ?? '').split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line);
    if (m) facts.commands.set(m[1] as string, m[2] === '-' || m[2] === '' ? null : (m[2] as string));
  }
  for (const line of (sec('persistence')?.bytes.toString('utf8') ?? '').split('\n')) {
    const f = /^file (\S+) ?(\S*)$/.exec(line);
    if (f) {
      const mode = f[2] ? f[2] : undefined;
      if (f[1] === '/etc/rc.local.d/local.sh' && mode) facts.localShMode = mode;
      if (f[1] === '/sbin/auto-backup.sh' && mode) facts.autoBackupMode = mode;
    }
    const d = /^datastore (\S+)$/.exec(line);
    if (d) facts.datastoreMode = d[1] as string;
    if (line === 'key present') facts.agentKeyPresent = true;
  }
  const crond = sec('crond')?.bytes.toString('latin1') ?? '';
  if (/^alive=yes$/m.test(crond)) facts.crondAlive = true;
  else if (/^alive=no$/m.test(crond)) facts.crondAlive = false;
  return facts;
}

/** The agent's `--fetch-once` answer: `session IP` lines then `fetch ok`, or `fetch fail REASON` (exit 3). */
export interface FetchOnce {
  ok: boolean;
  sessions: string[];
  reason?: string;
}

export function parseFetchOnce(stdout: string, code: number | null): FetchOnce {
  const lines = stdout.replace(/\r/g, '').split('\n');
  const sessions = lines.flatMap((l) => {
    const m = /^session (\d{1,3}(?:\.\d{1,3}){3})$/.exec(l.trim());
    return m ? [m[1] as string] : [];
  });
  const fail = lines.find((l) => l.startsWith('fetch fail'));
  if (fail !== undefined) return { ok: false, sessions, reason: fail.slice('fetch fail'.length).trim() || 'no reason given' };
  if (code === 0 && lines.some((l) => l.trim() === 'fetch ok')) return { ok: true, sessions };
  return { ok: false, sessions, reason: code === null ? 'killed (no answer in time)' : `exited with status ${code} without "fetch ok"` };
}

/** What one SCVM exec as the operator user printed (KEY=value lines, see src/engine/preflight.ts). */
export interface ScvmFacts {
  sudo: boolean;
  release?: string;
  /** `ssh -V`'s first line, e.g. `OpenSSH_7.4p1, OpenSSL 1.0.2k-fips  26 Jan 2017`. */
  ssh?: string;
}

export function parseScvmFacts(stdout: string): ScvmFacts {
  const sudo = /^sudo=ok$/m.test(stdout);
  const rel = /^release=(.*)$/m.exec(stdout)?.[1]?.trim();
  const ssh = /^ssh=(.*)$/m.exec(stdout)?.[1]?.trim();
  return { sudo, ...(rel ? { release: rel } : {}), ...(ssh ? { ssh } : {}) };
}
