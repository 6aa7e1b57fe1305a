import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireStateLock } from '../state/state-lock';
import { main } from './main';

/**
 * The LOCK_HELD message tells the operator to run `reroute force-unlock <id>`;
 * the reliability review found the command did not exist. It removes the lock
 * only when the id matches the one the message showed.
 */
describe('reroute force-unlock', () => {
  let dir: string;
  let out: string;
  let spies: jest.SpyInstance[];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrb-unlock-'));
    out = '';
    const capture = (chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    };
    spies = [
      jest.spyOn(process.stdout, 'write').mockImplementation(capture),
      jest.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
    process.exitCode = undefined;
  });
  afterEach(() => {
    for (const s of spies) s.mockRestore();
    process.exitCode = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('removes the lock named in the LOCK_HELD message, and the next apply could take it', async () => {
    acquireStateLock(dir, { command: 'reroute apply -f dead.yaml', releaseOnExit: false });
    let held = '';
    try {
      acquireStateLock(dir, { command: 'second' });
    } catch (err) {
      held = `${(err as Error).message} ${(err as { fix: string }).fix}`;
    }
    const id = /reroute force-unlock (\S+)`/.exec(held)?.[1];
    expect(id).toBeDefined();
    expect(await main(['node', 'reroute', '--state', dir, 'force-unlock', id!])).toBe(0);
    expect(out).toContain('reroute apply -f dead.yaml');
    expect(fs.existsSync(path.join(dir, 'apply.lock'))).toBe(false);
    acquireStateLock(dir, { command: 'next', releaseOnExit: false }).release();
  });

  it('refuses a wrong id and leaves the lock', async () => {
    acquireStateLock(dir, { command: 'reroute apply', releaseOnExit: false });
    expect(await main(['node', 'reroute', '--state', dir, 'force-unlock', 'not-the-id'])).toBe(1);
    expect(out).toContain('does not match');
    expect(fs.existsSync(path.join(dir, 'apply.lock'))).toBe(true);
  });
});
