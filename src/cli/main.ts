import { Command, CommanderError, Option } from 'commander';
import { RerouteError } from '../errors/reroute-error';
import { createConsoleIoHost, IoHost } from './io-host';
import { APPLY_EXIT_CODES, EXIT_ERROR, EXIT_OK, exitCodeFor } from './exit-codes';
import { forceUnlock } from '../state/state-lock';
import { runValidate } from './commands/validate-command';
import { runPlan } from './commands/plan-command';
import { runApply } from './commands/apply-command';
import { runStatus } from './commands/status-command';
import { runWatch } from './commands/watch-command';
import { runDiscover } from './commands/discover-command';
import { runPreflight } from './commands/preflight-command';
import { runStateExport, runStateImport } from './commands/state-command';
import { runEvents } from './commands/events-command';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `reroute status --help`: scripts and monitoring key on these (docs/design.md §8). */
const STATUS_EXIT_CODES = `
Exit codes:
  0  report printed (without --check, whatever it shows); with --check: every host observed and healthy
  1  status could not run (invalid manifest, state folder, changed host key, ...)
  2  --check: a host fails a check (off the wanted version, blind, wrong mode, stale peer list, SCVM release breaks the agent)
  3  --check: no check failed, but a host could not be observed: its agent, version and route are unknown
A host that cannot be reached is shown as unreachable with agent "unknown" (JSON: state "unknown",
agentAlive null, versionOk null), never as stopped or off version.`;

/** `reroute events --help`. */
const EVENTS_EXIT_CODES = `
Exit codes:
  0  every host's agent log was read (times are UTC: ESXi writes its log in UTC)
  1  events could not run (invalid manifest, unknown --node, bad --since, ...)
  3  the log of some host could not be read: it is listed with why, and its decisions are missing`;

interface GlobalOpts {
  json?: boolean;
  color?: boolean; // commander turns --no-color into color: false
  state: string;
}

function ioFor(cmd: Command): IoHost {
  const g = cmd.optsWithGlobals<GlobalOpts>();
  return createConsoleIoHost({ json: Boolean(g.json), noColor: g.color === false });
}

function reportError(io: IoHost, err: unknown): number {
  if (err instanceof RerouteError) {
    if (io.json) io.result('', { ok: false, error: err.toJSON() });
    else process.stderr.write(`Error [${err.code}]: ${err.message}\n  fix: ${err.fix}\n`);
    return exitCodeFor(err);
  }
  // An unexpected error is a bug: show the stack so it can be reported.
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (io.json) io.result('', { ok: false, error: { code: 'INTERNAL', message: text } });
  else process.stderr.write(`Internal error (please report): ${text}\n`);
  return EXIT_ERROR;
}

/** Wraps a command body so every error becomes a message and an exit code, never a crash dump. */
function action<A extends unknown[]>(body: (io: IoHost, cmd: Command, ...args: A) => Promise<number>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const io = ioFor(cmd);
    let code: number;
    try {
      code = await body(io, cmd, ...(args.slice(0, -1) as A));
    } catch (err) {
      code = reportError(io, err);
    }
    process.exitCode = code;
  };
}

export function buildProgram(): Command {
  const program = new Command('reroute')
    .description('Deploy, upgrade, check and reconcile the ZBS IO Reroute agent on ESXi hosts')
    .option('--json', 'machine-readable output on stdout')
    .option('--no-color', 'disable colour (NO_COLOR is honoured too)')
    // REROUTE_STATE: one state folder per environment without repeating --state (the lab's controller sets it per lab).
    .addOption(
      new Option('--state <dir>', 'state folder (host keys, cluster keypair, lock, journal)').env('REROUTE_STATE').default('state'),
    )
    .showHelpAfterError()
    .exitOverride();

  program
    .command('validate')
    .description('check a cluster manifest: schema and semantic rules, every problem with file:line:col')
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML)')
    .action(action(async (io, cmd) => runValidate(io, cmd.opts<{ file: string }>())));

  program
    .command('plan')
    .description('observe the hosts (or read a saved observation) and show what apply would change')
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML)')
    .option('--observed <snapshot>', 'plan offline from a saved observation (JSON) instead of connecting')
    .option('--out <planfile>', 'save the plan (JSON) for `reroute apply PLANFILE`')
    .option('--destroy', 'plan a teardown instead of an install')
    .option('--remove-routes', 'with --destroy: also delete the 33.2 (and storage-gateway) /32 on hosts their healthy local SCVM serves')
    .option(
      '--force-host <node>',
      'with --destroy: tear this refused node down anyway: agent stopped, files removed, every route left as it is (repeatable)',
      collect,
    )
    .option(
      '--target <node>',
      'this node, plus what names it on the other hosts (peer list, known_hosts, firewall, SCVM key entry) (repeatable)',
      collect,
    )
    .option('--target-only', "with --target: the named nodes alone; their peers' files stay stale (the plan warns, naming them)")
    .option('--detailed-exitcode', 'exit 2 when the plan has changes, 0 when none')
    .option('--accept-new-host-key <node>', 're-pin the changed SSH host key of this node (repeatable)', collect)
    .action(
      action(async (io, cmd) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runPlan(io, { ...cmd.opts(), stateDir: g.state });
      }),
    );

  program
    .command('preflight')
    .description('read-only checks of every host before an install: pass / warn / fail with a fix each; exit 1 on any fail')
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML)')
    .option('--target <node>', 'check only this node (repeatable)', collect)
    .option('--accept-new-host-key <node>', 're-pin the changed SSH host key of this node (repeatable)', collect)
    .action(
      action(async (io, cmd) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runPreflight(io, { ...cmd.opts(), stateDir: g.state });
      }),
    );

  program
    .command('apply')
    .argument('[planfile]', 'a plan saved by `reroute plan --out` (refused if the hosts changed since)')
    .description('observe, plan, confirm, apply and verify (the agent moves routes; apply never does)')
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML)')
    .option('--auto-approve', 'do not ask for confirmation')
    .option(
      '--target <node>',
      'this node, plus what names it on the other hosts (peer list, known_hosts, firewall, SCVM key entry) (repeatable)',
      collect,
    )
    .option('--target-only', "with --target: the named nodes alone; their peers' files stay stale (the plan warns, naming them)")
    .option('--accept-new-host-key <node>', 're-pin the changed SSH host key of this node (repeatable)', collect)
    .option('--no-verify', 'skip the post-apply verification')
    .option('--skip-check <name>', 'go ahead although this preflight check fails (repeatable; recorded in the journal)', collect)
    .addHelpText('after', APPLY_EXIT_CODES)
    .action(
      action(async (io, cmd, planFile?: string) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runApply(io, { ...cmd.opts(), planFile, stateDir: g.state, mode: 'apply', commandLine: process.argv.slice(2).join(' ') });
      }),
    );

  program
    .command('destroy')
    .description(
      'remove zbs-reroute from every host; routes stay where they are unless --remove-routes; a failed-over, drained or unhealthy host is refused (exit 1)',
    )
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML)')
    .option('--auto-approve', 'do not ask for confirmation')
    .option('--remove-routes', 'also delete the 33.2 (and storage-gateway) /32 on hosts their healthy local SCVM serves')
    .option(
      '--force-host <node>',
      'tear this refused node down anyway: agent stopped, files removed, every route left as it is (repeatable)',
      collect,
    )
    .option('--target <node>', 'limit to this node (repeatable)', collect)
    .option('--accept-new-host-key <node>', 're-pin the changed SSH host key of this node (repeatable)', collect)
    .action(
      action(async (io, cmd) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runApply(io, {
          ...cmd.opts(),
          stateDir: g.state,
          mode: 'destroy',
          verify: false,
          commandLine: process.argv.slice(2).join(' '),
        });
      }),
    );

  program
    .command('status')
    .description('per-host report: reachable, agent version vs wanted, agent alive, where 192.168.33.2 is routed')
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML)')
    .option(
      '--check',
      'exit 2 when any host is not on the wanted agent version, an agent is blind (no session list) or runs in the wrong mode, a peer list is stale, or an SCVM runs an SMTX OS version that breaks the agent; exit 3 when none of that but a host could not be observed (unknown); shadow-mode disagreements are shown, not failed',
    )
    .addHelpText('after', STATUS_EXIT_CODES)
    .option('--accept-new-host-key <node>', 're-pin the changed SSH host key of this node (repeatable)', collect)
    .action(
      action(async (io, cmd) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runStatus(io, { ...cmd.opts(), stateDir: g.state });
      }),
    );

  program
    .command('events')
    .description(
      "every agent decision on every host from the agents' logs, in time order: each failover with its failback, how long it lasted and why (read-only)",
    )
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML)')
    .option('--since <when>', 'a duration back from now (90s, 30m, 24h, 7d), a UTC time (2026-12-02T14:00:00Z), or all', '24h')
    .option('--node <node>', 'only this node (repeatable)', collect)
    .option('--svg <file>', 'also draw the timeline: one lane per host, coloured by where its IO was served')
    .option('--accept-new-host-key <node>', 're-pin the changed SSH host key of this node (repeatable)', collect)
    .addHelpText('after', EVENTS_EXIT_CODES)
    .action(
      action(async (io, cmd) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runEvents(io, { ...cmd.opts(), stateDir: g.state });
      }),
    );

  program
    .command('watch')
    .description('keep the cluster as the manifest says: re-check every host periodically and on manifest edits; report or correct drift')
    .requiredOption('-f, --file <manifest>', 'cluster manifest (YAML); edits are picked up while running')
    .option('--mode <mode>', 'report (log drift only) or correct (fix it, never touching routes)', 'report')
    .option('--interval <seconds>', 'seconds between checks of each host', '60')
    .option('--jitter <fraction>', 'spread checks by ± this fraction of the interval', '0.1')
    .option('--prune', 'tear down nodes removed from the manifest (off: they are only no longer watched)')
    .option('--verbose', 'debug lines on the console too (the JSON log always has them)')
    .option('--metrics-listen <ip:port>', 'serve Prometheus metrics at http://IP:PORT/metrics (off by default; e.g. 127.0.0.1:9464)')
    .action(
      action(async (io, cmd) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runWatch(io, { ...cmd.opts(), stateDir: g.state, commandLine: `reroute ${process.argv.slice(2).join(' ')}` });
      }),
    );

  program
    .command('discover')
    .description('read ESXi hosts (vmknics, datastores) and the ZBS session list (SCVMs) and write a manifest')
    .requiredOption('--esxi <address...>', 'management address of every ESXi host of the cluster')
    .option('--out <file>', 'write the manifest here (default: print it)')
    .option('--force', 'replace --out if it exists')
    .option('--cluster-name <name>', 'metadata.name (marks the cluster key on every SCVM)')
    .option('--datastore <name>', 'local VMFS datastore for the agent on every host')
    .option('--user <user>', 'ESXi user', 'root')
    .option('--key-file <path>', 'ESXi SSH private key (else ssh-agent)')
    .option('--password-env <NAME>', 'ESXi password from this environment variable')
    .option('--scvm <address>', 'any healthy SCVM management IP, when the hosts cannot read the session list on the NFS address')
    .option('--scvm-user <user>', 'SCVM operator user (sudo, never root)', 'smartx')
    .option('--scvm-key-file <path>', 'SCVM SSH private key for the manifest (default: the ESXi one)')
    .option('--scvm-password-env <NAME>', 'SCVM password variable for the manifest')
    .option('--pair <esxi=scvmIp>', 'pair this ESXi with the SCVM having this IP (repeatable)', collect)
    .action(
      action(async (io, cmd) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        return runDiscover(io, { ...cmd.opts<Omit<Parameters<typeof runDiscover>[1], 'stateDir'>>(), stateDir: g.state });
      }),
    );

  program
    .command('force-unlock')
    .argument('<lockId>', 'the lock id shown in the LOCK_HELD message')
    .description('remove the state lock left by a run that is known to be dead (the LOCK_HELD message names it)')
    .action(
      action(async (io, cmd, lockId: string) => {
        const g = cmd.optsWithGlobals<GlobalOpts>();
        const held = forceUnlock(g.state, lockId);
        io.result(`Removed the state lock of \`${held.command}\` by ${held.user}@${held.host} (pid ${held.pid}).`, {
          ok: true,
          removed: held,
        });
        return EXIT_OK;
      }),
    );

  const state = program
    .command('state')
    .description("move the state folder's cluster identity (keypair, pinned host keys) to another operator");
  state
    .command('export')
    .requiredOption('--out <file>', 'file to write (0600: it holds the private key)')
    .option('--force', 'overwrite an existing file')
    .description('write the cluster keypair and pinned host keys to a file for a second operator')
    .action(
      action(async (io, cmd) => {
        const o = cmd.optsWithGlobals<GlobalOpts & { out: string; force?: boolean }>();
        return runStateExport(io, { stateDir: o.state, out: o.out, force: o.force });
      }),
    );
  state
    .command('import')
    .argument('<file>', 'a file written by `reroute state export`')
    .option('--force', 'replace a different keypair or different host key pins in this state folder')
    .description("take another operator's cluster keypair and pinned host keys into this state folder")
    .action(
      action(async (io, cmd, file: string) => {
        const o = cmd.optsWithGlobals<GlobalOpts & { force?: boolean }>();
        return runStateImport(io, { stateDir: o.state, file, force: o.force });
      }),
    );

  program.addOption(new Option('--debug', 'print stack traces').hideHelp());
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version exit 0; usage errors exit 1 (commander already printed them).
      return err.exitCode === 0 ? 0 : EXIT_ERROR;
    }
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
