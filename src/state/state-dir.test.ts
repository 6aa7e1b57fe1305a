import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import { ensureStateDir, statePaths } from './state-dir';

describe('state folder', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'zrr-statedir-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('lays out its files under one root', () => {
    const p = statePaths('/x/state');
    expect(p).toEqual({ root: '/x/state', knownHosts: '/x/state/known_hosts', privateKey: '/x/state/reroute_id_rsa', publicKey: '/x/state/reroute_id_rsa.pub', lock: '/x/state/apply.lock', journal: '/x/state/apply-journal.jsonl' });
  });

  it('creates the folder 0700 and tightens a looser existing one', () => {
    const a = join(root, 'a', 'state');
    ensureStateDir(a);
    expect(statSync(a).mode & 0o777).toBe(0o700);
    const b = join(root, 'b');
    mkdirSync(b);
    chmodSync(b, 0o755);
    ensureStateDir(b);
    expect(statSync(b).mode & 0o777).toBe(0o700);
  });

  it('refuses a file in the way with a USAGE error', () => {
    const f = join(root, 'file');
    writeFileSync(f, '');
    expect(() => ensureStateDir(f)).toThrow(RerouteError);
  });
});
