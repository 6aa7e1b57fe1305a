import { execFileSync } from 'node:child_process';
import { processTreeCpuMs, statCpuTicks } from './host-cpu';

describe('host CPU from /proc/PID/stat', () => {
  test('sums utime, stime, cutime and cstime after a command name with spaces and parentheses', () => {
    const stat = '1234 (sshd: a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 20 10 20 0 1 0 500 0 0';
    expect(statCpuTicks(stat)).toBe(7 + 3 + 20 + 10);
  });

  test('a shell that ran a busy child counts the child once it was reaped', () => {
    const out = execFileSync('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done & wait; cat /proc/$$/stat'], { encoding: 'utf8' });
    expect(statCpuTicks(out)).toBeGreaterThan(0);
    expect(processTreeCpuMs(process.pid)).toBeGreaterThan(0);
    expect(processTreeCpuMs(2 ** 22 + 1)).toBeUndefined();
  });
});
