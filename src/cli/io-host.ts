import pc from 'picocolors';
import { secretFreeJson } from '../core/secret-free-json';

/**
 * The engine never prints: commands hand messages to an IoHost, which decides
 * how (and whether) they reach the terminal. In --json mode stdout carries the
 * one JSON result and nothing else; progress and warnings go to stderr.
 */
export interface IoHost {
  readonly json: boolean;
  readonly color: boolean;
  /** Progress and notes for humans (stderr in --json mode). */
  info(message: string): void;
  warn(message: string): void;
  /** The command's main output: text for humans, or the JSON document. */
  result(text: string, json?: unknown): void;
  /** Ask a yes/no question; resolves false when there is no terminal to ask on. */
  confirm(question: string): Promise<boolean>;
  /** Ask for a secret without echoing it; undefined when there is no terminal to ask on. */
  readonly askSecret?: (question: string) => Promise<string>;
}

/** Reads one line from the terminal with echo off (a password must not appear on screen or in scrollback). */
async function askSecretOnTty(question: string, stderr: NodeJS.WriteStream): Promise<string> {
  const stdin = process.stdin;
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (chunk: Buffer): void => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            stderr.write('\n');
            resolve(value);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new Error('cancelled at the password prompt'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

export interface IoHostOptions {
  json: boolean;
  /** --no-color given */
  noColor: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}

/** Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org) or --no-color. */
export function colorEnabled(opts: { noColor: boolean; isTty: boolean; env: NodeJS.ProcessEnv }): boolean {
  if (opts.noColor) return false;
  if (opts.env.NO_COLOR !== undefined && opts.env.NO_COLOR !== '') return false;
  if (opts.env.FORCE_COLOR !== undefined && opts.env.FORCE_COLOR !== '0') return true;
  return opts.isTty;
}

export function createConsoleIoHost(opts: IoHostOptions): IoHost {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const env = opts.env ?? process.env;
  const color = !opts.json && colorEnabled({ noColor: opts.noColor, isTty: Boolean(stdout.isTTY), env });
  const human = opts.json ? stderr : stdout;
  const paint = pc.createColors(color);
  return {
    json: opts.json,
    color,
    info: (m) => human.write(`${m}\n`),
    warn: (m) => stderr.write(`${paint.yellow('warning:')} ${m}\n`),
    result: (text, json) => {
      if (opts.json) stdout.write(secretFreeJson(json, 'result', 2));
      else stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    ...(process.stdin.isTTY ? { askSecret: (q: string) => askSecretOnTty(q, stderr) } : {}),
    confirm: async (question) => {
      if (!process.stdin.isTTY) return false;
      const readline = await import('node:readline/promises');
      const rl = readline.createInterface({ input: process.stdin, output: stderr });
      try {
        const answer = await rl.question(`${question} Only 'yes' will be accepted: `);
        return answer.trim() === 'yes';
      } finally {
        rl.close();
      }
    },
  };
}
