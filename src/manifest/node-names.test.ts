import { RerouteError } from '../errors/reroute-error';
import { checkNodeNames } from './node-names';

describe('node names given on the command line', () => {
  const known = ['node-1', 'node-2'];

  test('names of the manifest, or no names at all, pass', () => {
    expect(() => checkNodeNames('c1', known, { '--target': ['node-2'], '--force-host': ['node-1'] })).not.toThrow();
    expect(() => checkNodeNames('c1', known, { '--target': [], '--force-host': undefined })).not.toThrow();
  });

  test('a name outside the manifest is a usage error naming the flag, the unknown names and the known ones', () => {
    let err: unknown;
    try {
      checkNodeNames('c1', known, { '--target': ['node-1'], '--force-host': ['node-3', 'nod-1'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RerouteError);
    expect(err).toMatchObject({ code: 'USAGE', message: '--force-host names no node of cluster c1: node-3, nod-1' });
    expect((err as RerouteError).fix).toBe('Use node names from the manifest: node-1, node-2.');
  });
});
