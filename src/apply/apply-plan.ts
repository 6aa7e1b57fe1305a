import { createHash } from 'node:crypto';
import {
  AGENT_LOOP_FILE,
  CRONTAB_PATH,
  LEASE_DIR,
  LOCAL_SH_PATH,
  PIN_FILE,
  SCVM_AUTHORIZED_KEYS,
  SCVM_ROOT_AUTHORIZED_KEYS,
} from '../agent/bundle-layout';
import { pinFileContent } from '../agent/host-entries';
import { RerouteError } from '../errors/reroute-error';
import type { Action, HostPlan, Plan } from '../plan/plan-types';
import type { RemoteHost } from '../remote/ssh-connection';
import { shellCommand } from '../core/shell-quote';
import type { ApplyEventSink, HostApplyResult } from './apply-events';
import { HOST_OP_EXIT, HostOp, hostOpCommand } from './host-op-command';
import { mapBounded } from './map-bounded';
import { refreshAddressCommand } from '../observe/zbs-session';
import { editCrontab as editLines, editLocalSh } from '../plan/text-edits';
import { keyLeaseDir, keyLeaseHeldError, keyLeaseHosts, keyLeaseTtlSeconds, planChangesClusterKey } from './cluster-key-lease';

/** Where apply records each step, so a re-run after a crash knows what was in flight. */
export interface ApplyJournalSink {
  record(entry: { node: string; host: string; index: number; op: string; state: 'started' | 'done' | 'failed'; error?: string }): void;
}

export interface ApplyDeps {
  /** One reused connection per host (the same pool observation used). */
  connect(hostPlan: HostPlan): Promise<RemoteHost>;
  /** Bytes of the cluster's private key, for `contentRef: reroute-private-key`. */
  privateKey(): Buffer;
  /** <install.runDir>/status on ESXi: the agent heartbeat (for `verify-agent`). */
  statusFile: string;
  /** The agent version the plan installs (`verify-agent` waits for it). */
  version: string;
  /** Text of esxi/apply/host-ops.sh. */
  hostOpsLibrary: string;
  events: ApplyEventSink;
  journal?: ApplyJournalSink;
  /** Who holds the host lease: `<user>@<machine>:<pid>`. */
  leaseOwner: string;
  leaseTtlSeconds: number;
  /** ESXi nodes where observation found a lease held by `leaseOwner` (left by a killed run). */
  ownLeftoverLeases?: ReadonlySet<string>;
  commandTimeoutMs: number;
  parallelism: number;
  /**
   * A plan that installs the cluster key or edits an SCVM key entry runs under the cluster key
   * lease (src/apply/cluster-key-lease.ts). `owner` names this run alone (with its pid: two
   * operators on one machine are two owners); `recheck` throws when the hosts' key state moved
   * since observation; `onLost` runs when this run loses (e.g. drops a keypair it created).
   */
  clusterKey?: { owner: string; recheck(): Promise<void>; onLost?(): void };
}

/**
 * Whether every ESXi release lets httpClient/sshClient's allowed-IP list be changed is not
 * documented (8.0.2's API has a per-ruleset ipListUserConfigurable flag): the way out.
 */
const FIREWALL_FIX =
  'ESXi refused the firewall change (see the message). If this release does not let the ruleset be limited to addresses, enable it by hand for all IPs (esxcli network firewall ruleset set -r NAME -e true) and run `reroute apply` again: a ruleset already enabled for all IPs is left as it is.';

const CRONTAB_MODE = '0600';
// ESXi marks /etc files that auto-backup saves with the sticky bit.
const LOCAL_SH_MODE = '1755';
const AUTHORIZED_KEYS_MODE = '0600';

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function describeError(err: unknown): { code: string; message: string; fix: string } {
  if (err instanceof RerouteError) return { code: err.code, message: err.message, fix: err.fix };
  return {
    code: 'INTERNAL',
    message: err instanceof Error ? err.message : String(err),
    fix: 'This is a bug in zbs-reroute; please report it.',
  };
}

class HostRunner {
  constructor(
    private readonly remote: RemoteHost,
    private readonly hostPlan: HostPlan,
    private readonly deps: ApplyDeps,
  ) {}

  private get sudo(): boolean {
    return this.hostPlan.host === 'scvm';
  }

  /** `asLoginUser`: run as the SCVM operator user itself (its own authorized_keys), not through sudo. */
  async run(
    ops: HostOp[],
    what: string,
    stdin?: string | Buffer,
    timeoutMs = this.deps.commandTimeoutMs,
    asLoginUser = false,
  ): Promise<void> {
    const cmd = hostOpCommand(this.deps.hostOpsLibrary, ops, { sudo: this.sudo && !asLoginUser });
    const r = await this.remote.exec(cmd, { stdin, timeoutMs });
    if (r.code === 0) return;
    const meaning = r.code !== null ? HOST_OP_EXIT[r.code] : undefined;
    const stderr = r.stderr.trim().split('\n').slice(-3).join('; ');
    const code = r.code === 13 ? 'LEASE_HELD' : 'REMOTE_COMMAND_FAILED';
    throw new RerouteError(
      code,
      `${this.hostPlan.node} (${this.hostPlan.host}): ${what} failed${meaning ? ` — ${meaning}` : ''}${stderr ? `: ${stderr}` : ''}`,
      r.code === 12
        ? 'Run `reroute plan` again: the host changed while applying.'
        : r.code === 17
          ? FIREWALL_FIX
          : 'Fix the cause on the host (see the message) and run `reroute apply` again; it resumes where it stopped.',
      { details: { node: this.hostPlan.node, exitCode: r.code } },
    );
  }

  /** Read a shared text file ('' when absent) as the remote user sees it. */
  async read(path: string, asLoginUser = false): Promise<string> {
    const inner = `if [ -f ${shellCommand([path])} ]; then cat ${shellCommand([path])}; fi`;
    const cmd = this.sudo && !asLoginUser ? `sudo -n /bin/sh -c ${shellCommand([inner])}` : inner;
    const r = await this.remote.exec(cmd, { timeoutMs: this.deps.commandTimeoutMs, maxOutputBytes: 4 * 1024 * 1024 });
    if (r.code !== 0) {
      throw new RerouteError(
        'REMOTE_COMMAND_FAILED',
        `${this.hostPlan.node}: cannot read ${path}: ${r.stderr.trim()}`,
        this.sudo ? 'Check that the SCVM operator user may run sudo without a password prompt (sudo -n).' : 'Check the host.',
      );
    }
    return r.stdout;
  }

  /** Read-modify-write with compare-and-swap: foreign edits in between make it fail, never get lost. */
  async editShared(
    path: string,
    mode: string,
    edit: (text: string) => string,
    what: string,
    opts: { inPlace?: boolean; asLoginUser?: boolean } = {},
  ): Promise<{ before: string; after: string } | undefined> {
    const before = await this.read(path, opts.asLoginUser === true);
    const after = edit(before);
    if (after === before) return undefined;
    const expected = before === '' ? 'absent' : sha256(before);
    // ESXi /etc files are rewritten in place: a renamed-in file loses the sticky bit auto-backup saves by.
    await this.run(
      [[opts.inPlace === true ? 'zr_cas_rewrite' : 'zr_cas_write', path, expected, mode, sha256(after)]],
      what,
      after,
      undefined,
      opts.asLoginUser === true,
    );
    return { before, after };
  }

  /** The local.sh edit this run made and has not yet persisted with auto-backup. */
  private unsavedLocalSh: { before: string; after: string } | undefined;

  /**
   * auto-backup failed: put local.sh back as it was, so the host is left in
   * the old state (which the next plan sees and redoes) rather than in one
   * that looks right and is lost at the next reboot.
   */
  private async revertUnsavedLocalSh(err: unknown): Promise<never> {
    const edit = this.unsavedLocalSh;
    if (!edit || !(err instanceof RerouteError)) throw err;
    this.unsavedLocalSh = undefined;
    const ops: HostOp[] =
      edit.before === ''
        ? [['zr_cas_delete', LOCAL_SH_PATH, sha256(edit.after)]]
        : [['zr_cas_rewrite', LOCAL_SH_PATH, sha256(edit.after), LOCAL_SH_MODE, sha256(edit.before)]];
    let outcome = 'local.sh was put back as it was, so the next apply redoes the edit';
    try {
      await this.run(ops, 'restoring /etc/rc.local.d/local.sh', edit.before === '' ? undefined : edit.before);
    } catch (revertErr) {
      outcome = `restoring local.sh failed too (${revertErr instanceof Error ? revertErr.message : String(revertErr)}): it holds the new block, which a reboot loses until auto-backup runs`;
    }
    throw new RerouteError(err.code, `${err.message}; ${outcome}`, err.fix, { details: err.details, cause: err });
  }

  /**
   * One firewall ruleset change, in one exec: our firewall.prior record (compare-and-swap on
   * its observed hash) before the esxcli steps when it grows, after them when it shrinks, so
   * the state to restore is on disk before anything changes and until it is back.
   */
  private async firewall(a: Extract<Action, { op: 'firewall-ruleset' }>): Promise<void> {
    const fw: HostOp[] = a.steps.length > 0 ? [['zr_fw_ruleset', a.ruleset, ...a.steps]] : [];
    const r = a.record;
    let record: HostOp[] = [];
    let stdin: string | undefined;
    if (r !== undefined && r.content !== undefined && r.sha256 !== undefined) {
      if (sha256(r.content) !== r.sha256)
        throw new RerouteError(
          'PLAN_STALE',
          `content for ${r.path} does not match the plan`,
          'The plan file was edited: run `reroute plan` again.',
        );
      record = [['zr_cas_write', r.path, r.beforeSha256, '0600', r.sha256]];
      stdin = r.content;
    } else if (r !== undefined) {
      record = [['zr_cas_delete', r.path, r.beforeSha256]];
    }
    const ops = r?.when === 'after' ? [...fw, ...record] : [...record, ...fw];
    if (ops.length === 0) return;
    await this.run(ops, `changing firewall ruleset ${a.ruleset}`, stdin);
  }

  private loopPath(): string {
    return `${this.installDir()}/${AGENT_LOOP_FILE}`;
  }

  /** SCVM: `zbs-meta session refresh_address` as the operator through sudo -n; an unknown (changed) id fails with a re-plan hint. */
  private async registerSessionClients(sessionId: string, clientIps: string[]): Promise<void> {
    const r = await this.remote.exec(refreshAddressCommand({ sudo: this.sudo }, sessionId, clientIps), {
      timeoutMs: this.deps.commandTimeoutMs,
    });
    if (r.code === 0) return;
    const stderr = r.stderr.trim().split('\n').slice(-3).join('; ');
    const gone = /not found|ENotFound|no such session/i.test(stderr);
    throw new RerouteError(
      'REMOTE_COMMAND_FAILED',
      `${this.hostPlan.node} (scvm): registering ${clientIps.join(',')} in ZBS session ${sessionId} failed${stderr ? `: ${stderr}` : ''}`,
      gone
        ? "The session id changed (the SCVM's access service restarted): run `reroute plan` and apply again."
        : 'Check that zbs-meta works for the SCVM operator user through sudo -n, then apply again.',
      { details: { node: this.hostPlan.node, exitCode: r.code } },
    );
  }

  installDir(): string {
    if (!this.hostPlan.installDir)
      throw new RerouteError(
        'PLAN_INVALID',
        `host plan for ${this.hostPlan.node} has no install dir`,
        'Re-create the plan with `reroute plan`.',
      );
    return this.hostPlan.installDir;
  }

  async action(a: Action): Promise<void> {
    switch (a.op) {
      case 'mkdir':
        return this.run([['zr_mkdir', a.path, a.mode]], `creating ${a.path}`);
      case 'write-file': {
        const bytes = a.contentRef === 'reroute-private-key' ? this.deps.privateKey() : Buffer.from(a.content ?? '', 'utf8');
        if (sha256(bytes) !== a.sha256) {
          throw new RerouteError(
            'PLAN_STALE',
            `content for ${a.path} does not match the plan (hash ${sha256(bytes).slice(0, 12)}…, plan ${a.sha256.slice(0, 12)}…)`,
            a.contentRef
              ? 'The cluster keypair in the state folder changed since the plan was made: run `reroute plan` again.'
              : 'The plan file was edited: run `reroute plan` again.',
          );
        }
        return this.run([['zr_write_file', a.path, a.mode, a.sha256]], `writing ${a.path}`, bytes);
      }
      case 'delete-file':
        return this.run([['zr_delete_file', a.path]], `deleting ${a.path}`);
      case 'remove-dir':
        return a.recursive
          ? this.run([['zr_remove_dir', a.path]], `removing ${a.path}`)
          : this.run([['zr_rmdir', a.path]], `removing ${a.path}`);
      case 'verify-agent':
        return this.run(
          [['zr_wait_heartbeat', this.deps.statusFile, this.deps.version, String(a.timeoutSeconds)]],
          'waiting for the new agent',
          undefined,
          (a.timeoutSeconds + 30) * 1000,
        );
      case 'edit-crontab':
        await this.editShared(CRONTAB_PATH, CRONTAB_MODE, (t) => editLines(t, a.remove, a.add), 'editing the root crontab');
        return;
      case 'reload-crond':
        return this.run([['zr_reload_crond']], 'reloading crond');
      case 'edit-local-sh':
        this.unsavedLocalSh = await this.editShared(
          LOCAL_SH_PATH,
          LOCAL_SH_MODE,
          (t) => editLocalSh(t, a.block, a.removeLines),
          'editing /etc/rc.local.d/local.sh',
          { inPlace: true },
        );
        return;
      case 'auto-backup':
        await this.run([['zr_auto_backup']], 'running /sbin/auto-backup.sh').catch((err: unknown) => this.revertUnsavedLocalSh(err));
        this.unsavedLocalSh = undefined;
        return;
      case 'restart-agent':
        return this.run(
          [
            ['zr_stop_agent', this.loopPath()],
            ['zr_start_agent', this.loopPath()],
          ],
          'restarting the agent',
        );
      case 'stop-agent':
        return this.run([['zr_stop_agent', ...a.match]], 'stopping agent processes');
      case 'start-agent':
        return this.run([['zr_start_agent', this.loopPath()]], 'starting the agent');
      case 'write-pin': {
        const content = pinFileContent(a.target);
        return this.run(
          [['zr_write_file', a.path ?? `${this.installDir()}/${PIN_FILE}`, '0600', sha256(content)]],
          `draining IO to ${a.targetNode}`,
          content,
        );
      }
      case 'remove-pin':
        return this.run([['zr_delete_file', a.path ?? `${this.installDir()}/${PIN_FILE}`]], 'removing the drain pin');
      case 'delete-route':
        return this.run(
          [['zr_delete_route', `${a.network}/${a.prefixLength}`, a.gateway, ...(a.orVia ?? [])]],
          `deleting route ${a.network}/${a.prefixLength} via ${a.gateway}`,
        );
      case 'firewall-ruleset':
        return this.firewall(a);
      case 'register-session-clients':
        return this.registerSessionClients(a.sessionId, a.clientIps);
      case 'authorized-key-add':
        // The operator user's own ~/.ssh, written as that user: sshd wants them owned by it.
        await this.run([['zr_mkdir', '.ssh', '0700']], 'creating ~/.ssh', undefined, undefined, true);
        await this.editShared(
          SCVM_AUTHORIZED_KEYS,
          AUTHORIZED_KEYS_MODE,
          (t) => editLines(t, [], [a.entry]),
          'adding the reroute key to ~/.ssh/authorized_keys',
          { asLoginUser: true },
        );
        return;
      case 'authorized-key-remove':
        if (a.file === 'root') {
          await this.editShared(
            SCVM_ROOT_AUTHORIZED_KEYS,
            AUTHORIZED_KEYS_MODE,
            (t) => editLines(t, [a.entry], []),
            "removing the old reroute key from root's authorized_keys",
          );
          return;
        }
        await this.editShared(
          SCVM_AUTHORIZED_KEYS,
          AUTHORIZED_KEYS_MODE,
          (t) => editLines(t, [a.entry], []),
          'removing the reroute key from ~/.ssh/authorized_keys',
          { asLoginUser: true },
        );
        return;
      default: {
        // Compile-time exhaustiveness: a new action type must be taught to apply, never skipped.
        const unknown: never = a;
        throw new RerouteError(
          'PLAN_INVALID',
          `unknown action ${JSON.stringify(unknown)}`,
          'Re-create the plan with this release of zbs-reroute.',
        );
      }
    }
  }
}

async function applyHost(hostPlan: HostPlan, deps: ApplyDeps): Promise<HostApplyResult> {
  const base = { node: hostPlan.node, host: hostPlan.host, actionsTotal: hostPlan.actions.length };
  if (hostPlan.change === 'unreachable') {
    deps.events({ type: 'host-skipped', node: hostPlan.node, host: hostPlan.host, reason: hostPlan.unreachableReason ?? 'unreachable' });
    return {
      ...base,
      status: 'skipped',
      actionsDone: 0,
      error: {
        code: 'HOST_UNREACHABLE',
        message: hostPlan.unreachableReason ?? 'unreachable',
        fix: 'Bring the host back and re-run apply.',
      },
    };
  }
  if (hostPlan.actions.length === 0) {
    // A run killed mid-apply leaves its lease behind; where nothing else is to be done,
    // ours is released now instead of blocking other operators until it expires.
    if (hostPlan.host === 'esxi' && hostPlan.installDir && deps.ownLeftoverLeases?.has(hostPlan.node)) {
      try {
        const remote = await deps.connect(hostPlan);
        await new HostRunner(remote, hostPlan, deps).run(
          [['zr_lease_release', `${hostPlan.installDir}/${LEASE_DIR}`, deps.leaseOwner]],
          'releasing a leftover host lease',
        );
      } catch (err) {
        deps.events({ type: 'host-failed', node: hostPlan.node, host: hostPlan.host, error: describeError(err) });
        return { ...base, status: 'failed', actionsDone: 0, error: describeError(err) };
      }
    }
    return { ...base, status: 'unchanged', actionsDone: 0 };
  }
  deps.events({ type: 'host-start', node: hostPlan.node, host: hostPlan.host, actions: hostPlan.actions.length });
  let done = 0;
  let leaseDir: string | undefined;
  let runner: HostRunner | undefined;
  try {
    const remote = await deps.connect(hostPlan);
    runner = new HostRunner(remote, hostPlan, deps);
    if (hostPlan.host === 'esxi') {
      // The lease lives in our install dir; a fresh host gets the dir first.
      const dir = runner.installDir();
      leaseDir = `${dir}/${LEASE_DIR}`;
      const [owner, pid] = [deps.leaseOwner, String(process.pid)];
      await runner.run(
        [
          ['zr_mkdir', dir, '0700'],
          ['zr_lease_take', leaseDir, owner, pid, String(deps.leaseTtlSeconds)],
        ],
        'taking the host lease',
      );
    }
    for (const [index, action] of hostPlan.actions.entries()) {
      deps.events({ type: 'action-start', node: hostPlan.node, host: hostPlan.host, index, action });
      deps.journal?.record({ node: hostPlan.node, host: hostPlan.host, index, op: action.op, state: 'started' });
      try {
        await runner.action(action);
      } catch (err) {
        deps.journal?.record({
          node: hostPlan.node,
          host: hostPlan.host,
          index,
          op: action.op,
          state: 'failed',
          error: describeError(err).message,
        });
        throw err;
      }
      deps.journal?.record({ node: hostPlan.node, host: hostPlan.host, index, op: action.op, state: 'done' });
      deps.events({ type: 'action-done', node: hostPlan.node, host: hostPlan.host, index, action });
      done++;
    }
    deps.events({ type: 'host-done', node: hostPlan.node, host: hostPlan.host });
    return { ...base, status: 'applied', actionsDone: done };
  } catch (err) {
    const error = describeError(err);
    deps.events({ type: 'host-failed', node: hostPlan.node, host: hostPlan.host, error });
    return { ...base, status: 'failed', actionsDone: done, error };
  } finally {
    if (runner && leaseDir) {
      // A removed install dir (teardown) takes the lease with it; release is then a no-op.
      await runner.run([['zr_lease_release', leaseDir, deps.leaseOwner]], 'releasing the host lease').catch((err: unknown) => {
        deps.events({ type: 'host-failed', node: hostPlan.node, host: hostPlan.host, error: describeError(err) });
      });
    }
  }
}

/**
 * Carry out a plan. SCVM key entries go first (a new agent must be able to log
 * in to fetch sessions over ssh), then ESXi hosts in parallel. A failing host
 * never stops the others; each host's result says how far it got.
 */
export async function applyPlan(plan: Plan, deps: ApplyDeps): Promise<HostApplyResult[]> {
  const scvm = plan.hosts.filter((h) => h.host === 'scvm');
  const esxi = plan.hosts.filter((h) => h.host === 'esxi');
  const held = deps.clusterKey !== undefined && planChangesClusterKey(plan) ? await takeKeyLease(plan, deps, deps.clusterKey) : [];
  try {
    const first = await mapBounded(scvm, deps.parallelism, (h) => applyHost(h, deps));
    const second = await mapBounded(esxi, deps.parallelism, (h) => applyHost(h, deps));
    return [...first, ...second];
  } finally {
    await releaseKeyLease(held, deps);
  }
}

/**
 * Take the cluster key lease on every reachable ESXi host in manifest order, then re-check the
 * key state. On any refusal: release what was taken, run onLost, throw (nothing else changed).
 */
async function takeKeyLease(
  plan: Plan,
  deps: ApplyDeps,
  key: NonNullable<ApplyDeps['clusterKey']>,
): Promise<{ h: HostPlan; runner: HostRunner }[]> {
  const hosts = keyLeaseHosts(plan);
  const ttl = keyLeaseTtlSeconds(deps.leaseTtlSeconds, hosts.length, deps.parallelism);
  const held: { h: HostPlan; runner: HostRunner }[] = [];
  try {
    for (const h of hosts) {
      const runner = new HostRunner(await deps.connect(h), h, deps);
      try {
        await runner.run(
          [
            ['zr_mkdir', runner.installDir(), '0700'],
            ['zr_lease_take', keyLeaseDir(h), key.owner, String(process.pid), String(ttl)],
          ],
          'taking the cluster key lease',
        );
      } catch (err) {
        if (err instanceof RerouteError && err.code === 'LEASE_HELD')
          throw keyLeaseHeldError(h.node, /held by (.*)$/.exec(err.message)?.[1] ?? err.message);
        throw err;
      }
      held.push({ h, runner });
    }
    await key.recheck();
    return held;
  } catch (err) {
    await releaseKeyLease(held, { ...deps, clusterKey: key });
    key.onLost?.();
    throw err;
  }
}

async function releaseKeyLease(held: { h: HostPlan; runner: HostRunner }[], deps: ApplyDeps): Promise<void> {
  const owner = deps.clusterKey?.owner;
  if (owner === undefined) return;
  for (const { h, runner } of held) {
    await runner.run([['zr_lease_release', keyLeaseDir(h), owner]], 'releasing the cluster key lease').catch((err: unknown) => {
      deps.events({ type: 'host-failed', node: h.node, host: h.host, error: describeError(err) });
    });
  }
}
