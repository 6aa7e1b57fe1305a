import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../errors/reroute-error';
import { loadManifest } from './manifest-load';
import { MANIFEST_MAX_BYTES } from './manifest-parse';

const opts = { bundledVersion: '1.0.0' };
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-load-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function loadError(file: string): InputError {
  try {
    loadManifest(file, opts);
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error(`${file} was accepted`);
}

function write(name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

describe('loadManifest', () => {
  it('reads and validates a manifest file, recording the path it was given', () => {
    const file = path.join(__dirname, '..', '..', 'examples', 'cluster-3node.yaml');
    expect(loadManifest(file, opts)).toMatchObject({ source: file, clusterName: 'prod-a' });
  });

  it('reports a missing file as MANIFEST_NOT_FOUND at 1:1', () => {
    const file = path.join(dir, 'nope.yaml');
    const err = loadError(file);
    expect(err.code).toBe('MANIFEST_NOT_FOUND');
    expect(err.problems).toEqual([expect.objectContaining({ file, line: 1, col: 1, rule: 'file.not-found' })]);
  });

  it('reports a path through a regular file as not found', () => {
    const file = write('plain.txt', 'x');
    expect(loadError(path.join(file, 'cluster.yaml')).code).toBe('MANIFEST_NOT_FOUND');
  });

  it('refuses a directory', () => {
    const err = loadError(dir);
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.problems[0]).toMatchObject({ rule: 'file.is-directory', line: 1, col: 1 });
  });

  it('refuses an empty file and a whitespace-only file', () => {
    expect(loadError(write('empty.yaml', '')).problems[0]!.rule).toBe('file.empty');
    expect(loadError(write('blank.yaml', '\n  \n\t\n')).problems[0]!.rule).toBe('file.empty');
  });

  it('refuses bytes that are not UTF-8 text', () => {
    const err = loadError(write('junk.yaml', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe])));
    expect(err.problems[0]).toMatchObject({ rule: 'file.binary', line: 1, col: 1 });
  });

  it('refuses valid UTF-8 that holds NUL bytes, pointing at the first one', () => {
    const err = loadError(write('nul.yaml', 'apiVersion: zbs-reroute/v1\nkind: \u0000\n'));
    expect(err.problems[0]).toMatchObject({ rule: 'file.binary', line: 2, col: 7 });
  });

  it('refuses a file over 1 MiB without parsing it', () => {
    const err = loadError(write('big.yaml', `# ${'x'.repeat(MANIFEST_MAX_BYTES)}\n`));
    expect(err.problems[0]!.rule).toBe('file.too-large');
  });

  it('refuses a file it cannot read', () => {
    // root reads anything; the permission check only means something for other users.
    if (process.getuid?.() === 0) return;
    const file = write('secret.yaml', 'apiVersion: zbs-reroute/v1\n');
    fs.chmodSync(file, 0o000);
    expect(loadError(file).problems[0]!.rule).toBe('file.unreadable');
  });
});
