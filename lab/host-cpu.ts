/**
 * CPU a simulated host spent on SSH work, for benchmarks that must tell the tool's cost from the
 * lab's: on a 2-core lab every host's commands share the same two cores, so a 64-node observe is
 * slower than a 1-node one even when the tool's own cost per host is flat. A host's sshd listener
 * reaps every session it forked, and each session reaps its commands, so the listener's own CPU
 * plus its reaped children's (utime + stime + cutime + cstime) grows by exactly the CPU of the
 * SSH sessions that ended. Commands a session left running in the background (the agent loop) are
 * reparented to the host's init and are not counted until they exit.
 */
import * as fs from 'node:fs';

/** Fields 14-17 of /proc/PID/stat (after the command name, which may hold spaces), in clock ticks. */
export function statCpuTicks(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14 → rest[11].
  const ticks = [11, 12, 13, 14].map((i) => Number(rest[i]));
  return ticks.every((t) => Number.isFinite(t)) ? ticks.reduce((a, b) => a + b, 0) : undefined;
}

/** Linux's USER_HZ: 100 on every architecture the lab runs on. */
const TICK_MS = 10;

/** CPU milliseconds of PID and its reaped descendants; undefined when the process is gone. */
export function processTreeCpuMs(pid: number): number | undefined {
  try {
    const t = statCpuTicks(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return t === undefined ? undefined : t * TICK_MS;
  } catch {
    return undefined;
  }
}
