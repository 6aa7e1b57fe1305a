import { RerouteError } from '../errors/reroute-error';
import { secretFreeJson } from './secret-free-json';

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

describe('secret-free JSON: the one way JSON leaves the tool', () => {
  test('prints the value as JSON, indented with a final newline or compact for one-line records', () => {
    expect(secretFreeJson({ a: [1, 'x'] }, 'output', 2)).toBe('{\n  "a": [\n    1,\n    "x"\n  ]\n}\n');
    expect(secretFreeJson({ a: 1 }, 'journal entry')).toBe('{"a":1}');
    expect(secretFreeJson(undefined, 'output', 2)).toBe('null\n');
  });

  test('refuses private key material anywhere in the value, naming where it is and not printing it', () => {
    let err: unknown;
    try {
      secretFreeJson({ hosts: [{ actions: [{ content: KEY }] }] }, 'result', 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RerouteError);
    expect((err as RerouteError).message).toBe(
      'Refusing to output the result: result.hosts[0].actions[0].content holds private key material',
    );
    expect(JSON.stringify(err)).not.toContain('b3BlbnNzaC1rZXkt');
  });
});
