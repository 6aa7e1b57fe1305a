/**
 * The verdicts: facts read from each host → PreflightCheck[]. Pure (the
 * controller's clock is an input). Policy (src/preflight/preflight-types.ts):
 * fail only on positive evidence, warn when a check could not be made or
 * apply fixes the problem itself.
 */
import { findVolume, isNfsType, isVmfsDatastore } from '../observe/datastore-output';
import { compareVersions, parseSmtxRelease } from '../observe/esxi-tables';
import type { EsxiFacts, FetchOnce, ScvmFacts } from './parse-preflight-output';
import type { CheckName, CheckStatus, PreflightCheck } from './preflight-types';
import type { RequiredCommand } from './required-commands';

export interface PreflightContext {
  nfsAddress: string;
  sessionSource: 'rest' | 'ssh';
  /** SSH_USER of the rendered agent conf (src/agent/agent-conf.ts). */
  agentSshUser: string;
  operatorUser: string;
  /** Every SCVM of the manifest: the session list must name their storage IPs. */
  scvms: Array<{ node: string; storageIp: string }>;
  required: RequiredCommand[];
}

export type Reached<T> = { reachable: true; facts: T } | { reachable: false; reason: string };

export interface NodeFacts {
  node: string;
  datastore: string;
  esxi: Reached<EsxiFacts>;
  /** Controller clock (epoch s) halfway through the preflight exec. */
  controllerNow?: number;
  /** The agent's own session fetch; `skipped` says why it was not run. */
  fetch: FetchOnce | { skipped: string };
  /** Whether the plan enables the session source's firewall ruleset on this host. */
  firewallEnabledByPlan: boolean;
  scvm: Reached<ScvmFacts>;
}

/** ESXi releases the scripts are written and tested for (esxi/agent/applets.txt, lab/esxi-profiles). */
export const SUPPORTED_ESXI = ['6.7', '7.0', '8.0'];
/** The agent's files need a few hundred KiB (script, conf, keys, a capped log lives on the ramdisk). */
const MIN_FREE_BYTES = 4 * 1024 * 1024;
const LOW_FREE_BYTES = 64 * 1024 * 1024;
const CLOCK_WARN_SECONDS = 30;

export const SECURE_BOOT_FIX =
  'Turn UEFI Secure Boot off in the host firmware; or keep it, apply with --skip-check secure-boot and run `reroute watch --mode correct`, which re-adds the crontab line within one period after each reboot (docs/design.md, Secure Boot hosts).';

/** An SMTX OS change that breaks something the agent relies on (docs/design.md §7). */
export interface ZbsVersionProblem {
  detail: string;
  fix: string;
}

/** What in SMTX OS `version` breaks this agent configuration; [] when nothing known does. */
export function zbsVersionProblems(version: string, ctx: { sessionSource: 'rest' | 'ssh'; agentSshUser: string }): ZbsVersionProblem[] {
  const out: ZbsVersionProblem[] = [];
  // SMTX OS 5.1.2 sets `PermitRootLogin no` on SCVMs (issue 11, point 6).
  if (compareVersions(version, '5.1.2') >= 0 && ctx.sessionSource === 'ssh' && ctx.agentSshUser === 'root') {
    out.push({
      detail: `SMTX OS ${version} refuses root ssh login, and the agent's ssh session source logs in as root: it could never read the session list`,
      fix: 'Set routing.sessionSource: rest, or use a zbs-reroute release whose agent logs in as the SCVM operator user.',
    });
  }
  return out;
}

function mk(node: string, kind: 'esxi' | 'scvm', name: CheckName, status: CheckStatus, detail: string, fix = ''): PreflightCheck {
  return { node, host: `${node}/${kind}`, name, status, detail, fix: status === 'pass' ? '' : fix };
}

const MiB = (b: number): string => `${Math.floor(b / 1024 / 1024)} MiB`;

function esxiVersionCheck(n: string, f: EsxiFacts): PreflightCheck {
  if (!f.version.ok)
    return mk(
      n,
      'esxi',
      'esxi-version',
      'fail',
      `${f.version.why}: not an ESXi host?`,
      'Check nodes[].esxi.address points at the ESXi host.',
    );
  const v = f.version.value;
  const mm = `${v.major}.${v.minor}`;
  if (SUPPORTED_ESXI.includes(mm)) return mk(n, 'esxi', 'esxi-version', 'pass', v.text);
  if (compareVersions(mm, SUPPORTED_ESXI[0] as string) < 0)
    return mk(
      n,
      'esxi',
      'esxi-version',
      'fail',
      `${v.text}: older than ${SUPPORTED_ESXI[0]}, its busybox lacks commands the agent uses`,
      `Upgrade the host to ESXi ${SUPPORTED_ESXI.join(', ')}.`,
    );
  return mk(
    n,
    'esxi',
    'esxi-version',
    'warn',
    `${v.text}: newer than any release zbs-reroute was tested on (${SUPPORTED_ESXI.join(', ')})`,
    'Go ahead only if the commands check passes; report the version so it can be tested.',
  );
}

function commandsCheck(n: string, f: EsxiFacts, ctx: PreflightContext): PreflightCheck {
  if (f.commands.size === 0)
    return mk(
      n,
      'esxi',
      'commands',
      'warn',
      'the preflight script did not report commands',
      'Re-run preflight; if it persists, report it.',
    );
  const missing = ctx.required.filter((c) => !c.optional && f.commands.has(c.name) && f.commands.get(c.name) === null);
  const unknown = ctx.required.filter((c) => !f.commands.has(c.name));
  const applets = f.busybox.ok ? f.busybox.value : undefined;
  if (missing.length > 0) {
    const list = missing
      .map((c) => `${c.name} (${c.usedBy.join(', ')}${applets?.has(c.name) ? '; in busybox, not on PATH' : ''})`)
      .join(', ');
    return mk(
      n,
      'esxi',
      'commands',
      'fail',
      `not found on this host: ${list}`,
      'Do not install on this host: the scripts would fail silently. Use a zbs-reroute release that avoids these commands, or a supported ESXi build.',
    );
  }
  if (unknown.length > 0)
    return mk(n, 'esxi', 'commands', 'warn', `not checked: ${unknown.map((c) => c.name).join(', ')}`, 'Re-run preflight.');
  const opt = ctx.required.filter((c) => c.optional && f.commands.get(c.name) === null).map((c) => `${c.name} (${c.optional})`);
  return mk(
    n,
    'esxi',
    'commands',
    'pass',
    `all ${ctx.required.length - opt.length} commands the agent, probe and host-ops run are on PATH${applets ? ` (busybox: ${applets.size} applets)` : ''}${opt.length ? `; absent, not needed: ${opt.join(', ')}` : ''}`,
  );
}

export function rulesetFor(source: 'rest' | 'ssh'): string {
  return source === 'rest' ? 'httpClient' : 'sshClient';
}

function firewallCheck(nf: NodeFacts, f: EsxiFacts, ctx: PreflightContext): PreflightCheck {
  const rs = rulesetFor(ctx.sessionSource);
  const n = nf.node;
  if (!f.firewall.ok)
    return mk(
      n,
      'esxi',
      'firewall',
      'warn',
      `${f.firewall.why}; cannot tell whether ${rs} is enabled`,
      `Check by hand: esxcli network firewall ruleset list | grep ${rs}`,
    );
  const on = f.firewall.value.get(rs);
  if (on === undefined)
    return mk(
      n,
      'esxi',
      'firewall',
      'warn',
      `no ${rs} ruleset in the firewall list`,
      `Check by hand: esxcli network firewall ruleset list`,
    );
  if (on)
    return mk(
      n,
      'esxi',
      'firewall',
      'pass',
      `${rs} enabled (the ${ctx.sessionSource} session source needs outgoing ${ctx.sessionSource === 'rest' ? 'HTTP' : 'SSH'})`,
    );
  if (nf.firewallEnabledByPlan)
    return mk(
      n,
      'esxi',
      'firewall',
      'warn',
      `${rs} is off; the plan enables it for this cluster's SCVM addresses`,
      'Nothing to do: apply enables it (the plan shows the change).',
    );
  return mk(
    n,
    'esxi',
    'firewall',
    'fail',
    `${rs} is off: the agent cannot reach the SCVMs' ${ctx.sessionSource === 'rest' ? 'REST port' : 'sshd'}, so it never sees a healthy SCVM`,
    `Enable it: esxcli network firewall ruleset set -r ${rs} -e true`,
  );
}

function sessionListCheck(nf: NodeFacts, f: EsxiFacts, ctx: PreflightContext): PreflightCheck {
  const n = nf.node;
  if ('skipped' in nf.fetch)
    return mk(
      n,
      'esxi',
      'session-list',
      'warn',
      `not checked: ${nf.fetch.skipped}`,
      'Re-run preflight with a zbs-reroute release whose agent has --fetch-once.',
    );
  const rs = rulesetFor(ctx.sessionSource);
  if (!nf.fetch.ok) {
    const why = nf.fetch.reason ?? 'failed';
    if (f.firewall.ok && f.firewall.value.get(rs) === false && nf.firewallEnabledByPlan)
      return mk(
        n,
        'esxi',
        'session-list',
        'warn',
        `the agent's fetch failed (${why}) while ${rs} is off; apply enables it`,
        'Re-run preflight after apply.',
      );
    if (ctx.sessionSource === 'ssh' && !f.agentKeyPresent)
      return mk(
        n,
        'esxi',
        'session-list',
        'warn',
        `the agent's ssh fetch cannot be tried before apply installs its key (${why})`,
        'Re-run preflight after apply.',
      );
    return mk(
      n,
      'esxi',
      'session-list',
      'fail',
      `the agent's own fetch (${ctx.sessionSource}) from this host failed: ${why}`,
      ctx.sessionSource === 'rest'
        ? `Check from the host: wget -q -O - http://<SCVM storage IP>:<routing.rest.port><routing.rest.path>, and that ${rs} is enabled.`
        : `Check from the host: ssh -i <key> ${ctx.agentSshUser}@<SCVM> zbs-meta session list, and that ${rs} is enabled.`,
    );
  }
  const listed = new Set(nf.fetch.sessions);
  const missing = ctx.scvms.filter((s) => !listed.has(s.storageIp));
  const foreign = [...listed].filter((ip) => !ctx.scvms.some((s) => s.storageIp === ip));
  const extra = foreign.length ? `; also listed, not in the manifest: ${foreign.join(', ')}` : '';
  if (missing.length === ctx.scvms.length)
    return mk(
      n,
      'esxi',
      'session-list',
      'fail',
      `the session list read by the agent names none of this cluster's SCVM storage IPs (it lists: ${[...listed].join(', ') || 'nothing'})`,
      'Correct nodes[].scvm.storageIp in the manifest (compare with `zbs-meta session list` on an SCVM).',
    );
  if (missing.length > 0)
    return mk(
      n,
      'esxi',
      'session-list',
      'warn',
      `the session list lacks ${missing.map((s) => `${s.node} (${s.storageIp})`).join(', ')}${extra}`,
      'Check those SCVMs are up and their storage IPs in the manifest are right.',
    );
  return mk(
    n,
    'esxi',
    'session-list',
    foreign.length ? 'warn' : 'pass',
    `the agent read all ${ctx.scvms.length} SCVMs from the session list${extra}`,
    'Add the missing nodes to the manifest, or check the session list.',
  );
}

function datastoreCheck(nf: NodeFacts, f: EsxiFacts, ctx: PreflightContext): PreflightCheck {
  const n = nf.node;
  const ds = nf.datastore;
  // Mounted over NFS by either protocol's list, whatever the filesystem list says (issue 13).
  const mounts = [
    ...(f.nfs.ok ? f.nfs.value.map((m) => ({ ...m, v: 'NFS v3' })) : []),
    ...(f.nfs41.ok ? f.nfs41.value.map((m) => ({ ...m, v: 'NFS 4.1' })) : []),
  ];
  const list = f.filesystems.ok ? f.filesystems.value : [];
  const fs = findVolume(list, ds);
  const vmfs = [
    ...new Set(list.filter((x) => x.mounted && x.volume !== '' && x.volume !== ds && isVmfsDatastore(x.type)).map((x) => x.volume)),
  ];
  const fixLocal = `Set nodes[].esxi.datastore to this host's local VMFS datastore${vmfs.length > 0 ? ` (${vmfs.join(', ')})` : ' (see `esxcli storage filesystem list`)'}.`;
  const served = mounts.find((m) => m.volume === ds || (fs !== undefined && m.volume === fs.volume && fs.volume !== ''));
  if (served || (fs && isNfsType(fs.type))) {
    const from = served ? ` (${served.v} from ${served.host}${served.share ? `:${served.share}` : ''})` : ` (${fs?.type})`;
    const byZbs = served !== undefined && served.host.split(/[\s,]+/).includes(ctx.nfsAddress);
    return mk(
      n,
      'esxi',
      'datastore',
      'fail',
      `${ds} is an NFS datastore${from}${byZbs ? ': ZBS itself, so the agent would be unreachable exactly when IO must fail over' : ": the agent's files would be unreachable when that server or its network fails"}`,
      fixLocal,
    );
  }
  if (!f.filesystems.ok)
    return mk(
      n,
      'esxi',
      'datastore',
      'warn',
      `${f.filesystems.why}; cannot tell what ${ds} is`,
      'Check by hand: esxcli storage filesystem list',
    );
  if (!fs) return mk(n, 'esxi', 'datastore', 'fail', `no datastore named ${ds} on this host`, fixLocal);
  if (!/^VMFS/i.test(fs.type))
    return mk(n, 'esxi', 'datastore', 'fail', `${ds} is ${fs.type || 'of unknown type'}, not local VMFS`, fixLocal);
  if (!fs.mounted)
    return mk(
      n,
      'esxi',
      'datastore',
      'fail',
      `${ds} (${fs.type}) is not mounted`,
      'Mount the datastore, or choose another local VMFS datastore.',
    );
  // Full is a warning, not a failure: the running agent writes nothing there (lock, heartbeat and log are on the
  // ramdisk), and apply's writes fail on that host alone with "No space left", leaving every file as it was.
  if (fs.freeBytes !== undefined && fs.freeBytes < MIN_FREE_BYTES)
    return mk(
      n,
      'esxi',
      'datastore',
      'warn',
      `${ds} (${fs.type}) has only ${fs.freeBytes} bytes free: installing or upgrading the agent there will fail`,
      'Free some space on the datastore (the agent needs a few MiB).',
    );
  if (fs.freeBytes !== undefined && fs.freeBytes < LOW_FREE_BYTES)
    return mk(n, 'esxi', 'datastore', 'warn', `${ds} (${fs.type}) has only ${MiB(fs.freeBytes)} free`, 'Free some space on the datastore.');
  return mk(n, 'esxi', 'datastore', 'pass', `${ds}: local ${fs.type}${fs.freeBytes !== undefined ? `, ${MiB(fs.freeBytes)} free` : ''}`);
}

function nfsDatastoreCheck(n: string, f: EsxiFacts, ctx: PreflightContext): PreflightCheck {
  if (!f.nfs.ok) return mk(n, 'esxi', 'nfs-datastore', 'warn', `${f.nfs.why}`, 'Check by hand: esxcli storage nfs list');
  const zbs = f.nfs.value.filter((m) => m.host === ctx.nfsAddress);
  if (zbs.length === 0)
    return mk(
      n,
      'esxi',
      'nfs-datastore',
      'fail',
      `no NFS datastore is mounted from ${ctx.nfsAddress}: this host does not use ZBS storage`,
      `Mount the ZBS datastore from ${ctx.nfsAddress} first, or check this host belongs to the cluster.`,
    );
  const down = zbs.filter((m) => !m.mounted || !m.accessible);
  const names = zbs.map((m) => `${m.volume} (${m.share})`).join(', ');
  if (down.length > 0)
    return mk(
      n,
      'esxi',
      'nfs-datastore',
      'warn',
      `mounted from ${ctx.nfsAddress} but not accessible now: ${down.map((m) => m.volume).join(', ')}`,
      'Check the local SCVM and the storage network before installing.',
    );
  return mk(n, 'esxi', 'nfs-datastore', 'pass', `from ${ctx.nfsAddress}: ${names}`);
}

function secureBootCheck(n: string, f: EsxiFacts): PreflightCheck {
  if (!f.secureBoot.ok)
    return mk(
      n,
      'esxi',
      'secure-boot',
      'warn',
      `${f.secureBoot.why}; cannot tell whether Secure Boot is on`,
      'Check by hand: /usr/lib/vmware/secureboot/bin/secureBoot.py -s',
    );
  if (f.secureBoot.value === 'enabled')
    return mk(
      n,
      'esxi',
      'secure-boot',
      'fail',
      'UEFI Secure Boot is on: ESXi does not run /etc/rc.local.d/local.sh at boot, so the agent would not start again after a reboot',
      SECURE_BOOT_FIX,
    );
  return mk(n, 'esxi', 'secure-boot', 'pass', 'Secure Boot off: local.sh runs at boot');
}

function persistenceCheck(n: string, f: EsxiFacts): PreflightCheck {
  if (f.autoBackupMode === undefined)
    return mk(
      n,
      'esxi',
      'persistence',
      'fail',
      '/sbin/auto-backup.sh is missing: nothing saves /etc across a reboot',
      'Check the host is a normal ESXi install (not a stateless Auto Deploy host).',
    );
  if (f.localShMode === undefined)
    return mk(
      n,
      'esxi',
      'persistence',
      'fail',
      '/etc/rc.local.d/local.sh is missing',
      "Restore ESXi's stock /etc/rc.local.d/local.sh (it ends with `exit 0`).",
    );
  // VisorFS saves /etc files it tracks (sticky bit / `.#` twin, docs/field-notes.md §3), but a stock 7.0 host's
  // `ls -l` shows local.sh as -rwxr-xr-x (ghettoVCB #313): no sticky bit is no proof of loss, so it only warns.
  if (!/[tT]$/.test(f.localShMode))
    return mk(
      n,
      'esxi',
      'persistence',
      'warn',
      `/etc/rc.local.d/local.sh is ${f.localShMode}: no sticky bit, so it cannot be confirmed that /sbin/auto-backup.sh saves it`,
      'After apply, reboot one host in a maintenance window and check `reroute status` shows its agent alive.',
    );
  return mk(n, 'esxi', 'persistence', 'pass', `local.sh ${f.localShMode} (registered for backup), /sbin/auto-backup.sh present`);
}

function crondCheck(n: string, f: EsxiFacts): PreflightCheck {
  if (f.crondAlive === true) return mk(n, 'esxi', 'crond', 'pass', 'crond runs');
  return mk(
    n,
    'esxi',
    'crond',
    'warn',
    f.crondAlive === false ? 'crond is not running: nothing would restart the agent' : 'cannot tell whether crond runs',
    'apply starts crond (reload-crond); if it stops again, check /var/log/syslog.log.',
  );
}

function clockCheck(nf: NodeFacts, f: EsxiFacts): PreflightCheck {
  const n = nf.node;
  if (f.now === undefined || nf.controllerNow === undefined)
    return mk(n, 'esxi', 'clock', 'warn', 'the host clock could not be read', 'Check by hand: esxcli system time get');
  const hostMid = f.nowEnd !== undefined ? (f.now + f.nowEnd) / 2 : f.now;
  const skew = Math.round(hostMid - nf.controllerNow);
  // Agent and host-ops compare times from the host's own clock only, so skew never breaks them: warn only, it breaks reading logs side by side.
  if (Math.abs(skew) <= CLOCK_WARN_SECONDS)
    return mk(n, 'esxi', 'clock', 'pass', `host clock ${skew >= 0 ? '+' : ''}${skew} s from the controller`);
  return mk(
    n,
    'esxi',
    'clock',
    'warn',
    `host clock is ${skew >= 0 ? '+' : ''}${skew} s from the controller (logs of host and controller will not line up)`,
    'Configure NTP on the host (vSphere Client: Configure > System > Time Configuration) and on the controller.',
  );
}

function scvmChecks(nf: NodeFacts, ctx: PreflightContext): PreflightCheck[] {
  const n = nf.node;
  if (!nf.scvm.reachable) {
    return [
      mk(
        n,
        'scvm',
        'reachable',
        'fail',
        `${ctx.operatorUser} cannot log in: ${nf.scvm.reason}`,
        `Check access.scvm (user ${ctx.operatorUser}, credential) and that sshd on the SCVM answers.`,
      ),
      mk(n, 'scvm', 'scvm-version', 'warn', 'not read (no login)', 'Re-run preflight when the SCVM answers.'),
    ];
  }
  const f = nf.scvm.facts;
  const out: PreflightCheck[] = [];
  out.push(
    f.sudo
      ? mk(n, 'scvm', 'scvm-login', 'pass', `${ctx.operatorUser} logs in, sudo -n works`)
      : mk(
          n,
          'scvm',
          'scvm-login',
          'fail',
          `${ctx.operatorUser} logs in but \`sudo -n true\` fails: apply cannot register this host's client IPs in the ZBS session (zbs-meta session refresh_address needs root) nor remove key entries earlier releases left in root's authorized_keys`,
          `Allow ${ctx.operatorUser} passwordless sudo on the SCVM (sudoers: ${ctx.operatorUser} ALL=(ALL) NOPASSWD: ALL).`,
        ),
  );
  const version = f.release ? parseSmtxRelease(f.release) : undefined;
  if (!version)
    out.push(
      mk(
        n,
        'scvm',
        'scvm-version',
        'warn',
        f.release ? `/etc/smtxos-release not understood: ${JSON.stringify(f.release.slice(0, 60))}` : '/etc/smtxos-release not found',
        'Check the SMTX OS version by hand; 5.1.2 and later refuse root ssh login.',
      ),
    );
  else {
    const problems = zbsVersionProblems(version, ctx);
    const [p] = problems;
    out.push(p ? mk(n, 'scvm', 'scvm-version', 'fail', p.detail, p.fix) : mk(n, 'scvm', 'scvm-version', 'pass', `SMTX OS ${version}`));
  }
  if (ctx.sessionSource === 'ssh') out.push(sshdCheck(n, f.ssh));
  return out;
}

/** OpenSSH 7.2 added the `restrict` key option; an older sshd refuses our whole entry (docs/field-notes.md §13). */
const RESTRICT_SINCE = [7, 2] as const;

/**
 * Only with the ssh session source: the agent's key entry is `restrict,command=...`, which an
 * sshd before 7.2 rejects as a bad line, so the agent could never log in. Read from `ssh -V`
 * (the client of the same package; sshd has no portable version flag), hence a warning when unread.
 */
function sshdCheck(n: string, sshLine: string | undefined): PreflightCheck {
  const m = sshLine === undefined ? null : /OpenSSH_(\d+)\.(\d+)/.exec(sshLine);
  if (!m) {
    return mk(
      n,
      'scvm',
      'scvm-sshd',
      'warn',
      `OpenSSH version not read (${sshLine === undefined ? 'no ssh -V output' : JSON.stringify(sshLine.slice(0, 60))})`,
      "Check `ssh -V` on the SCVM by hand: the agent's key entry needs OpenSSH 7.2 or later (its `restrict` option).",
    );
  }
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const version = `${major}.${minor}`;
  if (major < RESTRICT_SINCE[0] || (major === RESTRICT_SINCE[0] && minor < RESTRICT_SINCE[1])) {
    return mk(
      n,
      'scvm',
      'scvm-sshd',
      'fail',
      `OpenSSH ${version} predates the \`restrict\` key option (7.2): sshd would reject the agent's key entry and the agent could not read the session list`,
      'Use routing.sessionSource: rest (no key at all), or upgrade the SCVM to an SMTX OS release with OpenSSH 7.2 or later.',
    );
  }
  return mk(n, 'scvm', 'scvm-sshd', 'pass', `OpenSSH ${version} (the key entry's \`restrict\` needs 7.2 or later)`);
}

/** Every check for every node, in manifest order: ESXi checks, then the SCVM's. */
export function preflightChecks(nodes: NodeFacts[], ctx: PreflightContext): PreflightCheck[] {
  const out: PreflightCheck[] = [];
  for (const nf of nodes) {
    const n = nf.node;
    if (!nf.esxi.reachable)
      out.push(
        mk(n, 'esxi', 'reachable', 'fail', nf.esxi.reason, 'Check the host is up and SSH is enabled on it (access.esxi in the manifest).'),
      );
    else if (!nf.esxi.facts.complete)
      out.push(
        mk(
          n,
          'esxi',
          'reachable',
          'fail',
          `the preflight script's output is incomplete: ${nf.esxi.facts.problems.join('; ')}`,
          'Re-run preflight; raise access.ssh.commandTimeoutSeconds on a slow host.',
        ),
      );
    else {
      const f = nf.esxi.facts;
      out.push(
        esxiVersionCheck(n, f),
        commandsCheck(n, f, ctx),
        firewallCheck(nf, f, ctx),
        sessionListCheck(nf, f, ctx),
        datastoreCheck(nf, f, ctx),
        nfsDatastoreCheck(n, f, ctx),
        secureBootCheck(n, f),
        persistenceCheck(n, f),
        crondCheck(n, f),
        clockCheck(nf, f),
      );
    }
    out.push(...scvmChecks(nf, ctx));
  }
  return out;
}

/** Checks that stop an apply: failed and not skipped. `reachable` never does: apply reports unreachable hosts itself and goes on with the others. */
export function blockingFailures(checks: PreflightCheck[], skip: string[]): PreflightCheck[] {
  return checks.filter((c) => c.status === 'fail' && c.name !== 'reachable' && !skip.includes(c.name));
}
