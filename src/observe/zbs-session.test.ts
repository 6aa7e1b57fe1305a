import {
  findLocalSession,
  parseSessionClients,
  refreshAddressCommand,
  sameClientIps,
  sessionListCommand,
  sessionShowCommand,
} from './zbs-session';

// The layout of the lab's `zbs-meta` (python-tabulate "simple", as SMTX OS CLIs print tables).
const LIST = [
  'UUID                                  Ip             Port    Cid  Secondary_data_ip    Zone     Machine UUID                        ',
  '------------------------------------  -----------  ------  -----  -------------------  -------  ------------------------------------',
  '9aa5bdd5-1cbc-4672-bd44-d39fa3f3a1b7  10.20.0.101   10201      1  10.10.0.101          default  cb802985-0c54-479a-a0b5-70d9de040d15',
  '7bc26e9b-17d3-47fa-b1ba-1527fd4974c9  10.20.0.102   10201      2  10.10.0.102          default  55f633bd-d1b9-4775-9bb0-9f23313cca4d',
  '',
].join('\n');

const show = (clients: string) =>
  [
    'UUID                                  Ip             Port    Cid  Secondary_data_ip    Zone     Machine UUID                          Local_clients_ips',
    '------------------------------------  -----------  ------  -----  -------------------  -------  ------------------------------------  ---------------------',
    `7bc26e9b-17d3-47fa-b1ba-1527fd4974c9  10.20.0.102   10201      2  10.10.0.102          default  55f633bd-d1b9-4775-9bb0-9f23313cca4d  ${clients}`,
    '',
  ].join('\n');

describe("finding the SCVM's own session in zbs-meta session list", () => {
  it('picks the row whose Ip is the SCVM storage IP', () => {
    expect(findLocalSession(LIST, '10.20.0.102')).toEqual({ sessionId: '7bc26e9b-17d3-47fa-b1ba-1527fd4974c9' });
  });

  it('tolerates tabulate borders', () => {
    const grid = LIST.split('\n')
      .map((l) => (l.trim() === '' ? l : `| ${l} |`))
      .join('\n');
    expect(findLocalSession(grid, '10.20.0.101')).toEqual({ sessionId: '9aa5bdd5-1cbc-4672-bd44-d39fa3f3a1b7' });
  });

  it('says why when the SCVM is not listed (access unhealthy) or the output is not a table', () => {
    expect(findLocalSession(LIST, '10.20.0.103')).toEqual({ problem: expect.stringMatching(/no session of 10\.20\.0\.103/) });
    expect(findLocalSession('Failed to connect to meta\n', '10.20.0.101')).toEqual({
      problem: expect.stringMatching(/no UUID\/Ip header/),
    });
  });
});

describe('reading local_clients_ips from zbs-meta session show', () => {
  it('reads the Local_clients_ips column, empty when none are registered', () => {
    expect(parseSessionClients(show('10.10.0.12,10.20.0.12'))).toEqual({ localClientsIps: ['10.10.0.12', '10.20.0.12'] });
    expect(parseSessionClients(show(''))).toEqual({ localClientsIps: [] });
  });

  it('reads an unaligned table by counting columns', () => {
    expect(parseSessionClients('UUID  Local_clients_ips\n----  -----------------\n1111-node-1  10.20.0.11\n')).toEqual({
      localClientsIps: ['10.20.0.11'],
    });
  });

  it('also reads a key: value layout', () => {
    expect(parseSessionClients('session_id: 7bc2\nlocal_clients_ips: 10.10.0.12, 10.20.0.12\n')).toEqual({
      localClientsIps: ['10.10.0.12', '10.20.0.12'],
    });
  });

  it('refuses output without the field or with garbage in it', () => {
    expect(parseSessionClients('nothing here\n')).toEqual({ problem: expect.stringMatching(/no local_clients_ips/) });
    expect(parseSessionClients(show('$(reboot)'))).toEqual({ problem: expect.stringMatching(/not a list of IPv4/) });
  });
});

describe('commands', () => {
  it('run zbs-meta through sudo -n, quoting every word', () => {
    expect(sessionListCommand({ sudo: true })).toBe('sudo -n zbs-meta session list');
    expect(sessionShowCommand({ sudo: false }, '7bc26e9b-17d3-47fa-b1ba-1527fd4974c9')).toBe(
      'zbs-meta session show 7bc26e9b-17d3-47fa-b1ba-1527fd4974c9',
    );
    expect(refreshAddressCommand({ sudo: true }, 'abc-1', ['10.10.0.12', '10.20.0.12'])).toBe(
      'sudo -n zbs-meta session refresh_address abc-1 10.10.0.12,10.20.0.12',
    );
  });

  it('refuse a session id or address that could smuggle shell text', () => {
    expect(() => sessionShowCommand({ sudo: true }, 'a;reboot')).toThrow(/not a session id/);
    expect(() => refreshAddressCommand({ sudo: true }, 'abc', ['10.0.0.1;id'])).toThrow(/not IPv4/);
    expect(() => refreshAddressCommand({ sudo: true }, 'abc', [])).toThrow(/not IPv4/);
  });
});

it('compares client IP lists as sets', () => {
  expect(sameClientIps(['a', 'b'], ['b', 'a', 'a'])).toBe(true);
  expect(sameClientIps(['a'], ['a', 'b'])).toBe(false);
});
