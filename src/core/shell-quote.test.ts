import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { RerouteError } from '../errors/reroute-error';
import { shellCommand, shellQuote } from './shell-quote';

const shells: Array<{ name: string; argv: string[] }> = [{ name: '/bin/sh', argv: ['/bin/sh'] }];
if (existsSync('/bin/busybox')) shells.push({ name: 'busybox sh', argv: ['/bin/busybox', 'sh'] });

/** Run `script` with `shell -c` and return stdout as raw bytes. */
function runShell(argv: string[], script: string): Buffer {
  const [cmd, ...rest] = argv as [string, ...string[]];
  const r = spawnSync(cmd, [...rest, '-c', script], { env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' }, timeout: 5000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`shell exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Characters a shell treats specially, plus unicode, mixed into fuzzed strings. */
const hostileChar = fc.oneof(
  fc.constantFrom(
    "'",
    '"',
    '$',
    '`',
    '\\',
    '\n',
    '\r',
    '\t',
    ' ',
    '(',
    ')',
    ';',
    '&',
    '|',
    '*',
    '?',
    '~',
    '!',
    '#',
    '{',
    '}',
    '[',
    ']',
    '<',
    '>',
    '=',
    '%',
    '-',
    '\u00e9',
    '\u65e5',
    '\u{1F600}',
    '\u200b',
    '\x1b',
    '\x7f',
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
);
const hostileString = fc.string({ unit: hostileChar, maxLength: 40 }).filter((s) => !s.includes('\0'));
const hostileFragments = fc
  .array(
    fc.constantFrom('$(touch /tmp/zrr-pwned)', '`id`', "'; rm -rf / #", '${HOME}', '$((1+1))', "\\'", "''", '"$x"', 'a=b', '~root', '*'),
    { maxLength: 4 },
  )
  .map((xs) => xs.join(''));

describe('shellQuote', () => {
  it('leaves plain words bare so logged commands stay readable', () => {
    expect(shellQuote('/vmfs/volumes/ds1/zbs-reroute/reroute-loop.sh')).toBe('/vmfs/volumes/ds1/zbs-reroute/reroute-loop.sh');
    expect(shellQuote('192.168.33.2')).toBe('192.168.33.2');
  });

  it("single-quotes anything else and escapes embedded quotes as '\\''", () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('$(id)')).toBe("'$(id)'");
    expect(shellQuote('A=b')).toBe("'A=b'");
    expect(shellQuote('~root')).toBe("'~root'");
  });

  it('refuses a value holding a NUL byte with a RerouteError', () => {
    expect(() => shellQuote('a\0b')).toThrow(RerouteError);
    try {
      shellQuote('a\0b');
    } catch (e) {
      expect((e as RerouteError).code).toBe('INTERNAL');
      expect((e as RerouteError).fix).not.toBe('');
    }
  });

  it('refuses to build an empty command', () => {
    expect(() => shellCommand([])).toThrow(RerouteError);
  });

  it('joins quoted words with single spaces', () => {
    expect(shellCommand(['mv', '-f', 'a b', "c'd"])).toBe("mv -f 'a b' 'c'\\''d'");
  });

  for (const shell of shells) {
    describe(`round trip through ${shell.name}`, () => {
      it('echoes fuzzed strings (quotes, newlines, $(), backticks, unicode) byte for byte', () => {
        fc.assert(
          fc.property(fc.oneof(hostileString, hostileFragments), (input) => {
            const out = runShell(shell.argv, `printf %s ${shellQuote(input)}`);
            expect(out.equals(Buffer.from(input, 'utf8'))).toBe(true);
          }),
          { numRuns: 150 },
        );
      });

      it('keeps every word of a shellCommand separate and intact', () => {
        fc.assert(
          fc.property(fc.array(hostileString, { minLength: 1, maxLength: 5 }), (words) => {
            // printf repeats its format for each argument, so each word arrives framed by '<' '>'.
            const out = runShell(shell.argv, shellCommand(['printf', '<%s>', ...words]));
            expect(out.toString('utf8')).toBe(words.map((w) => `<${w}>`).join(''));
          }),
          { numRuns: 80 },
        );
      });

      it('never runs an embedded command substitution', () => {
        const marker = `/tmp/zrr-shellquote-${process.pid}`;
        const input = `$(touch ${marker})\`touch ${marker}\`;touch ${marker}`;
        runShell(shell.argv, `printf %s ${shellQuote(input)} >/dev/null`);
        expect(existsSync(marker)).toBe(false);
      });
    });
  }
});
