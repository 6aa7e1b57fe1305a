import * as fs from 'node:fs';
import * as path from 'node:path';
import { requiredCommands } from './required-commands';

const AGENT = fs.readFileSync(path.resolve(__dirname, '../../esxi/agent/reroute-loop.sh'), 'utf8');

describe('requiredCommands', () => {
  it('sees the commands the agent runs through exec and setsid, and the session list cap', () => {
    const r = requiredCommands([{ name: 'agent', text: AGENT }], { sessionSource: 'rest' });
    const byName = new Map(r.map((c) => [c.name, c]));
    for (const n of ['wget', 'dd', 'sh', 'esxcfg-route', 'ping']) expect(byName.get(n)?.optional).toBeUndefined();
    expect(byName.get('ssh')?.optional).toMatch(/ssh session source/);
    expect(byName.get('setsid')?.optional).toMatch(/plain sh -c/);
  });
});
