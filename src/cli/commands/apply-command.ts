import * as fs from 'node:fs';
import Table from 'cli-table3';
import deepEqual from 'fast-deep-equal';
import type { HostApplyResult } from '../../apply/apply-events';
import { applyPlan } from '../../apply/apply-plan';
import { verifyHosts } from '../../apply/verify-cluster';
import type { HostVerification } from '../../apply/verify-host';
import { APPLY_OUTCOME_EXIT, applyOutcome, applySummary, verdictCell } from './apply-outcome';
import { applyDepsFor } from '../../engine/apply-deps';
import { clusterKeyLeaseFor } from '../../engine/cluster-key-guard';
import { refuseNfsDatastores } from '../../engine/datastore-refusal';
import { gatherPreflight, judgePreflight, planPreflight, refuseOnFailedChecks, validateSkips } from '../../engine/preflight';
import type { PreflightOverride } from '../../state/apply-journal';
import { observeConnect } from '../../engine/observe-connect';
import { manifestSha256, type ClusterSession } from '../../engine/cluster-session';
import { RerouteError } from '../../errors/reroute-error';
import { sanitizeForDisplay } from '../../observe/sanitize';
import type { ObservedCluster } from '../../observe/observed-types';
import { planHasChanges } from '../../plan/plan-cluster';
import { refusedSummary } from '../../plan/plan-destroy';
import type { Plan, PlanMode } from '../../plan/plan-types';
import { renderPlanText } from '../../plan/render-plan-text';
import type { ClusterKeypair } from '../../state/cluster-keypair';
import { ApplyJournal } from '../../state/apply-journal';
import { acquireStateLock } from '../../state/state-lock';
import { EXIT_ERROR, EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { applyProgress, observeProgress } from '../progress';
import { destroyOptions } from './plan-command';
import { openSession } from './session-options';

export interface ApplyCommandOptions {
  file: string;
  planFile?: string;
  autoApprove?: boolean;
  target?: string[];
  /** `--target-only`: the named nodes alone (src/plan/plan-targets.ts). */
  targetOnly?: boolean;
  stateDir: string;
  acceptNewHostKey?: string[];
  /** Skip the post-apply verification (not recommended; for scripted partial runs). */
  verify?: boolean;
  mode: PlanMode;
  commandLine: string;
  /** Preflight checks to go ahead on although they fail (recorded in the journal). */
  skipCheck?: string[];
  /** destroy: also delete this cluster's routes on hosts their healthy local SCVM serves. */
  removeRoutes?: boolean;
  /** destroy: tear these nodes down although refused (agent stopped, files removed, routes left as they are). */
  forceHost?: string[];
}

export function readSavedPlan(file: string): Plan {
  let plan: Plan;
  try {
    plan = JSON.parse(fs.readFileSync(file, 'utf8')) as Plan;
  } catch (err) {
    throw new RerouteError('PLAN_INVALID', `${file}: not a readable plan (${(err as Error).message})`, 'Create it with `reroute plan -f MANIFEST --out FILE`.');
  }
  if ((plan?.format as string) === 'zbs-reroute/plan-v1') {
    throw new RerouteError('PLAN_INVALID', `${file}: a plan-v1 file, made by an older zbs-reroute (its reasons are text, not data)`, 'Plan again with this version: `reroute plan -f MANIFEST --out FILE`.');
  }
  if (plan?.format !== 'zbs-reroute/plan-v2' || !Array.isArray(plan.hosts)) {
    throw new RerouteError('PLAN_INVALID', `${file}: not a zbs-reroute plan`, 'Create it with `reroute plan -f MANIFEST --out FILE`.');
  }
  // The freshness check reads these fields; a hand-edited host entry without them is refused, not a crash.
  const bad = plan.hosts.findIndex((h: unknown) => {
    const x = h as Record<string, unknown> | null;
    return typeof x !== 'object' || x === null || typeof x.node !== 'string' || typeof x.host !== 'string' || typeof x.observedFingerprint !== 'string' || !Array.isArray(x.actions);
  });
  if (bad >= 0) {
    throw new RerouteError('PLAN_INVALID', `${file}: hosts[${bad}] is not a host plan (edited by hand?)`, 'Create it with `reroute plan -f MANIFEST --out FILE`.');
  }
  return plan;
}

/**
 * A saved plan is only safe while the hosts still look as they did when it was
 * made: every host's observation fingerprint must match, and so must the manifest.
 */
export function checkSavedPlanFresh(saved: Plan, fresh: Plan): void {
  if (saved.manifestSha256 !== fresh.manifestSha256) {
    throw new RerouteError('PLAN_STALE', 'the manifest changed since the plan was saved', 'Run `reroute plan --out FILE` again and apply the new plan.');
  }
  const changed = saved.hosts.filter((h) => fresh.hosts.find((f) => f.node === h.node && f.host === h.host)?.observedFingerprint !== h.observedFingerprint);
  if (changed.length > 0 || saved.hosts.length !== fresh.hosts.length) {
    throw new RerouteError('PLAN_STALE', `the hosts changed since the plan was saved: ${changed.map((h) => `${h.node} (${h.host})`).join(', ') || 'host list differs'}`, 'Run `reroute plan --out FILE` again and apply the new plan.');
  }
  // Compared as data, not text: a plan file that went through jq or an editor keeps its meaning when
  // key order or spacing changes; the fresh plan goes through JSON once, as the saved one did.
  if (!deepEqual(saved.hosts, JSON.parse(JSON.stringify(fresh.hosts)))) {
    throw new RerouteError('PLAN_STALE', 'the saved plan does not match what the planner computes now (edited by hand, or made by another release)', 'Run `reroute plan --out FILE` again and apply the new plan.');
  }
}

function resultTable(io: IoHost, results: HostApplyResult[], verifications: HostVerification[]): string {
  const table = new Table({ head: ['node', 'host', 'result', 'actions', 'verification'], style: { head: io.color ? ['bold'] : [], border: [] } });
  for (const r of results) {
    const v = r.host === 'esxi' ? verifications.find((x) => x.node === r.node) : undefined;
    const verdict = v ? verdictCell(v) : '-';
    const result = r.error ? `${r.status}: ${r.error.message}` : r.status;
    table.push([r.node, r.host, sanitizeForDisplay(result, { multiline: false, maxLength: 160 }), `${r.actionsDone}/${r.actionsTotal}`, sanitizeForDisplay(verdict, { multiline: false, maxLength: 160 })]);
  }
  return table.toString();
}

export async function runApply(io: IoHost, opts: ApplyCommandOptions): Promise<number> {
  const lock = acquireStateLock(opts.stateDir, { command: opts.commandLine, onWarning: (m) => io.warn(m) });
  const journal = ApplyJournal.open(opts.stateDir);
  const incomplete = journal.lastIncompleteRun();
  if (incomplete) io.warn(`the previous run (${incomplete.runId}) did not finish; hosts are re-observed, so this run picks up where it stopped`);
  let session: ClusterSession | undefined;
  let gathering: ReturnType<typeof gatherPreflight> | undefined;
  try {
    // An unreadable or foreign plan file is refused before any host is contacted.
    const saved = opts.planFile ? readSavedPlan(opts.planFile) : undefined;
    const skip = validateSkips(opts.skipCheck);
    session = await openSession(io, { ...opts, anyVersion: opts.mode === 'destroy' });
    io.info(`Observing ${session.manifest.nodes.length} node(s) of cluster ${session.manifest.clusterName}…`);
    // Preflight's execs run while the hosts are observed (teardown needs no checks).
    gathering = opts.mode === 'apply' ? gatherPreflight(session, opts.target) : undefined;
    // A saved targeted plan is re-planned with its own targets, or it could never match.
    const targets = opts.target ?? saved?.targets?.requested;
    const { plan, observed, keypair } = await session.plan({ mode: opts.mode, targets, targetOnly: opts.targetOnly ?? saved?.targets?.only, ...(opts.mode === 'destroy' ? { destroy: destroyOptions(opts) } : {}), onEvent: observeProgress(io) });
    if (saved) checkSavedPlanFresh(saved, plan);
    if (plan.manifestSha256 !== manifestSha256(session.manifest)) throw new RerouteError('INTERNAL', 'plan/manifest mismatch', 'Report this bug.');
    // Preflight on every install or update (teardown needs none): shown above the actions, and a failed check stops the run before any change.
    let override: PreflightOverride | undefined;
    if (gathering) {
      const report = judgePreflight(session.manifest, await gathering, plan);
      plan.preflight = planPreflight(report, skip);
      // An agent on an NFS datastore: refused whatever --skip-check says (src/plan/datastore-guard.ts).
      if ((plan.datastoreRefusals ?? []).length > 0) refuseAfterShowing(io, plan, () => refuseNfsDatastores(plan, opts.file));
      if (planHasChanges(plan)) refuseOnFailedChecksAfterShowing(io, plan, report.checks, skip);
      const overridden = report.checks.filter((c) => c.status === 'fail' && skip.includes(c.name)).map((c) => `${c.host} ${c.name}: ${c.detail}`);
      if (skip.length > 0) override = { skipped: skip, overridden };
    }
    io.info(renderPlanText(plan, { color: io.color }));
    if (!planHasChanges(plan)) {
      // A refused host is left as it is on purpose, and that is no success either (after the others were cleaned).
      if (opts.mode === 'destroy' && refusedSummary(plan.hosts).length > 0) {
        io.result(destroyRefusedText(plan), { ok: false, changes: false, refused: refusedHosts(plan), plan });
        return EXIT_ERROR;
      }
      // Hosts that could not be observed may well need changes: that is no success to report.
      const unseen = plan.hosts.filter((h) => h.change === 'unreachable');
      if (unseen.length > 0) {
        const list = unseen.map((h) => `${h.node} (${h.host})`).join(', ');
        io.result(`No changes on the reachable hosts, but ${unseen.length} host(s) could not be observed: ${list}. Run ${opts.mode} again when they are back.`, { ok: false, changes: false, unreachable: unseen.map((h) => ({ node: h.node, host: h.host, reason: h.unreachableReason })), plan });
        return EXIT_ERROR;
      }
      io.result(`No changes. Nothing to ${opts.mode === 'destroy' ? 'destroy' : 'apply'}.`, { ok: true, changes: false, plan });
      return EXIT_OK;
    }
    if (!opts.autoApprove && !opts.planFile) {
      const ok = await io.confirm(`Do you want to ${opts.mode === 'destroy' ? 'remove zbs-reroute from these hosts' : 'perform these actions'}?`);
      if (!ok) throw new RerouteError('USAGE', 'apply cancelled: not confirmed', 'Answer `yes` at the prompt, or pass --auto-approve in scripts.');
    }
    return await execute(io, session, plan, observed, keypair, journal, opts, override);
  } finally {
    // Preflight never rejects; it must finish before the pool closes, or it could dial a connection nobody closes.
    await gathering?.catch(() => undefined);
    await session?.close();
    lock.release();
  }
}

/** The plan (checks, notes, warnings) is shown before a refusal ends the run. */
function refuseAfterShowing(io: IoHost, plan: Plan, refuse: () => void): void {
  try {
    refuse();
  } catch (err) {
    io.info(renderPlanText(plan, { color: io.color }));
    throw err;
  }
}

function refusedHosts(plan: Plan): { node: string; code?: string; detail?: string; fix?: string }[] {
  return plan.hosts.filter((h) => h.change === 'refused').map((h) => ({ node: h.node, code: h.routeDecision?.code, detail: h.routeDecision?.detail, fix: h.routeDecision?.fix }));
}

/** Destroy's own words for refused hosts: which, why, and how to go on. */
function destroyRefusedText(plan: Plan): string {
  const lines = refusedSummary(plan.hosts);
  const names = plan.hosts.filter((h) => h.change === 'refused').map((h) => h.node);
  return `${names.length} host(s) refused and left exactly as they are (routes included): ${names.join(', ')}.\n${lines.map((l) => sanitizeForDisplay(l, { multiline: true, maxLength: 800 })).join('\n')}`;
}

/** The operator sees the checks (and the plan) before the refusal says which failed. */
function refuseOnFailedChecksAfterShowing(io: IoHost, plan: Plan, checks: Parameters<typeof refuseOnFailedChecks>[0], skip: string[]): void {
  try {
    refuseOnFailedChecks(checks, skip);
  } catch (err) {
    io.info(renderPlanText(plan, { color: io.color }));
    throw err;
  }
}

async function execute(io: IoHost, session: ClusterSession, plan: Plan, observed: ObservedCluster, keypair: ClusterKeypair | undefined, journal: ApplyJournal, opts: ApplyCommandOptions, preflight?: PreflightOverride): Promise<number> {
  const manifest = session.manifest;
  const run = journal.startRun({ command: opts.commandLine, nodes: plan.hosts.filter((h) => h.actions.length > 0).map((h) => h.node), ...(preflight ? { preflight } : {}) });
  let outcome: 'ok' | 'failed' = 'failed';
  try {
    io.info(opts.mode === 'destroy' ? 'Destroying…' : 'Applying…');
    const deps = applyDepsFor({ manifest, version: plan.version, connections: session.connections, keypair, events: applyProgress(io), journal: run });
    const ownLeftoverLeases = new Set(Object.entries(observed.esxi).flatMap(([node, o]) => (o.reachable && o.lease?.owner === deps.leaseOwner ? [node] : [])));
    // Key installs and SCVM key edits run under the cluster key lease (one identity, whoever applies).
    const results = await applyPlan(plan, { ...deps, ownLeftoverLeases, clusterKey: clusterKeyLeaseFor(session, observed, deps.leaseOwner) });
    let verifications: HostVerification[] = [];
    const toVerify = opts.mode === 'apply' && opts.verify !== false ? results.filter((r) => r.host === 'esxi' && r.status === 'applied') : [];
    if (toVerify.length > 0) {
      io.info(`Verifying ${toVerify.length} host(s)…`);
      verifications = await verifyHosts(
        manifest,
        toVerify.map((r) => {
          const o = observed.esxi[r.node];
          return { node: r.node, since: o && o.reachable ? o.now : 0 };
        }),
        {
          connect: observeConnect(session.connections),
          esxi: (node) => session.connections.get({ kind: 'esxi', node, address: manifest.nodes.find((n) => n.name === node)?.esxi.address ?? '' }),
          sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
          nowMs: () => Date.now(),
          onProgress: (m) => io.info(m),
        },
        { timeoutMs: Math.max(45, 10 * manifest.routing.intervalSeconds) * 1000 },
      );
    }
    const failed = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
    const refused = opts.mode === 'destroy' ? refusedHosts(plan) : [];
    const changed = results.filter((r) => r.status === 'applied').length;
    // apply: the worst verdict decides (exit-codes.ts APPLY_EXIT_CODES); destroy: ok or not.
    const applied = opts.mode === 'apply' ? applyOutcome(failed.length, verifications) : undefined;
    const ok = applied !== undefined ? applied === 'ok' || applied === 'warnings' : failed.length === 0 && refused.length === 0;
    outcome = ok ? 'ok' : 'failed';
    const exitCode = applied !== undefined ? APPLY_OUTCOME_EXIT[applied] : ok ? EXIT_OK : EXIT_ERROR;
    const summary =
      applied !== undefined
        ? sanitizeForDisplay(applySummary(applied, changed, failed.length, verifications), { multiline: true, maxLength: 4000 })
        : ok
          ? `Destroy complete: ${changed} host(s) cleaned.`
          : [
              failed.length > 0 ? `Destroy finished with problems: ${changed} host(s) cleaned, ${failed.length} failed or skipped; fix them and run destroy again: it converges.` : `Destroy finished: ${changed} host(s) cleaned.`,
              ...(refused.length > 0 ? [destroyRefusedText(plan)] : []),
            ].join('\n');
    // Coded findings (a blind agent) in full below the table, whose cells are cut at 160 characters.
    const coded = verifications.flatMap((v) => (v.findings ?? []).map((f) => sanitizeForDisplay(`${v.node}: ${f.code}: ${f.message}\n  fix: ${f.fix}`, { multiline: true, maxLength: 800 })));
    io.result(`${resultTable(io, results, verifications)}\n${summary}${coded.length > 0 ? `\n${coded.join('\n')}` : ''}`, { ok, ...(applied !== undefined ? { outcome: applied } : {}), exitCode, results, verifications, ...(refused.length > 0 ? { refused } : {}) });
    return exitCode;
  } finally {
    run.end(outcome);
  }
}
