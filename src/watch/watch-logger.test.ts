import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { Sensitive } from '../core/sensitive';
import { closeLogger, createWatchLogger, redactValue, WATCH_LOG_FILE } from './watch-logger';

const KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecret\n-----END RSA PRIVATE KEY-----';

describe('watch logger', () => {
  it('redacts secret fields, Sensitive values and key material inside any string', () => {
    const v = redactValue({
      host: 'node-1',
      password: 'hunter2',
      nested: { privateKey: 'x', note: `stderr: ${KEY} tail` },
      s: new Sensitive('pw'),
      list: ['passphrase=abc'],
    }) as Record<string, unknown>;
    const text = JSON.stringify(v);
    expect(text).not.toMatch(/hunter2|MIIE|abc"|pw"/);
    expect(v.host).toBe('node-1');
    expect(text).toContain('(redacted private key)');
  });

  it('writes human lines to the console and one JSON object per event to <state>/watch.log, both redacted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'watch-log-'));
    const out = new PassThrough();
    let console = '';
    out.on('data', (c: Buffer) => (console += c.toString()));
    const logger = createWatchLogger({ stateDir: dir, console: out, color: false });
    logger.warn(`node-1 (esxi) drift: crontab: crontab line missing ${KEY}`, {
      event: 'drift-found',
      host: 'node-1',
      item: 'crontab',
      reason: 'crontab line missing',
      password: 'hunter2',
    });
    logger.debug('debug only in the file', { event: 'x' });
    await closeLogger(logger);
    expect(console).toMatch(/warn\s+node-1 \(esxi\) drift: crontab/);
    expect(console).not.toContain('debug only');
    const lines = fs
      .readFileSync(path.join(dir, WATCH_LOG_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      event: 'drift-found',
      host: 'node-1',
      item: 'crontab',
      reason: 'crontab line missing',
      password: '(redacted)',
    });
    expect(lines[1]).toMatchObject({ level: 'debug', event: 'x' });
    const all = fs.readFileSync(path.join(dir, WATCH_LOG_FILE), 'utf8') + console;
    expect(all).not.toMatch(/hunter2|MIIE/);
    expect(fs.statSync(path.join(dir, WATCH_LOG_FILE)).mode & 0o777).toBe(0o600);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
