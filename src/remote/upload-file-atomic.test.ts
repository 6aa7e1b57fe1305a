import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RerouteError } from '../errors/reroute-error';
import { LocalShellHost } from './local-shell-host';
import type { ExecOptions, ExecResult, RemoteHost } from './ssh-connection';
import { UPLOAD_TEMP_PATTERN, uploadFileAtomic } from './upload-file-atomic';

const shells: Array<[string, string[]]> = [['/bin/sh', ['/bin/sh']]];
if (existsSync('/bin/busybox')) shells.push(['busybox sh', ['/bin/busybox', 'sh']]);

describe.each(shells)('uploadFileAtomic through %s', (_name, shell) => {
  let dir: string;
  let host: LocalShellHost;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'zrr-upload-'));
    host = new LocalShellHost(shell);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the exact bytes with the requested mode and reports their sha256', async () => {
    const path = join(dir, 'reroute.conf');
    const content = Buffer.from("NODE_NAME='esxi-1'\nNFS_ADDRESS='192.168.33.2'\n");
    const r = await uploadFileAtomic(host, path, content, 0o600);
    expect(readFileSync(path).equals(content)).toBe(true);
    expect(statSync(path).mode & 0o7777).toBe(0o600);
    expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.bytes).toBe(content.length);
  });

  it('replaces an existing file and leaves no temp file behind', async () => {
    const path = join(dir, 'reroute-loop.sh');
    writeFileSync(path, 'old');
    await uploadFileAtomic(host, path, Buffer.from('#!/bin/sh\nreroute_version=1.2.3\n'), 0o700);
    expect(readFileSync(path, 'utf8')).toBe('#!/bin/sh\nreroute_version=1.2.3\n');
    expect(readdirSync(dir)).toEqual(['reroute-loop.sh']);
  });

  it('carries binary content (NUL bytes, no trailing newline) unchanged', async () => {
    const path = join(dir, 'blob');
    const content = Buffer.from([0, 1, 2, 255, 0, 10, 13, 39, 36]);
    await uploadFileAtomic(host, path, content, 0o644);
    expect(readFileSync(path).equals(content)).toBe(true);
  });

  it('handles paths with spaces, quotes and $ safely', async () => {
    const sub = join(dir, "it's a $(dir)");
    mkdirSync(sub);
    const path = join(sub, 'f `x`');
    await uploadFileAtomic(host, path, Buffer.from('ok'), 0o600);
    expect(readFileSync(path, 'utf8')).toBe('ok');
  });

  it('reports the system reason when the directory is missing, and creates nothing', async () => {
    const path = join(dir, 'missing', 'x');
    const err = await uploadFileAtomic(host, path, Buffer.from('x'), 0o600).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RerouteError);
    expect((err as RerouteError).code).toBe('REMOTE_COMMAND_FAILED');
    expect((err as RerouteError).message).toMatch(/writing the temp file/);
    expect((err as RerouteError).message).toMatch(/(No such file|nonexistent|can't create)/i);
  });

  it('refuses to move a copy whose hash does not match, leaving the old target', async () => {
    const path = join(dir, 'keys');
    writeFileSync(path, 'old');
    const corrupting: RemoteHost = {
      exec: (cmd: string, o?: ExecOptions): Promise<ExecResult> => host.exec(cmd, { ...o, stdin: Buffer.from('tampered') }),
      close: () => host.close(),
    };
    const err = await uploadFileAtomic(corrupting, path, Buffer.from('new'), 0o600).catch((e: unknown) => e);
    expect((err as RerouteError).code).toBe('VERIFY_FAILED');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir).filter((n) => UPLOAD_TEMP_PATTERN.test(n))).toEqual([]);
  });
});

describe('uploadFileAtomic input checks', () => {
  const never: RemoteHost = { exec: () => Promise.reject(new Error('must not run')), close: () => undefined };
  it.each(['relative/path', '/a/../b', '/a/b/', '/a//b'])('refuses the non-canonical path %s before running anything', async (p) => {
    await expect(uploadFileAtomic(never, p, Buffer.from(''), 0o600)).rejects.toBeInstanceOf(RerouteError);
  });
  it('refuses an impossible mode', async () => {
    await expect(uploadFileAtomic(never, '/a', Buffer.from(''), 0o17777)).rejects.toBeInstanceOf(RerouteError);
  });
});
