import { createTwoFilesPatch } from 'diff';
import pc from 'picocolors';
import {
  AGENT_CONF_FILE,
  AUTO_BACKUP_PATH,
  CRONTAB_PATH,
  LOCAL_SH_PATH,
  SCVM_AUTHORIZED_KEYS,
  SCVM_ROOT_AUTHORIZED_KEYS,
} from '../agent/bundle-layout';
import { DRAIN_ENDED } from './plan-esxi';
import type { Action, HostPlan, Plan } from './plan-types';
import { assertNoSecrets, looksSecret } from '../core/secret-free-json';
import { editCrontab, editLocalSh } from './text-edits';
import { sanitizeForDisplay } from '../observe/sanitize';
import { renderChecksSection } from '../preflight/render-preflight';

export interface RenderTextOptions {
  /** The CLI decides (NO_COLOR, --no-color, TTY); renderers never look at the environment. */
  color: boolean;
  /** Also list hosts that need nothing. */
  showUnchanged?: boolean;
}

type Colors = ReturnType<typeof pc.createColors>;

/** New files up to this many lines are shown in full; longer ones (the agent script) as a summary. */
const MAX_NEW_FILE_LINES = 40;
const SENSITIVE = '(sensitive)';

/** Host-controlled text (crontab, local.sh, file names, reasons) never reaches the terminal raw. */
function safe(text: string): string {
  return sanitizeForDisplay(text, { multiline: false });
}

function marker(change: HostPlan['change']): string {
  switch (change) {
    case 'create':
      return '+';
    case 'update':
    case 'takeover':
      return '~';
    case 'delete':
      return '-';
    case 'unreachable':
    case 'refused':
      return '!';
    case 'noop':
      return ' ';
  }
}

function paint(c: Colors, sign: string, text: string): string {
  if (sign === '+') return c.green(text);
  if (sign === '-') return c.red(text);
  if (sign === '~') return c.yellow(text);
  if (sign === '!') return c.magenta(text);
  return text;
}

function hostTitle(h: HostPlan, plan: Plan): string {
  if (h.change === 'unreachable') return `unreachable (${h.address}): ${h.unreachableReason ?? 'no reason given'}`;
  if (h.change === 'refused')
    return `refused, left exactly as it is: ${h.routeDecision?.detail ?? h.reasons[0]?.detail ?? 'no reason given'}`;
  const pin = h.actions.find((a): a is Extract<Action, { op: 'write-pin' }> => a.op === 'write-pin');
  if (pin)
    return h.change === 'create' ? `install agent ${plan.version}, IO drained to ${pin.targetNode}` : `IO drained to ${pin.targetNode}`;
  if (h.change === 'update' && h.actions.some((a) => a.op === 'remove-pin')) return DRAIN_ENDED;
  if (h.host === 'scvm') {
    if (h.change === 'create') return 'add key entry';
    if (h.change === 'delete') return 'remove key entry';
  }
  if (h.change === 'create') return `install agent ${plan.version}`;
  if (h.change === 'delete') return 'remove agent';
  if (h.change === 'noop') return 'up to date';
  return h.reasons[0]?.detail ?? 'update';
}

/** `ssh-rsa AAAAB3Nz…7fQ= zbs-reroute:x`: key blobs are long and say nothing to a reader. */
function shortenKeys(entry: string): string {
  return entry.replace(
    /\b(ssh-[a-z0-9]+|ecdsa-[a-z0-9-]+) ([A-Za-z0-9+/]{24,}=*)/g,
    (_m, t: string, b: string) => `${t} ${b.slice(0, 12)}…${b.slice(-6)}`,
  );
}

function diffLines(c: Colors, path: string, before: string, after: string): string[] {
  if (looksSecret(before) || looksSecret(after)) return [SENSITIVE];
  const patch = createTwoFilesPatch(path, path, before, after, '', '', {
    context: 3,
    headerOptions: { includeIndex: false, includeUnderline: false, includeFileHeaders: false },
  });
  return patch
    .split('\n')
    .filter((l) => l !== '')
    .map(safe)
    .map((l) =>
      l.startsWith('@@') ? c.cyan(l) : l.startsWith('+') ? c.green(l) : l.startsWith('-') ? c.red(l) : l.startsWith('\\') ? c.dim(l) : l,
    );
}

function short(sha: string): string {
  return sha.slice(0, 12);
}

function lineCount(text: string): number {
  return text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** One action → its line(s): [sign, text, detail lines]. */
function describe(c: Colors, a: Action, h: HostPlan): [string, string, string[]] {
  const rel = (p: string) => (h.installDir && p.startsWith(`${h.installDir}/`) ? p.slice(h.installDir.length + 1) : p);
  switch (a.op) {
    case 'mkdir':
      return ['+', `dir ${a.path} (${a.mode})`, []];
    case 'write-file': {
      const sign = a.before ? '~' : '+';
      const what = `file ${rel(a.path)} (${a.mode})`;
      if (a.contentRef !== undefined || (a.content !== undefined && looksSecret(a.content))) return [sign, `${what} ${SENSITIVE}`, []];
      const details: string[] = [];
      if (a.version !== undefined)
        details.push(safe(a.before ? `agent ${a.before.version ?? 'unknown'} → ${a.version}` : `agent ${a.version}`));
      if (a.before && a.before.mode !== a.mode) details.push(safe(`mode ${a.before.mode} → ${a.mode}`));
      const content = a.content ?? '';
      if (a.before?.content !== undefined) details.push(...diffLines(c, a.path, a.before.content, content));
      else if (!a.before && a.content !== undefined && a.version === undefined && lineCount(content) <= MAX_NEW_FILE_LINES)
        details.push(...diffLines(c, a.path, '', content));
      else if (!a.before) details.push(`${lineCount(content)} lines, sha256 ${short(a.sha256)}`);
      else if (a.before.sha256 !== a.sha256) details.push(`sha256 ${short(a.before.sha256)} → ${short(a.sha256)}`);
      // A changed conf (peers, timings, MODE, zones) is no restart: the loop sources it every iteration.
      if (a.before && rel(a.path) === AGENT_CONF_FILE)
        details.push(c.dim('the running agent re-reads it at its next iteration: no restart, the route stays as it is'));
      return [sign, what, details];
    }
    case 'delete-file':
      return ['-', `file ${rel(a.path)}`, []];
    case 'remove-dir':
      return ['-', `dir ${a.path}${a.recursive ? ' (and everything in it)' : ''}`, []];
    case 'edit-crontab': {
      const details =
        a.before !== undefined
          ? diffLines(c, CRONTAB_PATH, a.before, editCrontab(a.before, a.remove, a.add))
          : [...a.remove.map((l) => c.red(safe(`-${l}`))), ...a.add.map((l) => c.green(safe(`+${l}`)))];
      return ['~', `crontab ${CRONTAB_PATH}`, details];
    }
    case 'reload-crond':
      return ['~', 'reload crond', []];
    case 'edit-local-sh': {
      const details =
        a.before !== undefined
          ? diffLines(c, LOCAL_SH_PATH, a.before, editLocalSh(a.before, a.block, a.removeLines))
          : [
              ...a.removeLines.map((l) => c.red(safe(`-${l}`))),
              ...(a.block === undefined
                ? [c.red('-(zbs-reroute block)')]
                : a.block
                    .replace(/\n$/, '')
                    .split('\n')
                    .map((l) => c.green(safe(`+${l}`)))),
            ];
      return ['~', `${LOCAL_SH_PATH} ${a.block === undefined ? 'block removed' : 'block'}`, details];
    }
    case 'auto-backup':
      return [
        '~',
        `run ${AUTO_BACKUP_PATH} (so ${h.actions.some((x) => x.op === 'firewall-ruleset') ? 'the firewall and local.sh changes survive' : 'local.sh survives'} a reboot)`,
        [],
      ];
    case 'firewall-ruleset':
      return describeFirewall(c, a);
    case 'restart-agent':
      return ['~', `restart agent (${a.reason}); the route stays as it is`, []];
    case 'stop-agent':
      return ['-', `stop processes matching ${a.match.join(', ')}; the route stays as it is`, []];
    case 'start-agent':
      return ['+', 'start agent', []];
    case 'verify-agent':
      return ['~', `wait up to ${a.timeoutSeconds} s for the agent's heartbeat before going on`, []];
    case 'write-pin':
      return ['~', `pin → ${a.target} (${a.targetNode}): the agent moves this host's IO there`, []];
    case 'remove-pin':
      return ['-', 'pin: drain ends, the agent fails back by its policy', []];
    case 'delete-route':
      return ['-', `route ${a.network}/${a.prefixLength} via ${a.gateway}`, []];
    case 'register-session-clients':
      return [
        '~',
        `ZBS session ${a.sessionId}: local_clients_ips ${a.before.length > 0 ? a.before.join(',') : '(none)'} → ${a.clientIps.join(',')} (zbs-meta session refresh_address; no route changes)`,
        [],
      ];
    case 'authorized-key-add':
      return ['+', `~/${SCVM_AUTHORIZED_KEYS}: ${shortenKeys(a.entry)}`, []];
    case 'authorized-key-remove':
      return ['-', `${a.file === 'root' ? SCVM_ROOT_AUTHORIZED_KEYS : `~/${SCVM_AUTHORIZED_KEYS}`}: ${shortenKeys(a.entry)}`, []];
  }
}

/** `~ firewall ruleset httpClient: disabled → enabled, allowed IPs 10.20.0.101, …` with one line per step. */
function describeFirewall(c: Colors, a: Extract<Action, { op: 'firewall-ruleset' }>): [string, string, string[]] {
  const state = (enabled: boolean, allowedAll: boolean, ips: string[]) =>
    `${enabled ? 'enabled' : 'disabled'}, ${allowedAll ? 'all IPs' : ips.length > 0 ? `allowed IPs ${ips.join(', ')}` : 'no allowed IPs'}`;
  let { enabled, allowedAll } = a.before;
  let ips = [...a.before.allowedIps];
  const details: string[] = [];
  for (const step of a.steps) {
    const [k, v] = step.split('=') as [string, string];
    if (k === 'enabled') enabled = v === 'true';
    else if (k === 'allowed-all') allowedAll = v === 'true';
    else if (k === 'add') ips = [...ips, v];
    else ips = ips.filter((x) => x !== v);
    details.push(k === 'add' ? c.green(safe(`+ allowed IP ${v}`)) : k === 'remove' ? c.red(safe(`- allowed IP ${v}`)) : safe(`${k} ${v}`));
  }
  if (a.record !== undefined)
    details.push(c.dim(`prior state ${a.record.content === undefined ? 'record removed' : 'recorded'} in ${safe(a.record.path)}`));
  const from = state(a.before.enabled, a.before.allowedAll, a.before.allowedIps);
  const to = state(enabled, allowedAll, ips);
  return ['~', `firewall ruleset ${a.ruleset}: ${from} → ${to} (${a.reason})`, details];
}

function renderHost(c: Colors, h: HostPlan, plan: Plan): string[] {
  const sign = marker(h.change);
  const title = safe(hostTitle(h, plan));
  const out = [`  ${paint(c, sign, sign)} ${c.bold(h.node)} (${h.host}): ${paint(c, sign, title)}`];
  if (h.change === 'unreachable') return out;
  if (h.change === 'refused')
    return [...out, `      ${c.yellow(`fix: ${safe(h.routeDecision?.fix ?? 'heal or un-drain the host first')}`)}`];
  // Reasons explain an update; for a create or delete the actions say it all.
  if (h.change === 'update' || h.change === 'takeover')
    for (const r of h.reasons.map((x) => safe(x.detail))) if (r !== title) out.push(`      ${c.dim(`# ${r}`)}`);
  for (const a of h.actions) {
    const [s, text, details] = describe(c, a, h);
    out.push(`      ${paint(c, s, s)} ${safe(text)}`);
    for (const d of details) out.push(`          ${d}`);
  }
  // Destroy: the route decision, also where the routes stay (deleted ones are listed above).
  const rd = h.routeDecision;
  if (rd !== undefined && rd.code !== 'delete-local' && rd.code !== 'no-route') out.push(`      = ${c.dim(safe(`route: ${rd.detail}`))}`);
  return out;
}

/** Host notes, each said once with the nodes it holds for (the same note on 16 hosts is one line). */
function groupedNotes(plan: Plan): [string, string[]][] {
  const by = new Map<string, string[]>();
  for (const h of plan.hosts) for (const n of h.notes ?? []) by.set(n, [...(by.get(n) ?? []), h.node]);
  return [...by];
}

/** `--target`: the hosts planned beyond the named nodes and why (the --target-only warning says what it leaves). */
function targetLines(c: Colors, plan: Plan): string[] {
  const t = plan.targets;
  if (t === undefined) return [];
  const head = `Targets: ${t.requested.join(', ')}${t.only ? ' (--target-only)' : ''}.`;
  if (t.included.length === 0) return [c.bold(safe(`${head}${t.only ? '' : ' No other host names them or needs a change for them.'}`)), ''];
  return [
    c.bold(safe(`${head} Also planned, because their files name a target (--target-only plans the named nodes alone):`)),
    ...t.included.map((e) => `  ${safe(`${e.node} (${e.host}): ${e.because.join('; ')}`)}`),
    '',
  ];
}

export function summaryLine(plan: Plan): string {
  const { add, change, destroy, refused } = plan.summary;
  const base = add + change + destroy === 0 ? 'No changes.' : `Plan: ${add} to add, ${change} to change, ${destroy} to destroy.`;
  return refused ? `${base.slice(0, -1)}; ${refused} host(s) refused.` : base;
}

/**
 * The plan as operators read it, Terraform style: one block per host with
 * + / ~ / - (and ! for unreachable), unified diffs for file, crontab and
 * local.sh edits, the summary line last. Returns text; printing is the CLI's.
 * The private key is never rendered, only `(sensitive)`.
 */
export function renderPlanText(plan: Plan, opts: RenderTextOptions): string {
  assertNoSecrets(plan);
  const c = pc.createColors(opts.color);
  const lines: string[] = [];
  lines.push(c.bold(`zbs-reroute ${plan.mode} plan for cluster ${plan.cluster} (agent ${plan.version})`));
  lines.push('');
  if (plan.preflight) lines.push(...renderChecksSection(plan.preflight, { color: opts.color }));
  // Hosts whose agent datastore is NFS (src/plan/datastore-guard.ts): nothing is planned there, and plan/apply refuse.
  for (const r of plan.datastoreRefusals ?? []) lines.push(c.red(`✗ refused: ${safe(r.detail)}`), `  fix: ${safe(r.fix)}`, '');
  const shown = plan.hosts.filter((h) => h.change !== 'noop' || opts.showUnchanged === true);
  for (const h of shown) {
    lines.push(...renderHost(c, h, plan));
    lines.push('');
  }
  lines.push(...targetLines(c, plan));
  for (const [note, nodes] of groupedNotes(plan)) lines.push(c.dim(`Note: ${safe(note)} (${nodes.join(', ')})`));
  for (const w of plan.warnings ?? []) lines.push(c.yellow(`Warning: ${safe(w)}`));
  if ((plan.warnings ?? []).length > 0) lines.push('');
  const unchanged = plan.hosts.filter((h) => h.change === 'noop').length;
  if (unchanged > 0 && opts.showUnchanged !== true) lines.push(c.dim(`${unchanged} host(s) already as wanted.`));
  if (plan.summary.unreachable > 0)
    lines.push(c.magenta(`${plan.summary.unreachable} host(s) unreachable: not planned; run again when they are back.`));
  const refused = plan.hosts.filter((h) => h.change === 'refused').map((h) => h.node);
  if (refused.length > 0)
    lines.push(
      c.magenta(
        `${refused.length} host(s) refused (${refused.join(', ')}): left exactly as they are, routes included; see each host's fix above.`,
      ),
    );
  lines.push(c.bold(summaryLine(plan)));
  return lines.join('\n') + '\n';
}
