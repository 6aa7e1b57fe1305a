/**
 * One lab's registry as every part of the lab shares it: its topology, the
 * pids it tracks and the faults it records. Several processes work on the
 * same lab (a test, the CLI next to it), so the file on disk is the truth and
 * this object only caches it.
 */
import * as path from 'node:path';
import { LabError } from './proc';
import { readRegistry, updateRegistry, type Registry } from './registry';
import { parseTarget, topologyOf, type LabNode, type LabTopology } from './lab-topology';

export class LabState implements LabTopology {
  readonly name: string;
  readonly dir: string;
  readonly nodes: LabNode[];
  readonly controller: { ns: string; ip: string };
  readonly operatorKeyPath: string;
  readonly clusterFile: string;
  readonly switchNs: string;
  reg: Registry;

  constructor(reg: Registry) {
    this.reg = reg;
    const t = topologyOf(reg);
    this.name = t.name;
    this.dir = t.dir;
    this.nodes = t.nodes;
    this.controller = t.controller;
    this.operatorKeyPath = t.operatorKeyPath;
    this.clusterFile = t.clusterFile;
    this.switchNs = t.switchNs;
  }

  get config(): Registry['config'] {
    return this.reg.config;
  }

  /**
   * Every registry change is a synchronous read-modify-write of the file, so
   * concurrent operations (two reboots in parallel, or the CLI next to a
   * test) never overwrite each other's pids or faults.
   */
  mutate(fn: (reg: Registry) => void): void {
    this.reg = updateRegistry(this.name, fn);
  }

  /**
   * Picks up changes other processes made (the CLI rebooting a host while a
   * test holds this object): every public operation that changes the lab
   * starts from the registry on disk.
   */
  reload(): void {
    this.reg = readRegistry(this.name);
  }

  pid(key: string): number | undefined {
    return this.reg.pids[key];
  }

  setPid(key: string, pid: number): void {
    this.mutate((r) => {
      r.pids[key] = pid;
    });
  }

  dropPids(keys: string[]): void {
    this.mutate((r) => {
      for (const k of keys) delete r.pids[k];
    });
  }

  faultActive(name: string, target: string): boolean {
    return this.reg.faults.some((f) => f.name === name && f.target === target);
  }

  addFault(name: string, target: string): void {
    this.mutate((r) => {
      r.faults = r.faults.filter((f) => !(f.name === name && f.target === target));
      r.faults.push({ name, target, since: new Date().toISOString() });
    });
  }

  removeFault(name: string, target: string): void {
    this.mutate((r) => {
      r.faults = r.faults.filter((f) => !(f.name === name && f.target === target));
    });
  }

  node(target: string, kind: 'esxi' | 'scvm'): LabNode {
    const t = parseTarget(target);
    const node = this.nodes[t.index - 1];
    if (t.kind !== kind || node === undefined)
      throw new LabError(`${target} is not a ${kind} of lab ${this.name} (1..${this.nodes.length})`);
    return node;
  }

  /** Per-host files outside its root (sshd config, logs, the pristine /etc): the host cannot see or change them. */
  hostDir(target: string): string {
    return path.join(this.dir, target);
  }
}
