import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { RerouteError } from '../errors/reroute-error';
import { planCluster } from '../plan/plan-cluster';
import type { Plan } from '../plan/plan-types';
import { fixtureDesired, fixtureManifest, freshEsxi, freshScvm, observedCluster, PLAN_OPTS } from '../../test/support/plan-fixtures';
import { checkSavedPlanFresh, readSavedPlan, savePlan } from './saved-plan';

/**
 * `reroute apply PLANFILE` executes the plan it computes now and only accepts
 * the saved one if it is the same: any hand edit or a change on the hosts must
 * be refused. The lab test (test/e2e/takeover-drain-target.test.ts) proves it
 * through the CLI for one content edit and one host change; this proves it for
 * every kind of edit, at random places in the plan.
 */
const m = fixtureManifest(3);
const observed = observedCluster(
  Object.fromEntries(m.nodes.map((n) => [n.name, freshEsxi(n.name)])),
  Object.fromEntries(m.nodes.map((n) => [n.name, freshScvm(n.name)])),
);
const fresh: Plan = planCluster(fixtureDesired(m), observed, { mode: 'apply', ...PLAN_OPTS });
const savedJson = JSON.stringify(fresh, null, 2);

function refusal(saved: unknown): string | undefined {
  return refusalOf(saved)?.code;
}

function refusalError(saved: unknown): string | undefined {
  return refusalOf(saved)?.message;
}

function refusalOf(saved: unknown): RerouteError | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrb-saved-plan-'));
  try {
    const file = path.join(dir, 'plan.json');
    fs.writeFileSync(file, typeof saved === 'string' ? saved : JSON.stringify(saved));
    checkSavedPlanFresh(readSavedPlan(file), fresh);
    return undefined;
  } catch (err) {
    if (!(err instanceof RerouteError)) throw err;
    return err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value inside `hosts`, so an edit can land anywhere in what apply would do. */
function pathsOf(v: Json, at: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...at, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...at, k]));
  return out;
}

function mutate(doc: { hosts: Json }, at: Array<string | number>, kind: number, value: Json): void {
  if (at.length === 0) {
    doc.hosts = value;
    return;
  }
  let parent: Json = doc.hosts;
  for (const seg of at.slice(0, -1)) parent = (parent as Record<string, Json>)[seg as string] as Json;
  const key = at[at.length - 1] as string | number;
  const holder = parent as Record<string | number, Json>;
  const old = holder[key];
  if (kind === 0) holder[key] = value;
  else if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete holder[key];
  // An edit that happens to change nothing is not an edit.
  if (kind === 0 && JSON.stringify(old) === JSON.stringify(value)) holder[key] = typeof old === 'string' ? `${old}x` : 'changed';
}

describe('saved plans', () => {
  it('the plan as saved is accepted', () => {
    expect(refusal(savedJson)).toBeUndefined();
  });

  it('any hand edit of a host plan (a changed, removed or added value anywhere) is refused', () => {
    const paths = pathsOf(JSON.parse(savedJson).hosts as Json);
    expect(paths.length).toBeGreaterThan(100);
    fc.assert(
      fc.property(fc.nat(paths.length - 1), fc.nat(1), fc.jsonValue({ maxDepth: 2 }), (i, kind, value) => {
        const doc = JSON.parse(savedJson) as { hosts: Json };
        mutate(doc, paths[i]!, kind, value as Json);
        expect(['PLAN_STALE', 'PLAN_INVALID']).toContain(refusal(doc));
      }),
      { numRuns: 400 },
    );
  });

  it('specific edits an operator might try are refused: a route action smuggled in, an action dropped, two hosts swapped, the agent content changed', () => {
    const edits: Array<(p: Plan) => void> = [
      (p) => p.hosts[0]!.actions.push({ op: 'delete-route', network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.101' }),
      (p) => p.hosts.find((h) => h.host === 'esxi')!.actions.pop(),
      (p) => p.hosts.reverse(),
      (p) => {
        const w = p.hosts.flatMap((h) => h.actions).find((a) => a.op === 'write-file' && a.path.endsWith('reroute-loop.sh'));
        if (w?.op === 'write-file') w.content = `${w.content ?? ''}\nreboot\n`;
      },
      (p) => {
        p.hosts[0]!.observedFingerprint = 'f'.repeat(64);
      },
      (p) => {
        p.manifestSha256 = '0'.repeat(64);
      },
      (p) => {
        p.hosts = [];
      },
    ];
    for (const [i, edit] of edits.entries()) {
      const p = JSON.parse(savedJson) as Plan;
      edit(p);
      expect({ i, code: refusal(p) }).toEqual({ i, code: expect.stringMatching(/^PLAN_(STALE|INVALID)$/) });
    }
  });

  it('an action edited to hold a key named like an object method (toString, valueOf, __proto__) is stale, not a crash', () => {
    for (const key of ['toString', 'valueOf', '__proto__']) {
      const doc = JSON.parse(savedJson) as { hosts: { actions: Record<string, unknown>[] }[] };
      const host = doc.hosts.find((h) => h.actions.length > 0)!;
      // Same number of keys as before, one renamed: the shape that made fast-deep-equal call the
      // edited object's own toString. JSON.parse keeps __proto__ as an own key, as reading a file does.
      const [first, ...rest] = Object.keys(host.actions[0]!);
      const edited = JSON.parse(
        JSON.stringify({ ...Object.fromEntries(rest.map((k) => [k, host.actions[0]![k]])), KEY: {} }).replace('"KEY"', JSON.stringify(key)),
      );
      expect(Object.keys(edited)).toHaveLength(rest.length + 1);
      expect(first).toBeDefined();
      host.actions[0] = edited as Record<string, unknown>;
      expect({ key, code: refusal(doc) }).toEqual({ key, code: 'PLAN_STALE' });
    }
  });

  it('a plan made before the hosts changed is stale, naming the changed host', () => {
    const later = planCluster(
      fixtureDesired(m),
      { ...observed, esxi: { ...observed.esxi, 'node-2': { ...freshEsxi('node-2'), crontab: '# edited\n' } } },
      { mode: 'apply', ...PLAN_OPTS },
    );
    try {
      checkSavedPlanFresh(JSON.parse(savedJson) as Plan, later);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toMatchObject({ code: 'PLAN_STALE', message: expect.stringContaining('node-2 (esxi)') });
    }
  });

  it('a file that is not a plan is refused as PLAN_INVALID: truncated, not JSON, empty, another format, hosts not a list', () => {
    for (const text of [
      savedJson.slice(0, savedJson.length / 2),
      'not json',
      '',
      '{"format":"zbs-reroute/plan-v9","hosts":[]}',
      '{"format":"zbs-reroute/plan-v2","hosts":{}}',
      'null',
      '[]',
    ]) {
      expect({ text: text.slice(0, 30), code: refusal(text) }).toEqual({ text: text.slice(0, 30), code: 'PLAN_INVALID' });
    }
  });

  it('a plan-v1 file (reasons as text, from an older release) is refused with the fix: plan again', () => {
    const old = JSON.parse(savedJson) as Record<string, unknown>;
    old.format = 'zbs-reroute/plan-v1';
    expect(refusal(JSON.stringify(old))).toBe('PLAN_INVALID');
    expect(refusalError(JSON.stringify(old))).toMatch(/plan-v1 file, made by an older zbs-reroute/);
  });

  it('plan --out refuses to write a plan carrying private key material, and writes no file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrb-saved-plan-'));
    try {
      const leaky: Plan = structuredClone(fresh);
      leaky.hosts[0]!.actions.push({
        op: 'write-file',
        path: '/x',
        mode: '0600',
        sha256: 'a',
        content: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n',
      });
      const file = path.join(dir, 'plan.json');
      expect(() => savePlan(file, leaky)).toThrow(/private key material/);
      expect(fs.existsSync(file)).toBe(false);
      savePlan(file, fresh);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a saved plan whose keys were reordered (jq, an editor) is still the same plan', () => {
    const reorder = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reorder)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .reverse()
                .map(([k, x]) => [k, reorder(x)]),
            )
          : v;
    const shuffled = reorder(JSON.parse(savedJson)) as Plan;
    expect(JSON.stringify(shuffled)).not.toBe(JSON.stringify(JSON.parse(savedJson)));
    expect(() => checkSavedPlanFresh(shuffled, fresh)).not.toThrow();
  });
});
