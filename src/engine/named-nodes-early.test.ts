import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineIo, EngineMessage } from './engine-io';
import { Reconciler } from './reconciler';

/**
 * A mistyped node name is refused as soon as the manifest is read: before a credential is resolved
 * and before any host is contacted. The manifest's credentials name an unset environment variable,
 * so a check that came later would fail on the credential instead, never on the network.
 */
describe('node names are checked before anything is contacted', () => {
  const root = path.resolve(__dirname, '../..');
  let dir: string;
  let file: string;
  const messages: EngineMessage[] = [];
  const io: EngineIo = { emit: (m) => messages.push(m), confirm: async () => false };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-named-nodes-'));
    file = path.join(dir, 'cluster.yaml');
    const text = fs.readFileSync(path.join(root, 'examples/cluster-3node.yaml'), 'utf8');
    fs.writeFileSync(
      file,
      text.replace(/credential: \{ keyFile: ~\/\.ssh\/id_rsa \}/g, 'credential: { passwordEnv: ZR_TEST_UNSET_PASSWORD }'),
    );
    delete process.env.ZR_TEST_UNSET_PASSWORD;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => messages.splice(0));

  const engine = () => new Reconciler(io, path.join(dir, 'state'));

  test.each([
    ['plan --destroy --force-host', () => engine().plan({ file, destroy: true, forceHost: ['node-9'] }), '--force-host names no node'],
    ['plan --target', () => engine().plan({ file, target: ['node-1', 'nod-2'] }), '--target names no node'],
    ['preflight --target', () => engine().preflight({ file, target: ['node-7'] }), '--target names no node'],
    [
      'destroy --force-host',
      () => engine().apply({ file, mode: 'destroy', forceHost: ['node-9'], commandLine: 'reroute destroy --force-host node-9' }),
      '--force-host names no node',
    ],
  ])('%s with a name outside the manifest: USAGE, nothing observed', async (_what, run, message) => {
    await expect(run()).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining(message) });
    expect(messages.filter((m) => m.code === 'OBSERVE_START')).toEqual([]);
  });

  test('the same command with known names gets past the check (and stops at the unset credential)', async () => {
    await expect(engine().plan({ file, destroy: true, forceHost: ['node-1'] })).rejects.toMatchObject({
      message: expect.stringContaining('ZR_TEST_UNSET_PASSWORD'),
    });
  });
});
