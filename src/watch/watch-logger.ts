import * as fs from 'node:fs';
import * as path from 'node:path';
import pc from 'picocolors';
import winston from 'winston';
import { Sensitive } from '../core/sensitive';

/** winston's formatted-output key (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

/** Field names whose values are secrets whatever they hold. */
const SECRET_KEY = /pass(word|phrase)?|secret|token|private.?key|credential/i;
/** Secret material that may hide inside any string (a plan action, a remote stderr line). */
const SECRET_TEXT: [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '(redacted private key)'],
  [/\b(password|passphrase)\s*[=:]\s*\S+/gi, '$1=(redacted)'],
];
const REDACTED = '(redacted)';

export function redactText(s: string): string {
  let out = s;
  for (const [re, by] of SECRET_TEXT) out = out.replace(re, by);
  return out;
}

/** A deep copy with secrets replaced; bounded depth so a cyclic or huge object cannot hang logging. */
export function redactValue(v: unknown, key = '', depth = 0): unknown {
  if (v instanceof Sensitive) return REDACTED;
  if (key !== '' && SECRET_KEY.test(key) && v !== undefined && v !== null && typeof v !== 'boolean') return REDACTED;
  if (typeof v === 'string') return redactText(v);
  if (Buffer.isBuffer(v)) return `(${v.length} bytes)`;
  if (v === null || typeof v !== 'object') return v;
  if (depth > 8) return '(nested)';
  if (Array.isArray(v)) return v.map((x) => redactValue(x, '', depth + 1));
  if (v instanceof Error) return { name: v.name, message: redactText(v.message) };
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactValue(x, k, depth + 1);
  return out;
}

/**
 * Logger-level redaction: every transport sees the record only after this ran,
 * so no code path (a new log call, an error message echoing a remote file) can
 * leak a key or password to the console or the JSON file.
 */
export const redactFormat = winston.format((info) => {
  for (const k of Object.keys(info)) {
    if (k === 'level') continue;
    (info as Record<string, unknown>)[k] = redactValue((info as Record<string, unknown>)[k], k === 'message' ? '' : k);
  }
  return info;
});

export interface WatchLoggerOptions {
  /** JSON lines go to <stateDir>/watch.log. */
  stateDir: string;
  /** Human lines; stdout by default. */
  console?: NodeJS.WritableStream;
  color: boolean;
  /** Console level; the file always records debug and up. */
  level?: 'debug' | 'info' | 'warn' | 'error';
}

export const WATCH_LOG_FILE = 'watch.log';

function humanFormat(color: boolean) {
  const paint = pc.createColors(color);
  const tint: Record<string, (s: string) => string> = { error: paint.red, warn: paint.yellow, info: (s) => s, debug: paint.dim };
  return winston.format((info) => {
    const ts = String(info.timestamp ?? '').replace(/\.\d+Z$/, 'Z');
    const level = String(info.level);
    const text = `${paint.dim(ts)} ${(tint[level] ?? ((s: string) => s))(level.padEnd(5))} ${String(info.message)}`;
    (info as Record<string | symbol, unknown>)[MESSAGE] = text;
    return info;
  })();
}

export function createWatchLogger(opts: WatchLoggerOptions): winston.Logger {
  const file = path.join(opts.stateDir, WATCH_LOG_FILE);
  // The file may record host names and reasons an operator should not have to share with everyone.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  return winston.createLogger({
    level: 'debug',
    format: winston.format.combine(redactFormat(), winston.format.timestamp()),
    transports: [
      new winston.transports.Stream({
        stream: opts.console ?? process.stdout,
        level: opts.level ?? 'info',
        format: humanFormat(opts.color),
      }),
      new winston.transports.File({
        filename: file,
        level: 'debug',
        format: winston.format.json(),
        maxsize: 16 * 1024 * 1024,
        maxFiles: 2,
        tailable: true,
      }),
    ],
  });
}

/** Wait until every transport has written what it was given (before the process exits). */
export function closeLogger(logger: winston.Logger): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 3000);
    logger.on('finish', () => {
      clearTimeout(t);
      // The file transport finishes its stream slightly after the logger's own finish.
      setTimeout(resolve, 50);
    });
    logger.end();
  });
}
