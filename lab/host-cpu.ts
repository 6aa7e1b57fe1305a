/**
 * CPU times from /proc/PID/stat, for benchmarks that must tell the tool's cost from the lab's: on
 * a 2-core lab every host's commands share the same two cores, so a 64-node observe is slower
 * than a 1-node one even when the tool's own cost per host is flat. A host's sshd listener reaps
 * every session it forked, and each session reaps its commands, so the listener's own CPU plus
 * its reaped children's grows by exactly the CPU of the SSH sessions that ended (Lab.sshCpuMs).
 * Commands a session left running in the background (the agent loop) are reparented to the
 * host's init and are not counted until they exit.
 */
import { CLK_TCK, parseProcStat, readProcStat, type ProcStat } from '../src/core/proc-stat';

export { CLK_TCK };

export interface ProcTimes {
  /** user+sys of the process itself, seconds */
  self: number;
  /** user+sys of its waited-for children (cutime+cstime), seconds */
  children: number;
}

function times(st: ProcStat | undefined): ProcTimes {
  return { self: ((st?.utime ?? 0) + (st?.stime ?? 0)) / CLK_TCK, children: ((st?.cutime ?? 0) + (st?.cstime ?? 0)) / CLK_TCK };
}

/** The times in one /proc/PID/stat line (whose command name may hold spaces and parentheses). */
export function parseProcTimes(stat: string): ProcTimes {
  return times(parseProcStat(stat));
}

/** utime+stime and cutime+cstime of a pid (seconds); undefined when it is gone. */
export function procTimes(pid: number): ProcTimes | undefined {
  const st = readProcStat(pid);
  return st ? times(st) : undefined;
}
