import { AGENT_LOOP_FILE, KEY_DIR, LEASE_DIR, LEGACY_DIR_NAME, LEGACY_KEY_DIR, LEGACY_LOOP_FILE, PIN_FILE } from '../agent/bundle-layout';
import { pinFileContent } from '../agent/host-entries';
import { sha256Hex } from '../desired/desired-state';
import type { DesiredCluster, DesiredEsxi, DesiredFile } from '../desired/desired-types';
import type { EsxiObserved, ObservedFile } from '../observe/observed-types';
import { decideDestroyRoutes, localGateways, ourRoutes } from './plan-destroy';
import { planFirewallApply, planFirewallDestroy } from './plan-firewall';
import { because, becauseOf, uniqueReasons } from './plan-reasons';
import type { Action, HostChange, PlanReason, RouteDecision } from './plan-types';
import {
  bare,
  hasLocalShTrace,
  isLegacyCrontabLine,
  isLegacyLocalShLine,
  isManagedCrontabLine,
  localShDrift,
  scanLocalSh,
  splitKeepingEnds,
} from './text-edits';

export interface HostDraft {
  change: HostChange;
  reasons: PlanReason[];
  actions: Action[];
  /** Left alone on purpose, worth saying (src/plan/plan-firewall.ts). */
  notes?: string[];
  /** Destroy mode: what happens to the host's routes and why (src/plan/plan-destroy.ts). */
  routeDecision?: RouteDecision;
}

/** Observation may carry the text of small non-secret files (reroute.conf, known_hosts) so diffs can be shown. */
type ObservedFileWithContent = ObservedFile & { content?: string };

/** Reason (and plan title) when a drain is lifted. */
export const DRAIN_ENDED = "drain ended: IO returns by the agent's failback policy";
/** How long apply waits for our agent's first heartbeat before deleting a legacy install. */
export const TAKEOVER_VERIFY_SECONDS = 120;
const SECRET = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** A seed-tooling install, from the probe's report and from what the shared files show. */
export interface LegacyFindings {
  dir?: string;
  keyDir?: string;
  version?: string;
  crontabLines: string[];
  localShLines: string[];
  running: boolean;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** Lines of local.sh that are not inside our blocks and not our markers. */
function localShOutsideOurs(text: string): string[] {
  const lines = splitKeepingEnds(text);
  const { blocks, strays } = scanLocalSh(lines);
  const ours = new Set<number>(strays);
  for (const b of blocks) for (let i = b.start; i <= b.end; i++) ours.add(i);
  return lines.filter((_, i) => !ours.has(i)).map(bare);
}

const SEGMENT = '(?!\\.\\.?/)[^/\\s]+';
const LEGACY_DIR_PATH = new RegExp(`^/vmfs/volumes/${SEGMENT}/${LEGACY_DIR_NAME}$`);
const LEGACY_KEY_PATH = new RegExp(`^/vmfs/volumes/${SEGMENT}/(${LEGACY_DIR_NAME}/)?\\${LEGACY_KEY_DIR}$`);

export function detectLegacy(o: EsxiObserved): LegacyFindings | undefined {
  const crontab = splitKeepingEnds(o.crontab).map(bare);
  const reportedCron = o.legacy?.crontabLine === undefined ? undefined : bare(o.legacy.crontabLine);
  const crontabLines = unique(crontab.filter((l) => isLegacyCrontabLine(l) || (reportedCron !== undefined && l === reportedCron)));
  const reportedLocal = new Set((o.legacy?.localShLines ?? []).map(bare));
  const localShLines = unique(localShOutsideOurs(o.localSh).filter((l) => isLegacyLocalShLine(l) || reportedLocal.has(l)));
  const running = o.agentProcesses.some((p) => p.command.includes(LEGACY_LOOP_FILE)) || (o.legacy?.processes?.length ?? 0) > 0;
  const found: LegacyFindings = { crontabLines, localShLines, running };
  // Paths come from a host (or were guessed from a crontab line) and end up in an rm -rf: only
  // the seed's own folder and key folder names directly under a datastore are accepted.
  const dir = o.legacy?.dir;
  if (dir !== undefined && LEGACY_DIR_PATH.test(dir)) found.dir = dir;
  if (o.legacy?.version !== undefined) found.version = o.legacy.version;
  const kd = o.legacy?.keyDir;
  if (kd !== undefined && LEGACY_KEY_PATH.test(kd) && (found.dir === undefined || !kd.startsWith(`${found.dir}/`))) found.keyDir = kd;
  const anything = found.dir !== undefined || found.keyDir !== undefined || crontabLines.length > 0 || localShLines.length > 0 || running;
  return anything ? found : undefined;
}

function isOurProcess(command: string): boolean {
  return command.includes(AGENT_LOOP_FILE);
}

function fileName(d: DesiredEsxi, path: string): string {
  return path.startsWith(`${d.installDir}/`) ? path.slice(d.installDir.length + 1) : path;
}

function writeAction(f: DesiredFile, before: ObservedFileWithContent | undefined): Action {
  const a: Extract<Action, { op: 'write-file' }> = { op: 'write-file', path: f.path, mode: f.mode, sha256: f.sha256 };
  if (f.content !== undefined) a.content = f.content;
  if (f.contentRef !== undefined) a.contentRef = f.contentRef;
  if (f.version !== undefined) a.version = f.version;
  if (before !== undefined) {
    const b: { sha256: string; version?: string; mode: string; content?: string } = { sha256: before.sha256, mode: before.mode };
    if (before.version !== undefined) b.version = before.version;
    if (f.contentRef === undefined && before.content !== undefined && !SECRET.test(before.content)) b.content = before.content;
    a.before = b;
  }
  return a;
}

function pinPath(d: DesiredEsxi): string {
  return `${d.installDir}/${PIN_FILE}`;
}

/** The pin target the host has now: the probe's reading, else recognised from the file's hash. */
function observedPin(d: DesiredEsxi, o: EsxiObserved): { present: boolean; target?: string } {
  const file = o.files[pinPath(d)];
  if (o.pinTarget !== undefined) return { present: true, target: o.pinTarget.trim() };
  if (file === undefined) return { present: false };
  if (d.pinTarget !== undefined && file.sha256 === sha256Hex(pinFileContent(d.pinTarget))) return { present: true, target: d.pinTarget };
  return { present: true };
}

function hasOurFiles(d: DesiredEsxi, o: EsxiObserved): boolean {
  return Object.keys(o.files).some((p) => p.startsWith(`${d.installDir}/`));
}

function dirKnown(o: EsxiObserved, dir: string, mode: string): boolean {
  if (o.dirs !== undefined) return o.dirs[dir]?.mode === mode;
  return Object.keys(o.files).some((p) => p.startsWith(`${dir}/`));
}

/**
 * Apply mode for one reachable ESXi host: only what drifted, in a safe order
 * (dirs, keys, conf, agent script, crontab + crond, local.sh + auto-backup,
 * pin, legacy stop, agent start/restart, legacy removal). Never a route action.
 */
export function planEsxiApply(d: DesiredEsxi, o: EsxiObserved, desired: DesiredCluster, prune: boolean): HostDraft {
  const reasons: PlanReason[] = [];
  const actions: Action[] = [];
  const found = detectLegacy(o);
  // Shadow mode: our agent only watches, so a legacy seed agent stays in charge of the route:
  // its loop, crontab line, local.sh lines and folder are all kept until routing.mode is active.
  const shadowLegacy = found !== undefined && desired.routingMode === 'shadow' ? found : undefined;
  const legacy = shadowLegacy === undefined ? found : undefined;
  const loopPath = `${d.installDir}/${AGENT_LOOP_FILE}`;
  const wantedVersion = d.files.find((f) => f.path === loopPath)?.version ?? desired.version;

  // Files.
  const writes: Action[] = [];
  let loopChanged = false;
  for (const f of d.files) {
    const seen = o.files[f.path] as ObservedFileWithContent | undefined;
    const name = fileName(d, f.path);
    if (seen === undefined) {
      if (hasOurFiles(d, o)) reasons.push(becauseOf(name, 'file-missing', `${name} missing`));
    } else if (seen.sha256 !== f.sha256) {
      if (f.path === loopPath && seen.version !== f.version)
        reasons.push(because('agent-version', `agent ${seen.version ?? 'unknown version'} → ${f.version ?? wantedVersion}`));
      else reasons.push(becauseOf(name, 'file-differs', `${name} differs`));
    } else if (seen.mode !== f.mode) {
      reasons.push(becauseOf(name, 'file-mode', `${name} mode ${seen.mode} → ${f.mode}`));
    } else continue;
    writes.push(writeAction(f, seen));
    if (f.path === loopPath) loopChanged = true;
  }
  if (writes.length > 0) {
    if (!dirKnown(o, d.installDir, '0700')) actions.push({ op: 'mkdir', path: d.installDir, mode: '0700' });
    const keyDir = `${d.installDir}/${KEY_DIR}`;
    const writesKeys = writes.some((w) => w.op === 'write-file' && w.path.startsWith(`${keyDir}/`));
    if (writesKeys && !dirKnown(o, keyDir, '0700')) actions.push({ op: 'mkdir', path: keyDir, mode: '0700' });
    actions.push(...writes);
  }
  // Keys nothing uses any more (session source rest): after the conf that stops using them.
  if (d.retired !== undefined) {
    const gone = d.retired.files.filter((p) => o.files[p] !== undefined);
    for (const p of gone) actions.push({ op: 'delete-file', path: p });
    const stays = (dir: string) => Object.keys(o.files).some((p) => p.startsWith(`${dir}/`) && !gone.includes(p));
    const dirs = d.retired.dirs.filter((dir) => (o.dirs?.[dir] !== undefined || gone.some((p) => p.startsWith(`${dir}/`))) && !stays(dir));
    for (const dir of dirs) actions.push({ op: 'remove-dir', path: dir, recursive: false });
    if (gone.length > 0 || dirs.length > 0) reasons.push(becauseOf('keys', 'files-retired', d.retired.reason));
  }
  if (prune) {
    const wanted = new Set(d.files.map((f) => f.path));
    const kept = (p: string) =>
      wanted.has(p) || p === pinPath(d) || p === d.firewall?.recordPath || p.startsWith(`${d.installDir}/${LEASE_DIR}/`);
    for (const p of Object.keys(o.files).sort()) {
      if (p.startsWith(`${d.installDir}/`) && !kept(p)) {
        actions.push({ op: 'delete-file', path: p });
        reasons.push(becauseOf(fileName(d, p), 'file-not-ours', `${fileName(d, p)} is not ours any more (prune)`));
      }
    }
  }

  // Crontab: our exact line once; other agent lines of ours and (on takeover) the seed's line go.
  const cronLines = splitKeepingEnds(o.crontab).map(bare);
  const ourCount = cronLines.filter((l) => l === d.crontabLine).length;
  const remove = unique([...cronLines.filter((l) => isManagedCrontabLine(l) && l !== d.crontabLine), ...(legacy?.crontabLines ?? [])]);
  if (ourCount > 1) remove.push(d.crontabLine);
  const add = ourCount === 1 ? [] : [d.crontabLine];
  if (remove.length > 0 || add.length > 0) {
    if (ourCount === 0) reasons.push(because('crontab-missing', 'crontab line missing'));
    if (ourCount > 1) reasons.push(because('crontab-duplicated', 'crontab line duplicated'));
    if (remove.some((l) => isManagedCrontabLine(l) && l !== d.crontabLine))
      reasons.push(because('crontab-stale', 'crontab has a stale zbs-reroute line'));
    if (legacy !== undefined && legacy.crontabLines.length > 0)
      reasons.push(because('crontab-legacy', 'crontab has the legacy scvm_failure_loop.sh line'));
    actions.push({ op: 'edit-crontab', remove, add, before: o.crontab });
    actions.push({ op: 'reload-crond' });
  } else if (!o.crondRunning) {
    reasons.push(because('crond-stopped', 'crond not running'));
    actions.push({ op: 'reload-crond' });
  }

  // The firewall ruleset the session source needs, before the agent starts (it fetches at once).
  const fw = planFirewallApply(d, o);
  reasons.push(...fw.reasons);
  actions.push(...fw.actions);

  // local.sh block (+ auto-backup, or the edit is lost at the next reboot; the firewall
  // change lives in esx.conf, saved by the same auto-backup).
  const drift = localShDrift(o.localSh, d.localShBlock);
  const legacyLocal = legacy?.localShLines ?? [];
  if (drift !== undefined || legacyLocal.length > 0) {
    if (drift !== undefined) reasons.push(because('local-sh-drift', drift));
    if (legacyLocal.length > 0) reasons.push(because('local-sh-legacy', 'local.sh has legacy scvm_failure lines'));
    actions.push({ op: 'edit-local-sh', block: d.localShBlock, removeLines: legacyLocal, before: o.localSh });
    actions.push({ op: 'auto-backup' });
  } else if (fw.actions.some((a) => a.steps.length > 0)) {
    actions.push({ op: 'auto-backup' });
  }

  // Drain pin: the one deliberate IO move, done by the agent itself.
  const pin = observedPin(d, o);
  if (d.pinTarget !== undefined) {
    if (!pin.present || pin.target !== d.pinTarget) {
      reasons.push(because('drain-start', `IO drained to ${d.pinTargetNode ?? d.pinTarget}`));
      actions.push({ op: 'write-pin', target: d.pinTarget, targetNode: d.pinTargetNode ?? d.pinTarget, path: pinPath(d) });
    }
  } else if (pin.present) {
    reasons.push(because('drain-end', DRAIN_ENDED));
    actions.push({ op: 'remove-pin', path: pinPath(d) });
  }

  // The seed's loop would fight ours over the route: stop it before ours starts.
  if (legacy?.running) actions.push({ op: 'stop-agent', match: [LEGACY_LOOP_FILE] });

  // A loop of ours started from another folder (the manifest moved the datastore) would keep
  // the singleton lock with its old config: stop it, so the one in our folder can run.
  const elsewhere = unique(
    o.agentProcesses
      .filter((p) => isOurProcess(p.command) && !p.command.includes(loopPath))
      .map((p) => /(\S*\/reroute-loop\.sh)/.exec(p.command)?.[1] ?? AGENT_LOOP_FILE),
  );
  if (elsewhere.length > 0) {
    reasons.push(because('agent-elsewhere', `agent running from another folder: ${elsewhere.join(', ')}`));
    actions.push({ op: 'stop-agent', match: elsewhere });
  }

  // Agent process. A reroute.conf change needs no restart: the loop re-sources the file every
  // iteration (esxi/agent/reroute-loop.sh, load_conf), and a restart would reset its failback timer.
  const running = o.agentProcesses.some((p) => isOurProcess(p.command) && (elsewhere.length === 0 || p.command.includes(loopPath)));
  const hb = o.heartbeat;
  const stale = desired.heartbeatStaleSeconds ?? 90;
  if (!running) {
    reasons.push(
      hasOurFiles(d, o) || found !== undefined ? because('agent-not-running', 'agent not running') : because('new-install', 'new install'),
    );
    actions.push({ op: 'start-agent' });
  } else {
    const why: string[] = [];
    if (loopChanged) why.push('agent script replaced');
    if (!loopChanged && hb !== undefined && hb.version !== wantedVersion)
      why.push(`running agent reports ${hb.version}, wanted ${wantedVersion}`);
    if (hb === undefined) why.push('no heartbeat');
    else if (o.now - hb.updated > stale) why.push(`heartbeat stale (${o.now - hb.updated} s old)`);
    if (why.length > 0) {
      // Script and conf changes already have their reason; the others are news.
      reasons.push(...why.filter((w) => w !== 'agent script replaced').map((w) => because('agent-stale', w)));
      actions.push({ op: 'restart-agent', reason: why.join('; ') });
    }
  }

  if (legacy !== undefined) {
    reasons.unshift(
      because(
        'legacy-takeover',
        `legacy install${legacy.version ? ` ${legacy.version}` : ''}${legacy.dir ? ` in ${legacy.dir}` : ''}: take over, route adopted as is`,
      ),
    );
    if (legacy.dir !== undefined || legacy.keyDir !== undefined) {
      // The seed folder goes only once ours is seen alive: until then it is the way back.
      actions.push({ op: 'verify-agent', timeoutSeconds: TAKEOVER_VERIFY_SECONDS });
      if (legacy.dir !== undefined) actions.push({ op: 'remove-dir', path: legacy.dir, recursive: true });
      if (legacy.keyDir !== undefined) actions.push({ op: 'remove-dir', path: legacy.keyDir, recursive: true });
    }
  }

  const anyOurs = hasOurFiles(d, o) || cronLines.some(isManagedCrontabLine) || hasLocalShTrace(o.localSh) || running;
  const change: HostChange = legacy !== undefined ? 'takeover' : actions.length === 0 ? 'noop' : anyOurs ? 'update' : 'create';
  if (change === 'create')
    reasons.splice(
      0,
      reasons.length,
      because('new-install', `install agent ${wantedVersion}`),
      ...reasons.filter((r) => r.code === 'drain-start'),
    );
  const draft: HostDraft = { change, reasons: uniqueReasons(reasons), actions };
  const notes = [...fw.notes, ...(shadowLegacy === undefined ? [] : [shadowLegacyNote(shadowLegacy)])];
  if (notes.length > 0) draft.notes = notes;
  return draft;
}

function shadowLegacyNote(l: LegacyFindings): string {
  const what = `legacy install${l.version ? ` ${l.version}` : ''}${l.dir ? ` in ${l.dir}` : ''}`;
  return `${what} stays in charge of the route (routing.mode shadow): its loop, crontab and local.sh lines are kept; set routing.mode: active and apply to take over`;
}

export { routeIsOurs } from './plan-destroy';

/**
 * Teardown of one reachable ESXi host: crontab line first (so cron cannot
 * restart what we stop), then the agent, local.sh, files, the folder, and last
 * (with `removeRoutes`, on a host its healthy local SCVM serves) the routes this
 * cluster owns. A failed-over, drained or unhealthy host is refused: no action.
 */
export function planEsxiDestroy(
  d: DesiredEsxi,
  o: EsxiObserved,
  desired: DesiredCluster,
  opts: { removeRoutes?: boolean; forced?: boolean } = {},
): HostDraft {
  const reasons: PlanReason[] = [];
  const actions: Action[] = [];
  const legacy = detectLegacy(o);
  const cronLines = splitKeepingEnds(o.crontab).map(bare);
  const remove = unique([...cronLines.filter(isManagedCrontabLine), ...(legacy?.crontabLines ?? [])]);
  const running = o.agentProcesses.some((p) => isOurProcess(p.command));
  const files = Object.keys(o.files)
    .filter((p) => p.startsWith(`${d.installDir}/`))
    .sort();
  const dirPresent = files.length > 0 || (o.dirs !== undefined && o.dirs[d.installDir] !== undefined);

  if (remove.length > 0) {
    reasons.push(becauseOf('crontab', 'teardown', 'crontab line'));
    actions.push({ op: 'edit-crontab', remove, add: [], before: o.crontab });
    actions.push({ op: 'reload-crond' });
  }
  // A crontab line means cron may have started a loop since the probe: stop it anyway.
  const match = [
    ...(running || cronLines.some(isManagedCrontabLine) ? [AGENT_LOOP_FILE] : []),
    ...(legacy !== undefined && (legacy.running || legacy.crontabLines.length > 0) ? [LEGACY_LOOP_FILE] : []),
  ];
  if (match.length > 0) {
    reasons.push(becauseOf('agent', 'teardown', 'agent'));
    actions.push({ op: 'stop-agent', match });
  }
  // Firewall rulesets back as they were, while their record (in the install dir) still exists.
  const fw = planFirewallDestroy(d, o);
  reasons.push(...fw.reasons);
  actions.push(...fw.actions);
  const legacyLocal = legacy?.localShLines ?? [];
  if (hasLocalShTrace(o.localSh) || legacyLocal.length > 0) {
    reasons.push(becauseOf('local.sh', 'teardown', 'local.sh block'));
    actions.push({ op: 'edit-local-sh', removeLines: legacyLocal, before: o.localSh });
    actions.push({ op: 'auto-backup' });
  } else if (fw.actions.some((a) => a.steps.length > 0)) {
    actions.push({ op: 'auto-backup' });
  }
  if (dirPresent) {
    reasons.push(becauseOf('install folder', 'teardown', `${d.installDir} and its ${files.length} file(s)`));
    for (const p of files) actions.push({ op: 'delete-file', path: p });
    actions.push({ op: 'remove-dir', path: d.installDir, recursive: true });
  }
  if (legacy?.dir !== undefined) {
    reasons.push(becauseOf('legacy install', 'teardown', `legacy folder ${legacy.dir}`));
    actions.push({ op: 'remove-dir', path: legacy.dir, recursive: true });
  }
  if (legacy?.keyDir !== undefined) actions.push({ op: 'remove-dir', path: legacy.keyDir, recursive: true });
  // Routes last, after the agent that would re-add them is gone, and only where the decision
  // allows it (src/plan/plan-destroy.ts): a refused host gets no action at all.
  const decision = decideDestroyRoutes(d, o, desired, { ...opts, hasOurs: actions.length > 0 });
  if (decision.code.startsWith('refused-'))
    return { change: 'refused', reasons: [becauseOf('route', 'teardown', decision.detail)], actions: [], routeDecision: decision };
  if (decision.code === 'delete-local') {
    // The agent's last switch may finish after it is stopped. A 33.2 route that moved to another
    // local address (RDMA: storage ↔ access IP) is deleted where it is now; one that moved to a
    // peer (a failover during the stop) is not: the delete then fails and the host is reported.
    const local = localGateways(d);
    for (const r of ourRoutes(d, o, desired)) {
      reasons.push(becauseOf('route', 'teardown', `route ${r.network}/${r.prefixLength} via ${r.gateway}`));
      const orVia = r.network === desired.nfsAddress ? local.filter((g) => g !== r.gateway).sort() : [];
      actions.push({
        op: 'delete-route',
        network: r.network,
        prefixLength: r.prefixLength,
        gateway: r.gateway,
        ...(orVia.length > 0 ? { orVia } : {}),
      });
    }
  }
  const draft: HostDraft = { change: actions.length > 0 ? 'delete' : 'noop', reasons, actions, routeDecision: decision };
  if (fw.notes.length > 0) draft.notes = fw.notes;
  return draft;
}
