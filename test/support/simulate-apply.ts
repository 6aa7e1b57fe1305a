import { AGENT_LOOP_FILE } from '../../src/agent/bundle-layout';
import { pinFileContent } from '../../src/agent/host-entries';
import { sha256Hex } from '../../src/desired/desired-state';
import type { EsxiObserved, ObservedCluster, ScvmObserved } from '../../src/observe/observed-types';
import { parseFirewallPrior } from '../../src/observe/firewall-output';
import type { Action, HostPlan, Plan } from '../../src/plan/plan-types';
import { bare, editCrontab, editLocalSh, scanLocalSh, splitKeepingEnds } from '../../src/plan/text-edits';

/** pid the simulated agent gets; any fixed number will do. */
const SIMULATED_PID = 4242;

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

function outsideOurBlocks(text: string): Set<string> {
  const lines = splitKeepingEnds(text);
  const { blocks, strays } = scanLocalSh(lines);
  const ours = new Set<number>(strays);
  for (const b of blocks) for (let i = b.start; i <= b.end; i++) ours.add(i);
  return new Set(lines.filter((_, i) => !ours.has(i)).map(bare));
}

function simulateEsxi(o: EsxiObserved, h: HostPlan, version: string): EsxiObserved {
  const s: EsxiObserved = structuredClone(o);
  const removedDirs: string[] = [];
  const startAgent = () => {
    const dir = h.installDir ?? '';
    const loop = `${dir}/${AGENT_LOOP_FILE}`;
    s.agentProcesses = [
      ...s.agentProcesses.filter((p) => !p.command.includes(AGENT_LOOP_FILE)),
      { pid: SIMULATED_PID, command: `/bin/sh ${loop}` },
    ];
    s.heartbeat = {
      version: s.files[loop]?.version ?? version,
      pid: SIMULATED_PID,
      target: s.nfsRoute?.gateway ?? '',
      targetKind: s.nfsRoute ? 'local' : 'none',
      since: s.now,
      updated: s.now,
      fetch: 'ok',
      fetchMs: 5,
    };
  };
  for (const a of h.actions) {
    switch (a.op) {
      case 'mkdir':
        if (s.dirs !== undefined) s.dirs[a.path] = { mode: a.mode };
        break;
      case 'write-file':
        s.files[a.path] = {
          path: a.path,
          sha256: a.sha256,
          size: a.content?.length ?? 0,
          mode: a.mode,
          ...(a.version === undefined ? {} : { version: a.version }),
        };
        break;
      case 'delete-file':
        delete s.files[a.path];
        if (a.path.endsWith('/firewall.prior')) delete s.firewallPrior;
        break;
      case 'remove-dir':
        removedDirs.push(a.path);
        for (const p of Object.keys(s.files)) if (under(p, a.path)) delete s.files[p];
        if (s.dirs !== undefined) for (const p of Object.keys(s.dirs)) if (under(p, a.path)) delete s.dirs[p];
        if (h.installDir !== undefined && a.path === h.installDir) {
          delete s.pinTarget;
          delete s.firewallPrior;
        }
        break;
      case 'edit-crontab':
        s.crontab = editCrontab(s.crontab, a.remove, a.add);
        break;
      case 'reload-crond':
        s.crondRunning = true;
        break;
      case 'edit-local-sh':
        s.localSh = editLocalSh(s.localSh, a.block, a.removeLines);
        break;
      case 'stop-agent':
        s.agentProcesses = s.agentProcesses.filter((p) => !a.match.some((m) => p.command.includes(m)));
        if (s.legacy?.processes !== undefined)
          s.legacy.processes = s.legacy.processes.filter((p) => !a.match.some((m) => p.command.includes(m)));
        if (a.match.includes(AGENT_LOOP_FILE)) delete s.heartbeat;
        break;
      case 'start-agent':
      case 'restart-agent':
        startAgent();
        break;
      case 'write-pin': {
        const path = a.path ?? `${h.installDir ?? ''}/pin`;
        const content = pinFileContent(a.target);
        s.files[path] = { path, sha256: sha256Hex(content), size: content.length, mode: '0600' };
        s.pinTarget = a.target;
        break;
      }
      case 'remove-pin':
        delete s.files[a.path ?? `${h.installDir ?? ''}/pin`];
        delete s.pinTarget;
        break;
      case 'delete-route':
        if (
          s.nfsRoute &&
          s.nfsRoute.network === a.network &&
          s.nfsRoute.gateway === a.gateway &&
          s.nfsRoute.prefixLength === a.prefixLength
        )
          delete s.nfsRoute;
        s.otherHostRoutes = s.otherHostRoutes.filter(
          (r) => !(r.network === a.network && r.gateway === a.gateway && r.prefixLength === a.prefixLength),
        );
        break;
      case 'firewall-ruleset':
        simulateFirewall(s, a);
        break;
      case 'auto-backup':
      case 'verify-agent':
      case 'authorized-key-add':
      case 'authorized-key-remove':
      case 'register-session-clients':
        break;
      default:
        assertNever(a);
    }
  }
  // What the probe would report about the seed install afterwards.
  if (s.legacy !== undefined) {
    const l = s.legacy;
    const dirGone = removedDirs.some((d) => under(l.dir, d));
    if (l.keyDir !== undefined && removedDirs.some((d) => under(l.keyDir as string, d))) delete l.keyDir;
    const cron = new Set(splitKeepingEnds(s.crontab).map(bare));
    if (l.crontabLine !== undefined && !cron.has(bare(l.crontabLine))) delete l.crontabLine;
    const local = outsideOurBlocks(s.localSh);
    l.localShLines = l.localShLines.filter((x) => local.has(bare(x)));
    if (dirGone) delete s.legacy;
  }
  return s;
}

/** ESXi as zr_fw_ruleset drives it; a ruleset open to all lists `All`, not its addresses. */
function simulateFirewall(s: EsxiObserved, a: Extract<Action, { op: 'firewall-ruleset' }>): void {
  const fw = s.firewall?.[a.ruleset];
  if (s.firewall !== undefined && fw !== undefined) {
    const next = { ...fw, allowedIps: [...fw.allowedIps] };
    for (const step of a.steps) {
      const [k, v] = step.split('=') as [string, string];
      if (k === 'enabled') next.enabled = v === 'true';
      else if (k === 'allowed-all') {
        next.allowedAll = v === 'true';
        if (next.allowedAll) next.allowedIps = [];
      } else if (k === 'add' && !next.allowedIps.includes(v)) next.allowedIps.push(v);
      else if (k === 'remove') next.allowedIps = next.allowedIps.filter((x) => x !== v);
    }
    s.firewall[a.ruleset] = next;
  }
  const r = a.record;
  if (r === undefined) return;
  if (r.content === undefined || r.sha256 === undefined) {
    delete s.files[r.path];
    delete s.firewallPrior;
    return;
  }
  s.files[r.path] = { path: r.path, sha256: r.sha256, size: r.content.length, mode: '0600' };
  const prior = parseFirewallPrior(r.content).prior;
  if (Object.keys(prior).length > 0) s.firewallPrior = prior;
  else delete s.firewallPrior;
}

function simulateScvm(o: ScvmObserved, h: HostPlan): ScvmObserved {
  const s: ScvmObserved = structuredClone(o);
  for (const a of h.actions) {
    if (a.op === 'authorized-key-add' && !s.managedKeys.includes(a.entry)) s.managedKeys.push(a.entry);
    if (a.op === 'authorized-key-remove' && a.file === 'root') {
      s.rootManagedKeys = (s.rootManagedKeys ?? []).filter((l) => l !== a.entry);
      if (s.rootManagedKeys.length === 0) delete s.rootManagedKeys;
    } else if (a.op === 'authorized-key-remove') s.managedKeys = s.managedKeys.filter((l) => l !== a.entry);
    if (
      a.op === 'register-session-clients' &&
      s.zbsSession !== undefined &&
      'sessionId' in s.zbsSession &&
      s.zbsSession.sessionId === a.sessionId
    ) {
      s.zbsSession = { sessionId: a.sessionId, localClientsIps: [...a.clientIps] };
    }
  }
  return s;
}

function assertNever(a: never): never {
  throw new Error(`unhandled action ${(a as Action).op}`);
}

/**
 * The observation a perfect apply of `plan` would leave behind: a pure model
 * of every action, used to prove that planning again yields no changes. It
 * uses the same text edits apply runs, so it also pins their semantics.
 */
export function applyPlanToObserved(plan: Plan, observed: ObservedCluster): ObservedCluster {
  const out: ObservedCluster = structuredClone(observed);
  for (const h of plan.hosts) {
    if (h.host === 'esxi') {
      const o = out.esxi[h.node];
      if (o !== undefined && o.reachable) out.esxi[h.node] = simulateEsxi(o, h, plan.version);
    } else {
      const o = out.scvm[h.node];
      if (o !== undefined && o.reachable) out.scvm[h.node] = simulateScvm(o, h);
    }
  }
  return out;
}
