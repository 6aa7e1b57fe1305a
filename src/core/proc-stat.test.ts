import { parseProcStat, readProcStat } from './proc-stat';

describe('/proc/PID/stat reading', () => {
  test('a command name with spaces and parentheses does not shift the fields after it', () => {
    const line = '4242 (sh (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 12 34 56 78 20 0 1 0 987654 2000000 300';
    expect(parseProcStat(line)).toEqual({
      comm: 'sh (x) y',
      state: 'S',
      ppid: 17,
      utime: 12,
      stime: 34,
      cutime: 56,
      cstime: 78,
      startTime: '987654',
    });
  });

  test('this process reads as itself; a line without a command name is no stat', () => {
    expect(readProcStat(process.pid)?.ppid).toBe(process.ppid);
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});
