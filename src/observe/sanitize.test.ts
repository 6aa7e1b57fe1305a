import fc from 'fast-check';
import { sanitizeForDisplay } from './sanitize';

describe('sanitizeForDisplay', () => {
  it('leaves ordinary text, tabs, newlines and non-ASCII alone', () => {
    expect(sanitizeForDisplay('1 * * * * /sbin/tmpwatch.py\tok\n节点-1 ✓')).toBe('1 * * * * /sbin/tmpwatch.py\tok\n节点-1 ✓');
  });

  it('turns escape sequences into visible text so they cannot drive the terminal', () => {
    expect(sanitizeForDisplay('a\u001b[2Jb\u001b]0;title\u0007c')).toBe('a\\x1b[2Jb\\x1b]0;title\\x07c');
  });

  it('neutralises carriage returns, backspaces, C1 CSI and DEL that could overwrite what was shown', () => {
    expect(sanitizeForDisplay('safe\rEVIL\b\u009b31m\u007f')).toBe('safe\\rEVIL\\x08\\x9b31m\\x7f');
  });

  it('neutralises bidi overrides and invisible characters (Trojan Source)', () => {
    expect(sanitizeForDisplay('ab\u202ecd\u2066\u200b')).toBe('ab\\u202ecd\\u2066\\u200b');
  });

  it('escapes newlines in one-line mode and cuts to a maximum length', () => {
    expect(sanitizeForDisplay('a\nb', { multiline: false })).toBe('a\\nb');
    expect(sanitizeForDisplay('abcdef', { maxLength: 3 })).toBe('abc…');
  });

  it('escapes lone surrogates but keeps real pairs', () => {
    expect(sanitizeForDisplay('x\ud800y😀')).toBe('x\\ud800y😀');
  });

  it('never leaves a control character other than tab/newline in its output', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const out = sanitizeForDisplay(s);
        // eslint-disable-next-line no-control-regex -- matching control characters is the point
        expect(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(out)).toBe(false);
      }),
    );
  });
});
