/**
 * `npm run lab -- <command>`: drive the lab from a shell. The lab keeps
 * running between commands (state dir + registry); every command takes
 * --name (default $ZRL_LAB or "lab").
 */
import { Command, Option } from 'commander';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { FAULTS, Lab, LabError, type LabOptions, type LabStatus } from './lab';
import { numberArg } from './lab-netem';
import { addNfsDatastore } from './nfs-datastore';

const program = new Command();
program.name('lab').description('The zbs-reroute lab: a simulated ZBS-on-ESXi cluster in network namespaces (see lab/README.md)');

const nameOpt = () => new Option('--name <name>', 'lab name').default(process.env.ZRL_LAB ?? 'lab');

/**
 * --esxi-version values: a bare version (6.7) for every host, or esxi-N=6.7
 * for one host; a bare one is the default for the hosts not named.
 */
function esxiVersionOption(values: string[], nodes: number): LabOptions['esxiVersion'] {
  if (values.length === 0) return undefined;
  const perHost: Record<string, string> = {};
  let all: string | undefined;
  for (const v of values) {
    const m = /^(esxi-\d+)=(.+)$/.exec(v);
    if (m) perHost[m[1]!] = m[2]!;
    else all = v;
  }
  if (Object.keys(perHost).length === 0) return all as LabOptions['esxiVersion'];
  const out: Record<string, string> = {};
  for (let i = 1; i <= nodes; i++) out[`esxi-${i}`] = perHost[`esxi-${i}`] ?? all ?? '7.0';
  for (const t of Object.keys(perHost)) out[t] ??= perHost[t]!;
  return out as LabOptions['esxiVersion'];
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

program
  .command('up')
  .description('start a lab')
  .addOption(nameOpt())
  .requiredOption('--nodes <n>', 'number of nodes (ESXi + SCVM pairs)', (v) => Number(v))
  .option('--mgmt-net <a.b.c>', 'management /24 prefix', '10.10.0')
  .option('--storage-net <a.b.c>', 'storage /24 prefix', '10.20.0')
  .option('--no-services', 'do not start meta-sim, nfs-sim and the IO probes')
  .option('--rdma', 'RDMA cluster: SCVM access IPs <storage-net>.(150+N), 33.2 and the SCVM storage /32 routed via them')
  .option('--scvm-version <x.y.z>', 'SMTX OS version the SCVMs report (/etc/smtxos-release)', '5.1.2')
  .option(
    '--esxi-version <v>',
    'ESXi applet/version profile: 6.7 | 7.0 | 8.0 for every host, or esxi-N=6.7 (repeat)',
    (v: string, prev: string[]) => [...prev, v],
    [] as string[],
  )
  .addOption(
    new Option('--firewall <mode>', 'ESXi firewall: open (sshClient, httpClient on) or shipped (a fresh ESXi: both off)')
      .choices(['open', 'shipped'])
      .default('open'),
  )
  .option('--secure-boot <targets...>', 'ESXi hosts booted with UEFI Secure Boot (local.sh not run at boot)')
  .action(
    async (o: {
      name: string;
      nodes: number;
      mgmtNet: string;
      storageNet: string;
      services: boolean;
      rdma?: boolean;
      scvmVersion: string;
      esxiVersion: string[];
      firewall: 'open' | 'shipped';
      secureBoot?: string[];
    }) => {
      const t0 = Date.now();
      const lab = await Lab.start({
        nodes: o.nodes,
        name: o.name,
        mgmtNet: o.mgmtNet,
        storageNet: o.storageNet,
        services: o.services,
        rdma: o.rdma === true,
        scvmVersion: o.scvmVersion,
        esxiVersion: esxiVersionOption(o.esxiVersion, o.nodes),
        firewall: o.firewall,
        secureBoot: o.secureBoot,
      });
      out(`lab ${lab.name} up: ${lab.nodes.length} nodes in ${((Date.now() - t0) / 1000).toFixed(1)} s; state ${lab.dir}`);
      out(`controller ${lab.controller.ip} (npm run lab -- exec ctl -- ssh root@${lab.nodes[0]?.esxi.mgmtIp})`);
    },
  );

program
  .command('down')
  .description('stop a lab and remove everything it created')
  .addOption(nameOpt())
  .action(async (o: { name: string }) => {
    await Lab.down(o.name);
    out(`lab ${o.name} removed`);
  });

program
  .command('list')
  .description('list labs on this machine')
  .action(() => {
    for (const n of Lab.list()) out(n);
  });

program
  .command('status')
  .description('show hosts, processes and active faults')
  .addOption(nameOpt())
  .option('--json', 'machine-readable output')
  .action((o: { name: string; json?: boolean }) => {
    const lab = Lab.attach(o.name);
    const s = lab.status();
    if (o.json) return out(JSON.stringify(s, null, 2));
    // IO of the last 2 s: who serves each ESXi now.
    const io = lab.io(Date.now() - 2000);
    out(`lab ${s.name}: ${s.nodes} nodes, controller ${s.controller.ip}, state ${s.stateDir}`);
    for (const t of s.targets) {
      const svc = Object.entries(t.services)
        .map(([k, v]) => `${k}=${v ? 'up' : 'DOWN'}`)
        .join(' ');
      const h = io[t.target];
      const served =
        h === undefined ? '' : ` io: ${h.failed > 0 ? `${h.failed}/${h.probes} failed, ` : ''}served by ${h.servedBy ?? 'nobody'}`;
      const r = t.nfsRoute;
      const route =
        r === undefined
          ? ''
          : r.gateway === null
            ? ' 33.2: private link'
            : ` 33.2 via ${r.gateway} (${r.scvm ?? 'not an SCVM'}${r.scvm ? ` ${r.via}${r.via === 'access' ? ' IP' : ''}` : ''})`;
      const esxi = t.esxiVersion === undefined ? '' : ` ESXi ${t.esxiVersion}${t.secureBoot ? ' secure-boot' : ''}`;
      out(`  ${t.target.padEnd(8)} ${t.up ? 'up  ' : 'DOWN'} sshd=${t.sshd ? 'up' : 'DOWN'}${esxi} ${svc}${served}${route}`);
    }
    out(s.faults.length === 0 ? 'faults: none' : `faults: ${s.faults.map((f) => `${f.name} ${f.target}`).join(', ')}`);
    out(linkFaultsLine(s));
  });

/** `link faults: scvm-1:storage loss 30% delay 50±5 ms flap 2/3 s, partition esxi-1|scvm-2` (or none). */
function linkFaultsLine(s: LabStatus): string {
  const items = s.links.map((l) => {
    const parts = [l.link];
    if (l.loss) parts.push(`loss ${l.loss}%`);
    if (l.delayMs) parts.push(`delay ${l.delayMs}${l.jitterMs ? `±${l.jitterMs}` : ''} ms`);
    if (l.flap) parts.push(`flap ${l.flap.downS}/${l.flap.upS} s${l.flapping ? '' : ' (ended)'}`);
    return parts.join(' ');
  });
  items.push(...s.partitions.map((p) => `partition ${p.a}|${p.b}`));
  return items.length === 0 ? 'link faults: none' : `link faults: ${items.join(', ')}${s.linkEngine ? ` (${s.linkEngine})` : ''}`;
}

const link = program
  .command('link')
  .description('link faults inside the lab: loss, delay, flap, partition, heal (lab/README.md, "Link faults")');

link
  .command('loss')
  .description('lose PCT % of frames in each direction of LINK (<host>:<net>, or all)')
  .argument('<pct>')
  .argument('<link>')
  .addOption(nameOpt())
  .action(async (pct: string, l: string, o: { name: string }) => {
    await Lab.attach(o.name).linkFault(l, { loss: numberArg('loss', pct) });
    out(`link ${l}: loss ${pct}%`);
  });

link
  .command('delay')
  .description('delay each direction of LINK by MS (± JITTER ms, uniform)')
  .argument('<ms>')
  .argument('<jitterOrLink>', 'JITTER then LINK, or just LINK')
  .argument('[link]')
  .addOption(nameOpt())
  .action(async (ms: string, a: string, b: string | undefined, o: { name: string }) => {
    const [jitter, l] = b === undefined ? [undefined, a] : [a, b];
    await Lab.attach(o.name).linkFault(l, {
      delayMs: numberArg('delay', ms),
      ...(jitter !== undefined ? { jitterMs: numberArg('jitter', jitter) } : {}),
    });
    out(`link ${l}: delay ${ms}${jitter !== undefined ? `±${jitter}` : ''} ms`);
  });

link
  .command('flap')
  .description("take LINK's switch port down for DOWN_S, up for UP_S, until healed (at most 1 h)")
  .argument('<downS>')
  .argument('<upS>')
  .argument('<link>')
  .addOption(nameOpt())
  .action(async (down: string, up: string, l: string, o: { name: string }) => {
    await Lab.attach(o.name).linkFlap(l, numberArg('down time', down), numberArg('up time', up));
    out(`link ${l}: flapping ${down} s down / ${up} s up`);
  });

link
  .command('partition')
  .description('hosts A and B (esxi-N / scvm-N) cannot reach each other on any network')
  .argument('<a>')
  .argument('<b>')
  .addOption(nameOpt())
  .action(async (a: string, b: string, o: { name: string }) => {
    await Lab.attach(o.name).partition(a, b);
    out(`partition ${a}|${b}: on`);
  });

link
  .command('heal')
  .description("remove the faults of LINK (and its host's partitions), of a host, or all link faults")
  .argument('[link]')
  .addOption(nameOpt())
  .action(async (l: string | undefined, o: { name: string }) => {
    await Lab.attach(o.name).healLinks(l);
    out(`link faults ${l ?? 'all'}: healed`);
  });

program
  .command('fault')
  .description(`inject a fault: ${FAULTS.join(' | ')}`)
  .argument('<fault>')
  .argument('<target>', 'esxi-N or scvm-N')
  .addOption(nameOpt())
  .action(async (fault: string, target: string, o: { name: string }) => {
    await Lab.attach(o.name).fault(fault, target);
    out(`fault ${fault} ${target}: on`);
  });

program
  .command('heal')
  .description('remove a fault')
  .argument('<fault>')
  .argument('<target>')
  .addOption(nameOpt())
  .action(async (fault: string, target: string, o: { name: string }) => {
    await Lab.attach(o.name).heal(fault, target);
    out(`fault ${fault} ${target}: healed`);
  });

for (const [cmd, desc] of [
  ['reboot', 'reboot an ESXi host (auto-backup runs at shutdown)'],
  ['crash', 'crash and restart an ESXi host (no shutdown auto-backup)'],
] as const) {
  program
    .command(cmd)
    .description(desc)
    .argument('<target>', 'esxi-N')
    .addOption(nameOpt())
    .option('--off-ms <ms>', 'time the host stays off', (v) => Number(v), 0)
    .action(async (target: string, o: { name: string; offMs: number }) => {
      const lab = Lab.attach(o.name);
      await (cmd === 'reboot' ? lab.reboot(target, { offMs: o.offMs }) : lab.crash(target, { offMs: o.offMs }));
      out(`${target}: ${cmd === 'reboot' ? 'rebooted' : 'crashed and booted'}`);
    });
}

program
  .command('nfs-datastore')
  .description('make a datastore of an ESXi host NFS-mounted (a folder, its name, an esx.conf record the esxcli shim lists)')
  .argument('<target>', 'esxi-N')
  .argument('<datastore>', 'datastore name, e.g. zbs-nfs')
  .addOption(nameOpt())
  .option('--server <ip>', 'NFS server', '192.168.33.2')
  .option('--v41', 'an NFS 4.1 mount (esxcli storage nfs41 list, type NFS41)')
  .action((target: string, datastore: string, o: { name: string; server: string; v41?: boolean }) => {
    const uuid = addNfsDatastore(Lab.attach(o.name), target, datastore, { server: o.server, version: o.v41 ? '4.1' : '3' });
    out(`${target}: datastore ${datastore} (/vmfs/volumes/${uuid}) mounted over NFS ${o.v41 ? '4.1' : 'v3'} from ${o.server}`);
  });

program
  .command('rotate-hostkey')
  .description('give a host new SSH host keys')
  .argument('<target>', 'esxi-N (or scvm-N)')
  .addOption(nameOpt())
  .action(async (target: string, o: { name: string }) => {
    await Lab.attach(o.name).rotateHostKey(target);
    out(`${target}: host keys rotated`);
  });

program
  .command('exec')
  .description('run a command inside ctl, esxi-N or scvm-N (as its sshd would)')
  .argument('<target>')
  .argument('<command...>')
  .addOption(nameOpt())
  .option('--user <user>', 'SCVM user (e.g. smartx)')
  .option('--timeout-ms <ms>', 'kill the command after this long', (v) => Number(v), 600_000)
  .option('--stdin', "pass this command's standard input to the remote command")
  .action(async (target: string, command: string[], o: { name: string; user?: string; timeoutMs: number; stdin?: boolean }) => {
    const input = o.stdin ? fs.readFileSync(0, 'utf8') : undefined;
    const r = await Lab.attach(o.name).exec(target, command.join(' '), { user: o.user, timeoutMs: o.timeoutMs, input });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    process.exitCode = r.code;
  });

program
  .command('shell')
  .description('interactive ssh session from the controller into esxi-N (root) or scvm-N (smartx)')
  .argument('<target>')
  .addOption(nameOpt())
  .option('--user <user>', 'login user (default root on ESXi, smartx on SCVMs)')
  .action(async (target: string, o: { name: string; user?: string }) => {
    const lab = Lab.attach(o.name);
    const { ip, user } = lab.sshTarget(target, o.user);
    const child = spawn('ip', ['netns', 'exec', lab.controller.ns, '/usr/bin/ssh', '-F', lab.sshConfigPath, `${user}@${ip}`], {
      stdio: 'inherit',
    });
    process.exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  });

program
  .command('manifest')
  .description('print a cluster manifest for this lab')
  .addOption(nameOpt())
  .option('--cluster-name <name>', 'metadata.name')
  .action((o: { name: string; clusterName?: string }) => {
    process.stdout.write(Lab.attach(o.name).manifest({ clusterName: o.clusterName }));
  });

program
  .command('io')
  .description("print each ESXi host's IO-probe summary and route changes as JSON")
  .addOption(nameOpt())
  .option('--since-ms <epochMs>', 'ignore records before this time', (v) => Number(v))
  .action((o: { name: string; sinceMs?: number }) => {
    out(JSON.stringify(Lab.attach(o.name).io(o.sinceMs), null, 2));
  });

program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    if (e instanceof LabError) {
      process.stderr.write(`lab: ${e.message}\n  fix: ${e.fix}\n`);
    } else {
      process.stderr.write(`lab: ${(e as Error).stack ?? String(e)}\n`);
    }
    process.exit(1);
  },
);
