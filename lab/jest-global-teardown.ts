/**
 * Jest global teardown for the lab project: removes every lab that a test
 * process of this jest run created (by registry owner), even when tests
 * failed or forgot lab.stop(). Labs started by people or by other jest runs
 * are left alone.
 */
import { Lab } from './lab';
import { readRegistry } from './registry';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default async function teardown(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (const name of Lab.list()) {
    let reg;
    try {
      reg = readRegistry(name);
    } catch {
      continue;
    }
    const mine = reg.owner.pid === process.pid || reg.owner.ppid === process.pid;
    const orphaned = !alive(reg.owner.pid) && !alive(reg.owner.ppid);
    if (reg.owner.jest && (mine || orphaned)) {
      try {
        await Lab.down(name);
      } catch (e) {
        process.stderr.write(`lab teardown: could not remove lab ${name}: ${(e as Error).message}\n`);
      }
    }
  }
}
