/**
 * One /proc/PID/stat line as Linux writes it (proc(5)). The command name (field 2) sits in
 * parentheses and may itself hold spaces and parentheses, so the fields after it are counted from
 * the last ')'. The one reader of that line for the state lock, the lab and the benchmarks.
 */
import { readFileSync } from 'node:fs';

/** Linux's USER_HZ (clock ticks per second of the time fields): 100 on every architecture we run on. */
export const CLK_TCK = 100;

export interface ProcStat {
  /** the command name, without its parentheses */
  comm: string;
  state: string;
  ppid: number;
  /** clock ticks (CLK_TCK) of the process itself in user and kernel mode */
  utime: number;
  stime: number;
  /** clock ticks of its waited-for children */
  cutime: number;
  cstime: number;
  /** field 22, ticks since boot: with the pid, tells one process from a later one with the same pid */
  startTime: string;
}

export function parseProcStat(line: string): ProcStat | undefined {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // After "(comm) ": state(0) ppid(1) pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime(11) stime(12) cutime(13) cstime(14) priority nice threads itrealvalue starttime(19)
  const f = line.slice(close + 2).split(' ');
  const n = (i: number) => Number(f[i] ?? 0);
  return {
    comm: line.slice(open + 1, close),
    state: f[0] ?? '',
    ppid: n(1),
    utime: n(11),
    stime: n(12),
    cutime: n(13),
    cstime: n(14),
    startTime: f[19] ?? '',
  };
}

/** The stat of a live pid; undefined when it is gone (or not on Linux). */
export function readProcStat(pid: number | string): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}
