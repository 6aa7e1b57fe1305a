/**
 * Jest global teardown for the lab project: removes every lab that a test
 * process of this jest run created (by registry owner), even when tests
 * failed or forgot lab.stop(). Labs started by people or by other jest runs
 * are left alone. LAB_KEEP=1 keeps them all, to look at a failure.
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
  // Someone asked to look at what the run left (test/support/lab-cluster.ts says which labs).
  if (process.env.LAB_KEEP === '1') return;
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
