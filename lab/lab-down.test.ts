/**
 * `down` removes exactly what the lab created: no namespace, process, link
 * or mount is left behind, nothing is added to the root namespace, and a
 * registry naming anything else is refused.
 */
import * as fs from 'node:fs';
import { Lab } from './lab';
import { run, runOk } from './proc';
import { labDir, readRegistry, writeRegistry } from './registry';
import { testLabName } from './test-support';
import { describeLab } from '../test/support/describe-lab';

jest.setTimeout(180_000);

async function rootLinks(): Promise<string[]> {
  return (await runOk('ip', ['-o', 'link', 'show']))
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim().split('@')[0]!)
    .sort();
}

async function rootRoutes(): Promise<string> {
  return runOk('ip', ['route', 'show', 'table', 'all']);
}

function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) out.push(`${p}: ${cmd}`);
    } catch {
      // exited while we looked
    }
  }
  return out;
}

describeLab('lab down', () => {
  test('leaves no namespace, process, link, mount or state behind, and never touched the root namespace', async () => {
    const linksBefore = await rootLinks();
    const routesBefore = await rootRoutes();
    const name = testLabName('down');
    const lab = await Lab.start({ nodes: 2, name });
    const dir = labDir(name);
    expect(processesMentioning(dir).length).toBeGreaterThan(4);
    expect(await rootLinks()).toEqual(linksBefore);
    expect(await rootRoutes()).toEqual(routesBefore);
    // Labs with the same address plan run side by side without seeing each other.
    expect((await lab.exec('ctl', 'ip -o addr show eth0')).stdout).toContain('10.10.0.250/24');

    await lab.stop();
    const ns = (await runOk('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith(`zrl-${name}-`));
    expect(ns).toEqual([]);
    expect(processesMentioning(dir)).toEqual([]);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    expect(fs.existsSync(dir)).toBe(false);
    expect(await rootLinks()).toEqual(linksBefore);
    expect(await rootRoutes()).toEqual(routesBefore);
  });

  test('refuses a registry that lists a namespace outside the lab, and leaves that namespace alone', async () => {
    const name = testLabName('refuse');
    const lab = await Lab.start({ nodes: 1, name, services: false });
    const foreign = `zrs-foreign-${process.pid % 100000}`;
    await runOk('ip', ['netns', 'add', foreign]);
    try {
      const reg = readRegistry(name);
      writeRegistry({ ...reg, namespaces: [...reg.namespaces, foreign] });
      await expect(Lab.down(name)).rejects.toThrow(/foreign namespace/);
      expect((await runOk('ip', ['netns', 'list'])).split('\n').some((l) => l.startsWith(foreign))).toBe(true);
      writeRegistry(reg);
      await lab.stop();
    } finally {
      await run('ip', ['netns', 'delete', foreign]);
    }
  });

  test('a second lab with the same name is refused while its creator runs; replaceStale replaces an orphan', async () => {
    const name = testLabName('dup');
    let lab = await Lab.start({ nodes: 1, name, services: false });
    try {
      await expect(Lab.start({ nodes: 1, name, services: false })).rejects.toThrow(/already exists/);
      await expect(Lab.start({ nodes: 1, name, services: false, replaceStale: true })).rejects.toThrow(/already exists/);
      // Pretend the creator died (pid 0x7ffffff0 does not exist).
      const reg = readRegistry(name);
      writeRegistry({ ...reg, owner: { ...reg.owner, pid: 0x7ffffff0 } });
      const oldInit = reg.pids['esxi-1:init'];
      lab = await Lab.start({ nodes: 1, name, services: false, replaceStale: true });
      expect(readRegistry(name).pids['esxi-1:init']).not.toBe(oldInit);
      expect(Lab.attach(name).nodes[0]!.esxi.mgmtIp).toBe('10.10.0.11');
    } finally {
      await lab.stop();
    }
  });
});
