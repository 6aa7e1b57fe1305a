import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IoHost } from '../io-host';
import { runPlan } from './plan-command';

/** An offline plan (--observed) cannot run preflight's checks: it says so above the actions, in text and JSON. */
describe('plan --observed and preflight', () => {
  const root = path.resolve(__dirname, '../../..');
  let state: string;
  beforeAll(() => {
    state = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-plan-offline-'));
  });
  afterAll(() => fs.rmSync(state, { recursive: true, force: true }));

  test('the plan says the checks were not run, and why', async () => {
    const out: Array<{ text: string; json: unknown }> = [];
    const io: IoHost = {
      json: false,
      color: false,
      info: () => undefined,
      warn: () => undefined,
      result: (text, json) => out.push({ text, json }),
      confirm: async () => false,
    };
    const code = await runPlan(io, {
      file: path.join(root, 'examples/cluster-3node.yaml'),
      observed: path.join(root, 'test/fixtures/snapshots/fresh-3node.json'),
      stateDir: state,
    });
    expect(code).toBe(0);
    const [r] = out;
    expect(r?.text).toMatch(/^Checks: not run \(offline plan from --observed; `reroute preflight` checks the hosts\)\.$/m);
    expect(r?.text.indexOf('Checks:')).toBeLessThan(r?.text.search(/^ {2}[+~-] /m) ?? 0);
    expect((r?.json as { preflight?: { notRun?: string } }).preflight?.notRun).toContain('offline');
  });

  test('with the rest session source no cluster key is wanted, so no placeholder-key warning and no key file in the plan', async () => {
    const warnings: string[] = [];
    const out: unknown[] = [];
    const io: IoHost = {
      json: false,
      color: false,
      info: () => undefined,
      warn: (m) => warnings.push(m),
      result: (_t, json) => out.push(json),
      confirm: async () => false,
    };
    const code = await runPlan(io, {
      file: path.join(root, 'examples/cluster-3node.yaml'),
      observed: path.join(root, 'test/fixtures/snapshots/fresh-3node.json'),
      stateDir: state,
    });
    expect(code).toBe(0);
    expect(warnings.filter((w) => /keypair|placeholder/.test(w))).toEqual([]);
    const plan = out[0] as { hosts: Array<{ actions: Array<{ op: string; path?: string; entry?: string }> }> };
    const actions = plan.hosts.flatMap((h) => h.actions);
    expect(actions.filter((a) => a.op === 'write-file' && /\/keys\//.test(a.path ?? '')).map((a) => a.path)).toEqual([]);
    expect(actions.filter((a) => a.op === 'authorized-key-add')).toEqual([]);
  });
});
