import { execFileSync } from 'node:child_process';
import { parseProcTimes, procTimes } from './host-cpu';

describe('CPU times from /proc/PID/stat', () => {
  test('reads utime+stime and cutime+cstime after a command name with spaces and parentheses', () => {
    const stat = '1234 (sshd: a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 20 10 20 0 1 0 500 0 0';
    expect(parseProcTimes(stat)).toEqual({ self: 0.1, children: 0.3 });
  });

  test('a shell that ran a busy child counts the child once it was reaped', () => {
    const out = execFileSync('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done & wait; cat /proc/$$/stat'], {
      encoding: 'utf8',
    });
    const t = parseProcTimes(out);
    expect(t.self + t.children).toBeGreaterThan(0);
    const own = procTimes(process.pid);
    expect((own?.self ?? 0) + (own?.children ?? 0)).toBeGreaterThan(0);
    expect(procTimes(2 ** 22 + 1)).toBeUndefined();
  });
});
