/**
 * CPU times from /proc/PID/stat, for benchmarks that must tell the tool's cost from the lab's: on
 * a 2-core lab every host's commands share the same two cores, so a 64-node observe is slower
 * than a 1-node one even when the tool's own cost per host is flat. A host's sshd listener reaps
 * every session it forked, and each session reaps its commands, so the listener's own CPU plus
 * its reaped children's grows by exactly the CPU of the SSH sessions that ended (Lab.sshCpuMs).
 * Commands a session left running in the background (the agent loop) are reparented to the
 * host's init and are not counted until they exit.
 */
import * as fs from 'node:fs';

/** Linux's USER_HZ: 100 on every architecture the lab runs on. */
export const CLK_TCK = 100;

export interface ProcTimes {
  /** user+sys of the process itself, seconds */
  self: number;
  /** user+sys of its waited-for children (cutime+cstime), seconds */
  children: number;
}

/** The times in one /proc/PID/stat line (whose command name may hold spaces and parentheses). */
export function parseProcTimes(stat: string): ProcTimes {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  const n = (i: number) => Number(f[i] ?? 0);
  return { self: (n(11) + n(12)) / CLK_TCK, children: (n(13) + n(14)) / CLK_TCK };
}

/** utime+stime and cutime+cstime of a pid (seconds); undefined when it is gone. */
export function procTimes(pid: number): ProcTimes | undefined {
  try {
    return parseProcTimes(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}
