/**
 * Raw stdout of esxi/probe/probe.sh → EsxiObserved. Pure and total: any input
 * (hostile files, cut connections, binary junk) yields a value, never a throw.
 * Output we cannot trust as a whole (no header, framing broken, trailer
 * missing, a required section absent) yields Unreachable with the reason, so
 * the planner never acts on half an observation. Smaller oddities become
 * `warnings` (sanitized for display).
 */

import { AGENT_LOOP_FILE, KEY_DIR, LEASE_DIR, LEGACY_LOOP_FILE, KEY_LEASE_DIR } from '../agent/bundle-layout';
import {
  commandRunsScript,
  isIpv4,
  lsPermsToOctal,
  parseEsxcfgRouteList,
  parseHeartbeat,
  parseKeyValueLines,
  parsePsOutput,
  parseVmknicList,
} from './esxi-command-output';
import type { EsxiObserved, LegacyInstall, ObservedFile, ObservedRoute, Unreachable } from './observed-types';
import { datastoreOfInstallDir, observeDatastore } from './datastore-output';
import { firewallState, parseFirewallPrior } from './firewall-output';
import { readProbeFrames, type ProbeSection } from './probe-framing';
import { sanitizeForDisplay } from './sanitize';

export interface ProbeContext {
  node: string;
  /** /vmfs/volumes/<datastore>/<dirName>, exactly as passed to the probe. */
  installDir: string;
  nfsAddress: string;
  /** Every SCVM storage + management IP and declared storage gateway of this cluster. */
  clusterIps: string[];
}

const REQUIRED = ['args', 'now', 'files', 'crontab', 'local_sh', 'routes', 'ps', 'crond'] as const;
const MAX_WARNINGS = 50;
const VERSION_RE = /^[A-Za-z0-9._+-]{1,64}$/;

function unreachable(ctx: ProbeContext, reason: string): Unreachable {
  return { kind: 'esxi', node: ctx.node, reachable: false, reason: sanitizeForDisplay(reason, { multiline: false, maxLength: 500 }) };
}

function versionFromLine2(line: string): string | undefined {
  const m = /^\s*reroute_version=(.*)$/.exec(line.replace(/\r?\n$/, ''));
  if (!m) return undefined;
  let v = (m[1] as string).trim();
  if (v.length >= 2 && /^(['"]).*\1$/.test(v)) v = v.slice(1, -1);
  return VERSION_RE.test(v) ? v : undefined;
}

export function parseProbeOutput(raw: Buffer | string, ctx: ProbeContext): EsxiObserved | Unreachable {
  try {
    return parseUnsafe(raw, ctx);
  } catch (err) {
    // Defence in depth: a parser bug must not take down the whole observation.
    return unreachable(ctx, `probe output could not be parsed (${err instanceof Error ? err.message : String(err)})`);
  }
}

function parseUnsafe(raw: Buffer | string, ctx: ProbeContext): EsxiObserved | Unreachable {
  const frames = readProbeFrames(raw);
  if (!frames.complete) {
    let reason = frames.problems.join('; ') || 'probe output incomplete';
    // Byte counts only survive a lossless transport: text decoded as UTF-8 with
    // replacement characters no longer matches them.
    if (typeof raw === 'string' && raw.includes('\ufffd'))
      reason += ' (the output held bytes that are not UTF-8 and was decoded lossily; the SSH layer must pass raw bytes)';
    return unreachable(ctx, reason);
  }
  const warnings: string[] = [];
  const warn = (msg: string): void => {
    if (warnings.length < MAX_WARNINGS) warnings.push(sanitizeForDisplay(msg, { multiline: false, maxLength: 300 }));
    else if (warnings.length === MAX_WARNINGS) warnings.push('further warnings suppressed');
  };
  frames.warnings.forEach(warn);

  const byName = new Map<string, ProbeSection>();
  for (const s of frames.sections) if (!byName.has(s.name)) byName.set(s.name, s);
  const missing = REQUIRED.filter((n) => !byName.has(n));
  if (missing.length > 0)
    return unreachable(ctx, `probe output lacks section(s) ${missing.join(', ')} (probe/reconciler version mismatch?)`);

  const text = (name: string, what: string): string => {
    const s = byName.get(name);
    if (!s) return '';
    const str = s.bytes.toString('utf8');
    if (s.status === 'truncated') warn(`${what} is larger than the probe reads; only its first ${s.bytes.length} bytes were seen`);
    else if (s.status === 'unreadable') warn(`${what} exists but could not be read`);
    else if (typeof s.status === 'object') warn(`${what}: command failed with exit status ${s.status.rc}`);
    if (str.includes('\ufffd') && !Buffer.from(str, 'utf8').equals(s.bytes)) warn(`${what} is not valid UTF-8`);
    return str;
  };
  const present = (name: string): boolean => {
    const s = byName.get(name);
    return s !== undefined && s.status !== 'missing';
  };

  // The probe echoes its arguments: a different install dir means we observed the wrong place.
  const args = parseKeyValueLines(text('args', 'probe arguments'));
  if (args.get('install') !== ctx.installDir) {
    return unreachable(
      ctx,
      `probe reported install dir ${JSON.stringify(args.get('install') ?? '')}, expected ${JSON.stringify(ctx.installDir)}`,
    );
  }

  const nowText = text('now', 'host clock').trim();
  let now = 0;
  if (/^\d{1,12}$/.test(nowText)) now = Number(nowText);
  else warn(`host clock unreadable (date +%s printed ${JSON.stringify(nowText.slice(0, 40))})`);

  const obs: EsxiObserved = {
    kind: 'esxi',
    node: ctx.node,
    reachable: true,
    now,
    files: {},
    crontab: '',
    localSh: '',
    otherHostRoutes: [],
    agentProcesses: [],
    crondRunning: false,
    vmknics: [],
  };

  if (present('esxi_version')) {
    const v = text('esxi_version', '`vmware -v`').trim().split('\n')[0]?.trim() ?? '';
    if (v !== '') obs.esxiVersion = sanitizeForDisplay(v, { multiline: false, maxLength: 200 });
  }

  readFiles(text('files', 'install dir listing'), ctx, obs, warn);
  const loopPath = `${ctx.installDir}/${AGENT_LOOP_FILE}`;
  const loopFile = obs.files[loopPath];
  if (loopFile && present('loop_line2')) {
    const line2 = text('loop_line2', `${AGENT_LOOP_FILE} line 2`);
    const v = versionFromLine2(line2);
    if (v !== undefined) loopFile.version = v;
    else warn(`${AGENT_LOOP_FILE} has no valid reroute_version= on line 2`);
  }

  if (present('pin')) {
    const pin = text('pin', 'pin file').trim();
    if (isIpv4(pin)) obs.pinTarget = pin;
    else warn(`pin file does not hold one IPv4 address (${JSON.stringify(pin.slice(0, 40))})`);
  }
  if (present('pubkey')) {
    const keyLines = text('pubkey', 'reroute public key')
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '');
    if (keyLines.length > 0) obs.reroutePublicKey = (keyLines[0] as string).trim();
    if (keyLines.length > 1) warn('reroute public key file holds more than one line; only the first is used');
    if (keyLines.length > 0 && !/^(ssh-rsa|ssh-ed25519|ecdsa-sha2-\S+) [A-Za-z0-9+/=]+( .*)?$/.test(obs.reroutePublicKey ?? '')) {
      warn('reroute public key file does not look like an OpenSSH public key');
    }
  }

  obs.crontab = present('crontab') ? text('crontab', 'root crontab') : '';
  obs.localSh = present('local_sh') ? text('local_sh', 'local.sh') : '';

  readRoutes(byName.get('routes'), text('routes', '`esxcfg-route -l`'), ctx, obs, warn);

  const vmk = parseVmknicList(text('vmknics', '`esxcfg-vmknic -l`'));
  obs.vmknics = vmk.items;
  if (vmk.skipped.length > 0) warn(`${vmk.skipped.length} unreadable line(s) in esxcfg-vmknic -l output`);
  if (!present('vmknics')) warn('esxcfg-vmknic is not available on this host');

  const ps = parsePsOutput(text('ps', 'process list'));
  const legacyProcesses: { pid: number; command: string }[] = [];
  const seenPids = new Set<number>();
  for (const row of ps.items) {
    if (seenPids.has(row.pid)) continue;
    seenPids.add(row.pid);
    const command = sanitizeForDisplay(row.command, { multiline: false, maxLength: 500 });
    if (commandRunsScript(row.command, AGENT_LOOP_FILE)) {
      obs.agentProcesses.push({ pid: row.pid, command });
      if (!row.command.includes(loopPath)) warn(`agent process ${row.pid} runs a ${AGENT_LOOP_FILE} outside ${ctx.installDir}`);
    } else if (commandRunsScript(row.command, LEGACY_LOOP_FILE)) {
      legacyProcesses.push({ pid: row.pid, command });
    }
  }

  if (present('heartbeat')) {
    const hb = parseHeartbeat(text('heartbeat', 'agent heartbeat'));
    if (hb.heartbeat) obs.heartbeat = hb.heartbeat;
    if (hb.invalid.length > 0) warn(`agent heartbeat has missing or invalid ${hb.invalid.join(', ')}`);
  }

  const crond = parseKeyValueLines(text('crond', 'crond status'));
  obs.crondRunning = crond.get('alive') === 'yes';

  readLegacy(frames.sections, obs, legacyProcesses, warn);
  readLease(frames.sections, obs, warn);
  readFirewall(byName, text, obs, warn);
  readDatastore(byName.get('filesystems'), ctx, obs, warn);

  if (warnings.length > 0) obs.warnings = warnings;
  return obs;
}

function readFiles(listing: string, ctx: ProbeContext, obs: EsxiObserved, warn: (m: string) => void): void {
  const prefix = `${ctx.installDir}/`;
  const dirs: Record<string, { mode: string }> = {};
  const ownedDirs = new Set([
    ctx.installDir,
    `${ctx.installDir}/${KEY_DIR}`,
    `${ctx.installDir}/${LEASE_DIR}`,
    `${ctx.installDir}/${KEY_LEASE_DIR}`,
  ]);
  for (const line of listing.split('\n')) {
    if (line === '') continue;
    if (line === '@truncated') {
      warn('install dir holds more entries than the probe lists');
      continue;
    }
    const m = /^([-dlcbps][rwxsStT-]{9})\S* (\d{1,15}|-) ([0-9a-f]{64}|-) (.+)$/.exec(line);
    if (!m) {
      warn(`unreadable install dir entry: ${line.slice(0, 120)}`);
      continue;
    }
    const perms = m[1] as string;
    const path = m[4] as string;
    // A file name holding a newline can forge a listing line; only plain paths below the dir count
    // (a forged `<dir>/../..` entry must never become a delete at teardown).
    // eslint-disable-next-line no-control-regex -- control characters in a path are the point
    const forged = /\/\.{1,2}(\/|$)|\/\/|[\u0000-\u001f\u007f]/.test(path.slice(prefix.length - 1));
    if ((path !== ctx.installDir && !path.startsWith(prefix)) || forged) {
      warn(`install dir listing names a path outside it: ${path.slice(0, 120)}`);
      continue;
    }
    const mode = lsPermsToOctal(perms) ?? '0000';
    const type = perms[0];
    if (path === ctx.installDir && type !== 'd') {
      warn(`install dir ${path} is not a directory (${type === 'l' ? 'symlink' : 'file'})`);
      continue;
    }
    if (type === 'd') {
      if (ownedDirs.has(path)) dirs[path] = { mode };
      else warn(`unexpected directory in install dir: ${path}`);
      continue;
    }
    if (type === '-' && m[2] !== '-' && m[3] !== '-') {
      const f: ObservedFile = { path, sha256: m[3] as string, size: Number(m[2]), mode };
      obs.files[path] = f;
      continue;
    }
    // A symlink or special file where we keep files: recorded without a hash so the planner
    // replaces it with a regular file instead of trusting where it points.
    const kind = type === 'l' ? 'symlink' : type === '-' ? 'unhashable file' : 'special file';
    warn(`${kind} in install dir: ${path}`);
    obs.files[path] = { path, sha256: '', size: m[2] === '-' ? 0 : Number(m[2]), mode };
  }
  if (Object.keys(dirs).length > 0) obs.dirs = dirs;
}

function readRoutes(
  section: ProbeSection | undefined,
  text: string,
  ctx: ProbeContext,
  obs: EsxiObserved,
  warn: (m: string) => void,
): void {
  if (section?.status === 'missing') {
    warn('esxcfg-route is not available on this host');
    return;
  }
  const parsed = parseEsxcfgRouteList(text);
  if (parsed.skipped.length > 0) warn(`${parsed.skipped.length} unreadable line(s) in esxcfg-route -l output`);
  const cluster = new Set(ctx.clusterIps);
  const nfs: ObservedRoute[] = [];
  for (const r of parsed.items) {
    if (r.prefixLength !== 32) continue;
    if (r.network === ctx.nfsAddress) nfs.push(r);
    else if (cluster.has(r.gateway) || cluster.has(r.network)) obs.otherHostRoutes.push(r);
  }
  if (nfs[0]) obs.nfsRoute = nfs[0];
  if (nfs.length > 1) warn(`${nfs.length} routes for ${ctx.nfsAddress}/32; only the first is reported`);
}

function readLegacy(
  sections: ProbeSection[],
  obs: EsxiObserved,
  processes: { pid: number; command: string }[],
  warn: (m: string) => void,
): void {
  const installs: LegacyInstall[] = [];
  for (const s of sections) {
    if (s.name !== 'legacy') continue;
    const kv = parseKeyValueLines(s.bytes.toString('utf8'));
    const dir = kv.get('dir') ?? '';
    if (!dir.startsWith('/')) {
      warn('legacy install record without a folder');
      continue;
    }
    const li: LegacyInstall = { dir, localShLines: [] };
    const line2 = kv.get('line2');
    const v = line2 === undefined ? undefined : versionFromLine2(line2);
    if (v !== undefined) li.version = v;
    const keyDir = kv.get('keydir');
    if (keyDir) li.keyDir = keyDir;
    installs.push(li);
  }
  const cronLines = obs.crontab.split('\n').filter((l) => l.includes(LEGACY_LOOP_FILE));
  const localLines = obs.localSh.split('\n').filter((l) => l.includes('scvm_failure'));
  if (installs.length === 0 && cronLines.length === 0 && localLines.length === 0 && processes.length === 0) return;
  let legacy = installs[0];
  if (installs.length > 1) warn(`${installs.length} legacy installs found; only ${legacy?.dir} is reported`);
  if (!legacy) {
    // Its folder is gone (or on an unmounted datastore) but its traces remain: report them so
    // takeover/teardown can remove them. The folder is taken from the crontab line.
    const fromCron = /(\/\S+)\/scvm_failure_loop\.sh/.exec(cronLines[0] ?? '');
    legacy = { dir: fromCron ? (fromCron[1] as string) : '', localShLines: [] };
    warn('legacy (seed tooling) traces found without its folder');
  }
  if (cronLines.length > 0) legacy.crontabLine = cronLines[0];
  if (cronLines.length > 1) warn(`${cronLines.length} legacy crontab lines; only the first is reported`);
  legacy.localShLines = localLines;
  if (processes.length > 0) legacy.processes = processes;
  obs.legacy = legacy;
}

/** The firewall rulesets we may own, only when both listings were read whole (else left unknown). */
function readFirewall(
  byName: Map<string, ProbeSection>,
  text: (name: string, what: string) => string,
  obs: EsxiObserved,
  warn: (m: string) => void,
): void {
  const list = byName.get('fw_rulesets');
  const allowed = byName.get('fw_allowedip');
  if (list !== undefined && allowed !== undefined) {
    const listText = text('fw_rulesets', '`esxcli network firewall ruleset list`');
    const allowedText = text('fw_allowedip', '`esxcli network firewall ruleset allowedip list`');
    if (list.status === 'ok' && allowed.status === 'ok') {
      const fw = firewallState(listText, allowedText);
      if (fw.skipped > 0) warn(`${fw.skipped} unreadable line(s) in the esxcli firewall listings`);
      obs.firewall = fw.rulesets;
    } else if (list.status === 'missing' || allowed.status === 'missing') {
      warn('esxcli is not available on this host: the firewall rulesets cannot be read');
    }
  }
  const prior = byName.get('fw_prior');
  if (prior !== undefined && prior.status !== 'missing') {
    const parsed = parseFirewallPrior(text('fw_prior', 'firewall.prior'));
    if (parsed.invalid.length > 0) warn(`firewall.prior has an unreadable record for ${parsed.invalid.join(', ')}`);
    if (Object.keys(parsed.prior).length > 0) obs.firewallPrior = parsed.prior;
  }
}

/** The install dir's datastore type (issue 13). A probe without the section (older release) says nothing. */
function readDatastore(section: ProbeSection | undefined, ctx: ProbeContext, obs: EsxiObserved, warn: (m: string) => void): void {
  const name = datastoreOfInstallDir(ctx.installDir);
  if (section === undefined || name === undefined) return;
  const why =
    section.status === 'missing'
      ? 'esxcli is not available'
      : typeof section.status === 'object'
        ? section.status.rc === 137
          ? 'it did not answer within its time bound'
          : `it exited with status ${section.status.rc}`
        : undefined;
  const ds = why === undefined ? observeDatastore(name, section.bytes.toString('utf8')) : undefined;
  if (ds) {
    obs.datastore = ds;
    return;
  }
  const reason = `\`esxcli storage filesystem list\` could not be read: ${why ?? 'no table in its output'}`;
  obs.datastore = { name, vmfs: [], unreadable: reason };
  warn(`${reason}; the type of datastore ${name} is unknown`);
}

function readLease(sections: ProbeSection[], obs: EsxiObserved, warn: (m: string) => void): void {
  const dir = sections.find((s) => s.name === 'lease_dir');
  if (!dir || dir.bytes.toString('utf8').trim() !== 'present') return;
  // Accept both one KEY=value file and one file per field (owner, pid, expires).
  const fields = new Map<string, string>();
  for (const s of sections) {
    if (!s.name.startsWith('lease.')) continue;
    const content = s.bytes.toString('utf8');
    for (const [k, v] of parseKeyValueLines(content)) fields.set(k, v);
    const base = s.name.slice('lease.'.length);
    if ((base === 'owner' || base === 'pid' || base === 'expires') && !content.includes('=')) fields.set(base, content.trim());
  }
  const owner = fields.get('owner') ?? '';
  const pid = /^\d{1,10}$/.test(fields.get('pid') ?? '') ? Number(fields.get('pid')) : 0;
  const expires = /^\d{1,12}$/.test(fields.get('expires') ?? '') ? Number(fields.get('expires')) : 0;
  if (owner === '' || pid === 0 || expires === 0)
    warn('host lease dir exists but its owner/pid/expires are incomplete (treated as expired)');
  obs.lease = { owner: sanitizeForDisplay(owner, { multiline: false, maxLength: 200 }) || 'unknown', pid, expires };
}
