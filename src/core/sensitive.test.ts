import { format, inspect } from 'node:util';
import { Sensitive, reveal } from './sensitive';

describe('Sensitive', () => {
  const secret = 'hunter2-TOPSECRET';
  const s = new Sensitive(secret);

  it('hides the value from every ordinary way of printing it', () => {
    expect(String(s)).toBe('(sensitive)');
    expect(`${s}`).toBe('(sensitive)');
    expect(JSON.stringify({ password: s })).toBe('{"password":"(sensitive)"}');
    expect(inspect({ nested: { s } }, { depth: 10, showHidden: true })).not.toContain(secret);
    expect(format('%s %o %O %j', s, s, s, s)).not.toContain(secret);
    expect(Object.keys(s)).toEqual([]);
  });

  it('hides a Buffer secret too', () => {
    const key = new Sensitive(Buffer.from('-----BEGIN RSA PRIVATE KEY-----'));
    expect(inspect(key, { showHidden: true })).not.toContain('BEGIN');
    expect(JSON.stringify([key])).toBe('["(sensitive)"]');
  });

  it('gives the value back only through reveal()', () => {
    expect(s.reveal()).toBe(secret);
    expect(reveal(s)).toBe(secret);
    expect(reveal('plain')).toBe('plain');
    expect(reveal(undefined)).toBeUndefined();
  });
});
