/**
 * `reroute preflight` as the application layer runs it, for the CLI command,
 * plan and apply alike: one exec of esxi/preflight/preflight.sh per ESXi host,
 * one exec of the agent's own `--fetch-once` per ESXi host, one exec per SCVM
 * as the operator user — all over the session's pooled connections, all
 * read-only — then the pure verdicts (src/preflight/preflight-checks.ts).
 */
import { renderAgentConf } from '../agent/agent-conf';
import { PRIVATE_KEY_FILE } from '../agent/bundle-layout';
import { installDirFor } from '../agent/host-entries';
import { mapBounded } from '../apply/map-bounded';
import { shippedEsxiScript } from '../agent/shipped-bundle';
import { RerouteError } from '../errors/reroute-error';
import { checkNodeNames } from '../manifest/node-names';
import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import { sanitizeForDisplay } from '../observe/sanitize';
import type { Plan } from '../plan/plan-types';
import { parseKeyValueLines } from '../observe/esxi-command-output';
import {
  blockingFailures,
  preflightChecks,
  rulesetFor,
  type NodeFacts,
  type PreflightContext,
  type Reached,
} from '../preflight/preflight-checks';
import {
  parseFetchOnce,
  parsePreflightOutput,
  parseScvmFacts,
  type EsxiFacts,
  type FetchOnce,
  type ScvmFacts,
} from '../preflight/parse-preflight-output';
import {
  CHECK_NAMES,
  isCheckName,
  summarize,
  type PlanPreflight,
  type PreflightCheck,
  type PreflightReport,
} from '../preflight/preflight-types';
import { builtinsFromList, requiredCommands } from '../preflight/required-commands';
import type { HostConnections } from '../remote/host-connections';
import type { ExecResult, RemoteHost } from '../remote/ssh-connection';
import { shellCommand, shellQuote } from '../core/shell-quote';
import type { ClusterSession } from './cluster-session';
import { offlineKeyInfo, PENDING_KEY } from './cluster-plan';

const MAX_OUTPUT = 1024 * 1024;
/** The SCVM side: who we are, whether sudo works without a password, the SMTX OS release line, the OpenSSH version. Bounded by the exec timeout. */
export const SCVM_FACTS_COMMAND = `sh -c ${shellQuote('printf "user=%s\\n" "$(id -un)"; if sudo -n true </dev/null >/dev/null 2>&1; then echo sudo=ok; else echo sudo=no; fi; r=$(head -c 256 /etc/smtxos-release 2>/dev/null | head -n 1); printf "release=%s\\n" "$r"; s=$(ssh -V 2>&1 </dev/null | head -n 1); printf "ssh=%s\\n" "$s"')}`;

export function preflightContext(manifest: Manifest): PreflightContext {
  const scripts = ['agent/reroute-loop.sh', 'probe/probe.sh', 'apply/host-ops.sh'].map((p) => ({
    name: p === 'apply/host-ops.sh' ? 'host-ops' : (p.split('/')[0] as string),
    text: shippedEsxiScript(p),
  }));
  const builtins = [
    ...builtinsFromList(shippedEsxiScript('agent/applets.txt')),
    ...builtinsFromList(shippedEsxiScript('probe/probe-commands.txt')),
  ];
  const first = manifest.nodes[0];
  const conf = first ? parseKeyValueLines(renderAgentConf(manifest, first)) : new Map<string, string>();
  return {
    nfsAddress: manifest.nfsAddress,
    sessionSource: manifest.routing.sessionSource,
    agentSshUser: conf.get('SSH_USER') ?? 'root',
    operatorUser: manifest.access.scvm.user,
    scvms: manifest.nodes.map((n) => ({ node: n.name, storageIp: n.scvm.storageIp })),
    required: requiredCommands(scripts, { builtins, sessionSource: manifest.routing.sessionSource }),
  };
}

/** Whether the plan turns on the session source's firewall ruleset on this node (the firewall-ruleset owned item). */
export function planEnablesRuleset(plan: Plan | undefined, node: string, ruleset: string): boolean {
  const h = plan?.hosts.find((x) => x.node === node && x.host === 'esxi');
  return (h?.actions ?? []).some((a) => a.op === 'firewall-ruleset' && a.ruleset === ruleset && a.steps.includes('enabled=true'));
}

function reason(err: unknown): string {
  return sanitizeForDisplay(err instanceof Error ? err.message : String(err), { multiline: false, maxLength: 300 });
}

async function esxiFacts(
  manifest: Manifest,
  node: NodeSpec,
  pool: HostConnections,
  ctx: PreflightContext,
  timeoutMs: number,
): Promise<{ esxi: Reached<EsxiFacts>; controllerNow?: number; fetch: FetchOnce | { skipped: string } }> {
  let host: RemoteHost;
  try {
    host = await pool.get({ kind: 'esxi', node: node.name, address: node.esxi.address });
  } catch (err) {
    return { esxi: { reachable: false, reason: reason(err) }, fetch: { skipped: 'host unreachable' } };
  }
  const dir = installDirFor(manifest, node);
  const cmd = shellCommand(['/bin/sh', '-s', '--', node.esxi.datastore, `${dir}/${PRIVATE_KEY_FILE}`, ...ctx.required.map((c) => c.name)]);
  const started = Date.now();
  let r: ExecResult;
  try {
    r = await host.exec(cmd, { stdin: shippedEsxiScript('preflight/preflight.sh'), timeoutMs, maxOutputBytes: MAX_OUTPUT });
  } catch (err) {
    return { esxi: { reachable: false, reason: reason(err) }, fetch: { skipped: 'preflight script failed' } };
  }
  const controllerNow = (started + Date.now()) / 2000;
  if (r.code !== 0) {
    const how = r.code === null ? 'was killed (no answer in time)' : `exited with status ${r.code}`;
    return {
      esxi: { reachable: false, reason: `the preflight script ${how}${r.stderr.trim() ? `: ${reason(r.stderr.trim())}` : ''}` },
      controllerNow,
      fetch: { skipped: 'preflight script failed' },
    };
  }
  const bytes = (r as { stdoutBytes?: Buffer }).stdoutBytes;
  const facts = parsePreflightOutput(Buffer.isBuffer(bytes) ? bytes : r.stdout);
  return { esxi: { reachable: true, facts }, controllerNow, fetch: await fetchOnce(manifest, node, host, timeoutMs) };
}

/**
 * The session list as the agent itself reads it on this host: the rendered
 * conf lines in front of the shipped agent text, run with `--fetch-once`
 * (esxi/agent/README.md), which prints sessions and never touches routes,
 * lock, heartbeat or log. An agent without that mode is not run at all:
 * without the flag the script would start a real loop.
 */
async function fetchOnce(
  manifest: Manifest,
  node: NodeSpec,
  host: RemoteHost,
  timeoutMs: number,
): Promise<FetchOnce | { skipped: string }> {
  const agent = shippedEsxiScript('agent/reroute-loop.sh');
  if (!agent.includes('--fetch-once')) return { skipped: "this release's agent has no --fetch-once mode" };
  const stdin = `${renderAgentConf(manifest, node)}${agent}`;
  try {
    const r = await host.exec(shellCommand(['/bin/sh', '-s', '--', '--fetch-once', '/dev/null']), {
      stdin,
      timeoutMs,
      maxOutputBytes: MAX_OUTPUT,
    });
    return parseFetchOnce(r.stdout, r.code);
  } catch (err) {
    return { ok: false, sessions: [], reason: reason(err) };
  }
}

async function scvmFacts(node: NodeSpec, pool: HostConnections, timeoutMs: number): Promise<Reached<ScvmFacts>> {
  try {
    const host = await pool.get({ kind: 'scvm', node: node.name, address: node.scvm.managementIp });
    const r = await host.exec(SCVM_FACTS_COMMAND, { timeoutMs, maxOutputBytes: MAX_OUTPUT });
    if (r.code !== 0) return { reachable: false, reason: `the check command exited with status ${r.code ?? 'signal'}` };
    return { reachable: true, facts: parseScvmFacts(r.stdout) };
  } catch (err) {
    return { reachable: false, reason: reason(err) };
  }
}

/** Per-SCVM SMTX OS release line (undefined when it could not be read), for `reroute status`. */
export async function readScvmReleases(session: ClusterSession): Promise<Record<string, string | undefined>> {
  const m = session.manifest;
  const rows = await mapBounded(m.nodes, m.access.parallelism, async (n) => {
    const r = await scvmFacts(n, session.connections, m.access.ssh.commandTimeoutSeconds * 1000);
    return [n.name, r.reachable ? r.facts.release : undefined] as const;
  });
  return Object.fromEntries(rows);
}

/** What the hosts said, before the verdicts (which also need the plan). */
export type PreflightFacts = Array<Omit<NodeFacts, 'firewallEnabledByPlan'>>;

/**
 * Runs the read-only execs on the given nodes (all by default). Never rejects:
 * a host that fails becomes an unreachable fact. Plan and apply start it
 * before they observe, so both run at once over the same connections.
 */
export async function gatherPreflight(session: ClusterSession, nodes?: string[]): Promise<PreflightFacts> {
  const m = session.manifest;
  const ctx = preflightContext(m);
  const timeoutMs = m.access.ssh.commandTimeoutSeconds * 1000;
  const wanted = m.nodes.filter((n) => !nodes || nodes.includes(n.name));
  return mapBounded(wanted, m.access.parallelism, async (n) => {
    const [e, s] = await Promise.all([
      esxiFacts(m, n, session.connections, ctx, timeoutMs).catch((err: unknown) => ({
        esxi: { reachable: false as const, reason: reason(err) },
        fetch: { skipped: 'preflight failed' },
        controllerNow: undefined,
      })),
      scvmFacts(n, session.connections, timeoutMs),
    ]);
    const nf: Omit<NodeFacts, 'firewallEnabledByPlan'> = {
      node: n.name,
      datastore: n.esxi.datastore,
      esxi: e.esxi,
      fetch: e.fetch,
      scvm: s,
    };
    if (e.controllerNow !== undefined) nf.controllerNow = e.controllerNow;
    return nf;
  });
}

/** The verdicts for gathered facts; `plan` tells which owned items apply fixes itself (the firewall ruleset). */
export function judgePreflight(manifest: Manifest, facts: PreflightFacts, plan: Plan | undefined, now: Date = new Date()): PreflightReport {
  const ctx = preflightContext(manifest);
  const ruleset = rulesetFor(ctx.sessionSource);
  const checks = preflightChecks(
    facts.map((f) => ({ ...f, firewallEnabledByPlan: planEnablesRuleset(plan, f.node, ruleset) })),
    ctx,
  );
  return {
    format: 'zbs-reroute/preflight-v1',
    cluster: manifest.clusterName,
    checkedAt: now.toISOString(),
    checks,
    skipped: [],
    summary: summarize(checks),
  };
}

/**
 * `reroute preflight`: gather, and a plan computed read-only alongside
 * (observe, the state folder's key or a placeholder; no key is created), then judge.
 */
export async function preflightCluster(
  session: ClusterSession,
  opts: { nodes?: string[]; now?: () => Date } = {},
): Promise<PreflightReport> {
  const m = session.manifest;
  checkNodeNames(
    m.clusterName,
    m.nodes.map((n) => n.name),
    { '--target': opts.nodes },
  );
  const now = opts.now ?? (() => new Date());
  const gathering = gatherPreflight(session, opts.nodes);
  const observed = await session.observe().finally(() => gathering);
  const key = offlineKeyInfo(m, session.stateDir, observed) ?? PENDING_KEY;
  const plan = session.planFrom(observed, key, { mode: 'apply', now: now() });
  return judgePreflight(m, await gathering, plan, now());
}

/** `--skip-check` names, validated: an unknown name is a typo, not an override. */
export function validateSkips(skip: string[] | undefined): string[] {
  const list = skip ?? [];
  const bad = list.filter((s) => !isCheckName(s));
  if (bad.length > 0)
    throw new RerouteError('USAGE', `unknown check name(s) for --skip-check: ${bad.join(', ')}`, `Use one of: ${CHECK_NAMES.join(', ')}.`);
  return list;
}

export function planPreflight(report: PreflightReport, skipped: string[] = []): PlanPreflight {
  return { checks: report.checks, summary: report.summary, ...(skipped.length ? { skipped } : {}) };
}

/** Apply's gate: PREFLIGHT_FAILED naming every failed host and check with its fix, unless skipped. */
export function refuseOnFailedChecks(checks: PreflightCheck[], skip: string[]): void {
  const blocking = blockingFailures(checks, skip);
  const [first] = blocking;
  if (!first) return;
  const lines = blocking.map((c) => `${c.host} ${c.name}: ${c.detail}`);
  const names = [...new Set(blocking.map((c) => c.name))];
  throw new RerouteError(
    'PREFLIGHT_FAILED',
    `preflight failed, nothing was changed:\n  ${lines.join('\n  ')}`,
    `${blocking.length === 1 ? first.fix : blocking.map((c) => `${c.host} ${c.name}: ${c.fix}`).join(' ')} Or override with ${names.map((n) => `--skip-check ${n}`).join(' ')} (recorded in the apply journal).`,
    { details: { failed: blocking } },
  );
}
