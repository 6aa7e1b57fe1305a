/**
 * The lab: a simulated ZBS-on-ESXi cluster of real SSH hosts in network
 * namespaces (issue 3). See lab/README.md for what it models and what not.
 *
 * Nothing here ever adds an address, route or link to the root namespace:
 * veths are created directly inside lab namespaces, and every namespace and
 * process is recorded in the lab's registry before `down` may remove it.
 *
 * This class is the one entry point tests, benchmarks and the CLI use; the
 * work is done by the lab-*.ts modules it delegates to, all sharing one
 * LabState (lab-state.ts).
 */
import * as path from 'node:path';
import type { HostIoSummary } from './services/io-summary';
import { LinkFaults, type LinkFaultSpec } from './lab-netem';
import { listLabNames, readRegistry, type ActiveFault } from './registry';
import { execIn, execInOk, type ExecOptions, type ExecResult } from './lab-exec';
import { setFault, type FaultName } from './lab-faults-table';
import {
  activeFaults,
  hostPublicKeys,
  ioSummaries,
  labStatus,
  nfsRoute,
  routeAudit,
  sshCpuMs,
  sshTarget,
  waitForIo,
  type LabStatus,
  type NfsRouteView,
  type RouteAuditEntry,
} from './lab-inspect';
import { downLab, startLab } from './lab-lifecycle';
import { labManifest } from './lab-manifest';
import { restartEsxi, rotateHostKey } from './lab-power';
import { LabState } from './lab-state';
import type { LabNode, LabOptions } from './lab-topology';

export { LabError } from './proc';
export { FAULTS, type FaultName } from './lab-faults-table';
export { DEFAULT_SCVM_VERSION, type EsxiHost, type LabNode, type LabOptions, type ScvmHost } from './lab-topology';
export type { ExecOptions, ExecResult } from './lab-exec';
export type { LabStatus, NfsRouteView, RouteAuditEntry, TargetStatus } from './lab-inspect';

export class Lab {
  readonly name: string;
  readonly dir: string;
  readonly nodes: LabNode[];
  readonly controller: { ns: string; ip: string };
  readonly operatorKeyPath: string;
  readonly clusterFile: string;
  readonly switchNs: string;
  private readonly s: LabState;
  private readonly linkFaults: LinkFaults;

  private constructor(s: LabState) {
    this.s = s;
    this.name = s.name;
    this.dir = s.dir;
    this.nodes = s.nodes;
    this.controller = s.controller;
    this.operatorKeyPath = s.operatorKeyPath;
    this.clusterFile = s.clusterFile;
    this.switchNs = s.switchNs;
    this.linkFaults = new LinkFaults({ name: this.name, dir: this.dir, switchNs: this.switchNs, nodes: this.nodes });
  }

  // ---------------------------------------------------------------- lifecycle (lab-lifecycle.ts)

  static async start(opts: LabOptions): Promise<Lab> {
    return new Lab(await startLab(opts));
  }

  /** Re-opens a running lab (the CLI between commands, or another process). */
  static attach(name = 'lab'): Lab {
    return new Lab(new LabState(readRegistry(name)));
  }

  static list(): string[] {
    return listLabNames();
  }

  async stop(): Promise<void> {
    await Lab.down(this.name);
  }

  /**
   * Removes a lab: kills every process in its namespaces (they would outlive
   * the namespace otherwise), deletes the namespaces it lists, then its state
   * directory. Refuses namespaces that are not this lab's.
   */
  static async down(name: string): Promise<void> {
    await downLab(name);
  }

  // ---------------------------------------------------------------- exec (lab-exec.ts)

  /**
   * Runs a shell command inside a host the way its sshd would: same network,
   * pid and mount namespaces, chrooted, busybox sh. `ctl` runs on the real
   * root file system inside the controller namespace with `reroute` on PATH.
   */
  async exec(target: string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return execIn(this.s, target, command, opts);
  }

  /** exec that throws on a non-zero exit and returns stdout. */
  async execOk(target: string, command: string, opts: ExecOptions = {}): Promise<string> {
    return execInOk(this.s, target, command, opts);
  }

  // ---------------------------------------------------------------- faults (lab-faults-table.ts)

  get faults(): ActiveFault[] {
    return activeFaults(this.s);
  }

  async fault(name: FaultName | string, target: string): Promise<void> {
    await setFault(this.s, name, target, true);
  }

  async heal(name: FaultName | string, target: string): Promise<void> {
    await setFault(this.s, name, target, false);
  }

  // ---------------------------------------------------------------- link faults (lab-netem.ts)

  /** Loss/delay/jitter in both directions of `<host>:<net>` (or `all`), replacing the link's previous ones. */
  linkFault(link: string, f: LinkFaultSpec): Promise<void> {
    return this.linkFaults.fault(link, f);
  }

  /** The link's switch port goes down for downS, up for upS, until healed (at most an hour). */
  linkFlap(link: string, downS: number, upS: number): Promise<void> {
    return this.linkFaults.flap(link, downS, upS);
  }

  /** Hosts a and b (esxi-N / scvm-N) stop reaching each other on every network. */
  partition(a: string, b: string): Promise<void> {
    return this.linkFaults.partition(a, b);
  }

  /** Heals one link (and its host's partitions), one host's links, or every link fault. */
  healLinks(link?: string): Promise<void> {
    return this.linkFaults.heal(link);
  }

  // ---------------------------------------------------------------- power (lab-power.ts)

  /**
   * Reboots an ESXi host: auto-backup at shutdown (not on crash), power off,
   * optional time off, then boot (ramdisk wiped, /etc restored from
   * state.tgz, persistent routes re-added, local.sh run, sshd and crond).
   */
  async reboot(target: string, opts: { offMs?: number } = {}): Promise<void> {
    await restartEsxi(this.s, target, false, opts.offMs ?? 0);
  }

  async crash(target: string, opts: { offMs?: number } = {}): Promise<void> {
    await restartEsxi(this.s, target, true, opts.offMs ?? 0);
  }

  /** New host keys (persisted through auto-backup, as ESXi would), sshd restarted to serve them. */
  async rotateHostKey(target: string): Promise<void> {
    await rotateHostKey(this.s, target);
  }

  // ---------------------------------------------------------------- ssh access

  /** ssh config used by `ssh` in the controller namespace (lab key, pinned host keys). */
  get sshConfigPath(): string {
    return path.join(this.dir, 'ctl', 'ssh_config');
  }

  /** known_hosts with every host's keys as of lab start (mgmt and storage IPs). */
  get knownHostsPath(): string {
    return path.join(this.dir, 'ctl', 'known_hosts');
  }

  /** Where an operator would ssh to reach a target: its management IP and default user. */
  sshTarget(target: string, user?: string): { ip: string; user: string } {
    return sshTarget(this.s, target, user);
  }

  /** The host's current public host keys, as `type base64` lines. */
  hostPublicKeys(target: string): string[] {
    return hostPublicKeys(this.s, target);
  }

  // ---------------------------------------------------------------- reports (lab-inspect.ts, lab-manifest.ts)

  status(): LabStatus {
    return labStatus(this.s, this.linkFaults);
  }

  /**
   * CPU milliseconds each host's sshd listener and its reaped sessions have spent so far (lab/host-cpu.ts);
   * a benchmark takes the difference around one CLI run to tell the hosts' share of a step.
   */
  sshCpuMs(): Record<string, number> {
    return sshCpuMs(this.s);
  }

  /** Which SCVM (and which of its addresses) this ESXi's 192.168.33.2 route goes to now. */
  nfsRoute(node: LabNode): NfsRouteView {
    return nfsRoute(this.s, node);
  }

  /** Per ESXi host: the IO probe's summary (served-by timeline, gaps, route changes). */
  io(sinceMs?: number): Record<string, HostIoSummary> {
    return ioSummaries(this.s, sinceMs);
  }

  /**
   * Every route change made with the ESXi route shims on this host since it
   * was created (kept across reboots; ad-hoc `ip route` changes are not
   * shims and are not listed: the IO monitor sees those).
   */
  routeAudit(target: string, sinceMs = 0): RouteAuditEntry[] {
    return routeAudit(this.s, target, sinceMs);
  }

  /**
   * Polls the IO summaries (every 200 ms) until `check` accepts them; fails
   * with the last summaries' served-by map after timeoutMs.
   */
  async waitForIo(
    what: string,
    check: (io: Record<string, HostIoSummary>) => boolean,
    opts: { timeoutMs?: number; sinceMs?: number } = {},
  ): Promise<Record<string, HostIoSummary>> {
    return waitForIo(this.s, what, check, opts);
  }

  /** A cluster manifest (the shape of examples/cluster-3node.yaml) for this lab. */
  manifest(opts: { clusterName?: string } = {}): string {
    return labManifest(this.s, opts);
  }
}
