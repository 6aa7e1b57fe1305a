import type { EsxiFacts, FetchOnce } from './parse-preflight-output';
import { parseFetchOnce, parseScvmFacts } from './parse-preflight-output';
import { blockingFailures, preflightChecks, zbsVersionProblems, type NodeFacts, type PreflightContext } from './preflight-checks';
import type { PreflightCheck } from './preflight-types';

const FS_TABLE = [
  { mountPoint: '/vmfs/volumes/aaa', volume: 'datastore1', uuid: 'aaa', mounted: true, type: 'VMFS-6', sizeBytes: 100e9, freeBytes: 50e9 },
  { mountPoint: '/vmfs/volumes/bbb', volume: 'zbs-ds', uuid: 'bbb', mounted: true, type: 'NFS', sizeBytes: 1e12, freeBytes: 5e11 },
];

function facts(over: Partial<EsxiFacts> = {}): EsxiFacts {
  return {
    complete: true,
    problems: [],
    now: 1000,
    nowEnd: 1002,
    version: { ok: true, value: { major: 7, minor: 0, patch: 3, build: '19193900', text: 'VMware ESXi 7.0.3 build-19193900' }, raw: '' },
    commands: new Map([
      ['tr', '/bin/tr'],
      ['wget', '/bin/wget'],
      ['ssh', '/bin/ssh'],
      ['openssl', '/bin/openssl'],
    ]),
    busybox: { ok: true, value: new Set(['tr', 'wget']), raw: '' },
    firewall: {
      ok: true,
      value: new Map([
        ['httpClient', true],
        ['sshClient', false],
      ]),
      raw: '',
    },
    nfs: { ok: true, value: [{ volume: 'zbs-ds', host: '192.168.33.2', share: '/zbs', accessible: true, mounted: true }], raw: '' },
    nfs41: { ok: true, value: [], raw: '' },
    filesystems: { ok: true, value: FS_TABLE, raw: '' },
    secureBoot: { ok: true, value: 'disabled', raw: '' },
    localShMode: '-rwxr-xr-t',
    autoBackupMode: '-r-xr-xr-x',
    datastoreMode: 'drwxr-xr-t',
    agentKeyPresent: false,
    crondAlive: true,
    ...over,
  };
}

const CTX: PreflightContext = {
  nfsAddress: '192.168.33.2',
  sessionSource: 'rest',
  agentSshUser: 'smartx',
  operatorUser: 'smartx',
  scvms: [
    { node: 'node-1', storageIp: '10.20.0.101' },
    { node: 'node-2', storageIp: '10.20.0.102' },
  ],
  required: [
    { name: 'tr', usedBy: ['agent'] },
    { name: 'wget', usedBy: ['agent'] },
    { name: 'ssh', usedBy: ['agent'], optional: 'only the ssh session source uses it' },
    { name: 'openssl', usedBy: ['probe'], optional: 'fallback' },
  ],
};

const FETCH_OK: FetchOnce = { ok: true, sessions: ['10.20.0.101', '10.20.0.102'] };

function node(over: Partial<NodeFacts> = {}, esxi: Partial<EsxiFacts> = {}): NodeFacts {
  return {
    node: 'node-1',
    datastore: 'datastore1',
    esxi: { reachable: true, facts: facts(esxi) },
    controllerNow: 1001,
    fetch: FETCH_OK,
    firewallEnabledByPlan: false,
    scvm: { reachable: true, facts: { sudo: true, release: 'SMTX OS 5.1.2' } },
    ...over,
  };
}

function run(n: NodeFacts, ctx: PreflightContext = CTX): PreflightCheck[] {
  return preflightChecks([n], ctx);
}
function check(n: NodeFacts, name: string, ctx: PreflightContext = CTX): PreflightCheck {
  const c = run(n, ctx).find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} check`);
  return c;
}

describe('preflight verdicts', () => {
  test('a healthy host passes every check, ESXi and SCVM, with stable names and no fix', () => {
    const all = run(node());
    expect(all.map((c) => `${c.host} ${c.name}`)).toEqual([
      'node-1/esxi esxi-version',
      'node-1/esxi commands',
      'node-1/esxi firewall',
      'node-1/esxi session-list',
      'node-1/esxi datastore',
      'node-1/esxi nfs-datastore',
      'node-1/esxi secure-boot',
      'node-1/esxi persistence',
      'node-1/esxi crond',
      'node-1/esxi clock',
      'node-1/scvm scvm-login',
      'node-1/scvm scvm-version',
    ]);
    expect(all.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(all.every((c) => c.fix === '')).toBe(true);
  });

  test('esxi-version: 6.7, 7.0, 8.0 pass; 6.5 fails; a newer one warns; no `vmware -v` fails', () => {
    const v = (major: number, minor: number) =>
      check(node({}, { version: { ok: true, value: { major, minor, text: `VMware ESXi ${major}.${minor}.0` }, raw: '' } }), 'esxi-version')
        .status;
    expect([v(6, 7), v(7, 0), v(8, 0), v(6, 5), v(9, 0)]).toEqual(['pass', 'pass', 'pass', 'fail', 'warn']);
    expect(check(node({}, { version: { ok: false, why: '`vmware -v`: command not found on the host' } }), 'esxi-version')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('address'),
    });
  });

  test('commands: a missing required command fails naming it and its script; a missing optional one passes', () => {
    const c = check(
      node(
        {},
        {
          commands: new Map([
            ['tr', null],
            ['wget', '/bin/wget'],
            ['ssh', null],
            ['openssl', null],
          ]),
        },
      ),
      'commands',
    );
    expect(c).toMatchObject({ status: 'fail', detail: expect.stringContaining('tr (agent; in busybox, not on PATH)') });
    expect(c.detail).not.toContain('ssh');
    expect(c.fix).not.toBe('');
    const ok = check(
      node(
        {},
        {
          commands: new Map([
            ['tr', '/bin/tr'],
            ['wget', 'wget'],
            ['ssh', null],
            ['openssl', null],
          ]),
        },
      ),
      'commands',
    );
    expect(ok).toMatchObject({ status: 'pass', detail: expect.stringContaining('absent, not needed: ssh') });
    expect(check(node({}, { commands: new Map() }), 'commands').status).toBe('warn');
  });

  test("firewall: the session source's ruleset; off fails unless the plan enables it (then warn); unreadable warns", () => {
    const off = { firewall: { ok: true as const, value: new Map([['httpClient', false]]), raw: '' } };
    expect(check(node({}, off), 'firewall')).toMatchObject({
      status: 'fail',
      fix: 'Enable it: esxcli network firewall ruleset set -r httpClient -e true',
    });
    expect(check(node({ firewallEnabledByPlan: true }, off), 'firewall')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('the plan enables it'),
    });
    expect(check(node(), 'firewall', { ...CTX, sessionSource: 'ssh' })).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('sshClient is off'),
    });
    expect(check(node({}, { firewall: { ok: false, why: 'x' } }), 'firewall').status).toBe('warn');
  });

  test('session-list: all SCVMs pass; some missing warn; none of ours fail; a failed fetch fails unless apply will open the firewall or install the ssh key', () => {
    expect(check(node(), 'session-list').status).toBe('pass');
    expect(check(node({ fetch: { ok: true, sessions: ['10.20.0.101'] } }), 'session-list')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('node-2 (10.20.0.102)'),
    });
    expect(check(node({ fetch: { ok: true, sessions: ['10.99.0.1'] } }), 'session-list')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('10.99.0.1'),
      fix: expect.stringContaining('storageIp'),
    });
    expect(check(node({ fetch: { ok: true, sessions: ['10.20.0.101', '10.20.0.102', '10.20.0.103'] } }), 'session-list')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('not in the manifest: 10.20.0.103'),
    });
    const failed = { fetch: { ok: false, sessions: [], reason: 'wget failed' } };
    expect(check(node(failed), 'session-list')).toMatchObject({ status: 'fail', detail: expect.stringContaining('wget failed') });
    const off = { firewall: { ok: true as const, value: new Map([['httpClient', false]]), raw: '' } };
    expect(check(node({ ...failed, firewallEnabledByPlan: true }, off), 'session-list').status).toBe('warn');
    expect(
      check(
        node(failed, { agentKeyPresent: false, firewall: { ok: true, value: new Map([['sshClient', true]]), raw: '' } }),
        'session-list',
        { ...CTX, sessionSource: 'ssh' },
      ).status,
    ).toBe('warn');
    expect(
      check(
        node(failed, { agentKeyPresent: true, firewall: { ok: true, value: new Map([['sshClient', true]]), raw: '' } }),
        'session-list',
        { ...CTX, sessionSource: 'ssh' },
      ).status,
    ).toBe('fail');
    expect(check(node({ fetch: { skipped: 'no --fetch-once' } }), 'session-list').status).toBe('warn');
  });

  test('datastore: local VMFS with space passes; NFS (from 192.168.33.2 named so), missing, vfat, unmounted fail; full or low space warns (apply fails there alone, changing nothing)', () => {
    expect(check(node(), 'datastore')).toMatchObject({ status: 'pass', detail: expect.stringContaining('local VMFS-6') });
    expect(check(node({ datastore: 'zbs-ds' }), 'datastore')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('ZBS itself'),
    });
    expect(check(node({ datastore: 'nope' }), 'datastore').status).toBe('fail');
    const one = (x: Partial<(typeof FS_TABLE)[0]>) => node({}, { filesystems: { ok: true, value: [{ ...FS_TABLE[0]!, ...x }], raw: '' } });
    expect(check(one({ type: 'vfat' }), 'datastore').status).toBe('fail');
    expect(check(one({ mounted: false }), 'datastore').status).toBe('fail');
    expect(check(one({ freeBytes: 1000 }), 'datastore')).toMatchObject({ status: 'warn', detail: expect.stringContaining('will fail') });
    expect(check(one({ freeBytes: 10 * 1024 * 1024 }), 'datastore').status).toBe('warn');
    expect(check(node({}, { filesystems: { ok: false, why: 'hung' } }), 'datastore').status).toBe('warn');
  });

  test("datastore on NFS fails whatever the server and protocol, with the host's VMFS datastores in the fix (issue 13)", () => {
    const other = { volume: 'backup', host: '10.0.0.5', share: '/vol/backup', accessible: true, mounted: true };
    const fsNfs = {
      mountPoint: '/vmfs/volumes/2707af93-17b6f4d4',
      volume: 'backup',
      uuid: '2707af93-17b6f4d4',
      mounted: true,
      type: 'NFS',
      sizeBytes: 1e12,
      freeBytes: 5e11,
    };
    // NFS v3 from another server: still refused, and not blamed on ZBS.
    const v3 = check(
      node(
        { datastore: 'backup' },
        { nfs: { ok: true, value: [other], raw: '' }, filesystems: { ok: true, value: [...FS_TABLE, fsNfs], raw: '' } },
      ),
      'datastore',
    );
    expect(v3).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('NFS v3 from 10.0.0.5:/vol/backup'),
      fix: expect.stringContaining('(datastore1)'),
    });
    expect(v3.detail).not.toContain('ZBS itself');
    // NFS 4.1 (Host(s) may list several servers), only in the nfs41 list: the filesystem list could not be read.
    const v41 = check(
      node(
        { datastore: 'isos' },
        {
          nfs41: {
            ok: true,
            value: [{ volume: 'isos', host: '192.168.33.2,10.1.0.7', share: '/isos', accessible: false, mounted: false }],
            raw: '',
          },
          filesystems: { ok: false, why: 'hung' },
        },
      ),
      'datastore',
    );
    expect(v41).toMatchObject({ status: 'fail', detail: expect.stringMatching(/NFS 4\.1 from 192\.168\.33\.2,10\.1\.0\.7.*ZBS itself/) });
    // Only the filesystem list says so (type NFS41), named by its UUID in the manifest.
    const fs41 = { ...fsNfs, volume: 'n41', uuid: 'cafe0001-00000000', type: 'NFS41' };
    expect(
      check(node({ datastore: 'cafe0001-00000000' }, { filesystems: { ok: true, value: [...FS_TABLE, fs41], raw: '' } }), 'datastore'),
    ).toMatchObject({ status: 'fail', detail: expect.stringContaining('(NFS41)') });
    // A datastore given as its UUID that is VMFS passes.
    expect(check(node({ datastore: 'aaa' }), 'datastore').status).toBe('pass');
  });

  test('nfs-datastore: mounted from 192.168.33.2 passes; none fails; inaccessible warns', () => {
    expect(check(node(), 'nfs-datastore').status).toBe('pass');
    expect(
      check(
        node({}, { nfs: { ok: true, value: [{ volume: 'b', host: '10.0.0.5', share: '/x', accessible: true, mounted: true }], raw: '' } }),
        'nfs-datastore',
      ).status,
    ).toBe('fail');
    expect(check(node({}, { nfs: { ok: true, value: [], raw: '' } }), 'nfs-datastore').status).toBe('fail');
    expect(
      check(
        node(
          {},
          { nfs: { ok: true, value: [{ volume: 'z', host: '192.168.33.2', share: '/z', accessible: false, mounted: true }], raw: '' } },
        ),
        'nfs-datastore',
      ).status,
    ).toBe('warn');
  });

  test('secure-boot: enabled fails with the way out; unknown warns', () => {
    expect(check(node({}, { secureBoot: { ok: true, value: 'enabled', raw: '' } }), 'secure-boot')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('local.sh'),
      fix: expect.stringContaining('--skip-check secure-boot'),
    });
    expect(check(node({}, { secureBoot: { ok: false, why: 'missing' } }), 'secure-boot').status).toBe('warn');
  });

  test('persistence: no auto-backup.sh or no local.sh fails; local.sh without a visible sticky bit only warns (stock 7.0 shows -rwxr-xr-x)', () => {
    expect(check(node({}, { localShMode: '-rwxr-xr-x' }), 'persistence')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('sticky'),
    });
    expect(check(node({}, { localShMode: '-r-xr-xr-T' }), 'persistence').status).toBe('pass');
    expect(check(node({}, { autoBackupMode: undefined }), 'persistence').status).toBe('fail');
    expect(check(node({}, { localShMode: undefined }), 'persistence').status).toBe('fail');
  });

  test('crond not running warns (apply starts it); clock skew over 30 s warns', () => {
    expect(check(node({}, { crondAlive: false }), 'crond').status).toBe('warn');
    expect(check(node({ controllerNow: 1001 + 29 }), 'clock').status).toBe('pass');
    expect(check(node({ controllerNow: 1001 + 120 }), 'clock')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('-120 s'),
    });
    expect(check(node({}, { now: undefined }), 'clock').status).toBe('warn');
  });

  test('scvm: sudo refused fails scvm-login; no login fails reachable; SMTX OS 5.1.2 fails only when the agent would ssh in as root', () => {
    expect(check(node({ scvm: { reachable: true, facts: { sudo: false, release: 'SMTX OS 5.1.2' } } }), 'scvm-login')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('NOPASSWD'),
    });
    const down = run(node({ scvm: { reachable: false, reason: 'auth failed' } })).filter((c) => c.host === 'node-1/scvm');
    expect(down.map((c) => [c.name, c.status])).toEqual([
      ['reachable', 'fail'],
      ['scvm-version', 'warn'],
    ]);
    const sshRoot = { ...CTX, sessionSource: 'ssh' as const, agentSshUser: 'root' };
    expect(check(node(), 'scvm-version', sshRoot)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('5.1.2 refuses root'),
      fix: expect.stringContaining('sessionSource: rest'),
    });
    expect(
      check(node({ scvm: { reachable: true, facts: { sudo: true, release: 'SMTX OS 5.0.4' } } }), 'scvm-version', sshRoot).status,
    ).toBe('pass');
    expect(check(node(), 'scvm-version', { ...CTX, sessionSource: 'ssh', agentSshUser: 'smartx' }).status).toBe('pass');
    expect(check(node({ scvm: { reachable: true, facts: { sudo: true } } }), 'scvm-version').status).toBe('warn');
  });

  test('ssh source only: an SCVM OpenSSH before 7.2 fails scvm-sshd (sshd would reject the restrict entry); unread warns; rest has no such check', () => {
    const ssh = { ...CTX, sessionSource: 'ssh' as const, agentSshUser: 'smartx' };
    const facts = (line?: string) =>
      node({ scvm: { reachable: true, facts: { sudo: true, release: 'SMTX OS 5.1.2', ...(line ? { ssh: line } : {}) } } });
    expect(check(facts('OpenSSH_7.4p1, OpenSSL 1.0.2k-fips  26 Jan 2017'), 'scvm-sshd', ssh)).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining('7.4'),
    });
    expect(check(facts('OpenSSH_6.6.1p1, OpenSSL 1.0.1e-fips 11 Feb 2013'), 'scvm-sshd', ssh)).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('sessionSource: rest'),
    });
    expect(check(facts('OpenSSH_7.1p2'), 'scvm-sshd', ssh).status).toBe('fail');
    expect(check(facts(), 'scvm-sshd', ssh).status).toBe('warn');
    expect(check(facts('sh: ssh: not found'), 'scvm-sshd', ssh).status).toBe('warn');
    expect(run(facts('OpenSSH_6.6.1p1')).some((c) => c.name === 'scvm-sshd')).toBe(false);
    expect(parseScvmFacts('sudo=ok\nrelease=\nssh=OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\n')).toEqual({
      sudo: true,
      ssh: 'OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024',
    });
  });

  test('an unreachable ESXi host, or a preflight cut short, is one failed `reachable` check (not a fail per check)', () => {
    const down = run(node({ esxi: { reachable: false, reason: 'timed out' } })).filter((c) => c.host === 'node-1/esxi');
    expect(down).toEqual([expect.objectContaining({ name: 'reachable', status: 'fail', detail: 'timed out' })]);
    const cut = run(node({}, { complete: false, problems: ['ended without its "@@end" trailer'] })).filter((c) => c.host === 'node-1/esxi');
    expect(cut).toEqual([expect.objectContaining({ name: 'reachable', status: 'fail' })]);
  });

  test('apply is blocked by failed checks except skipped ones and `reachable` (apply reports unreachable hosts itself)', () => {
    const checks = run(node({ esxi: { reachable: false, reason: 'down' } })).concat(
      run(node({ node: 'node-2' }, { secureBoot: { ok: true, value: 'enabled', raw: '' } })),
    );
    expect(blockingFailures(checks, []).map((c) => `${c.host} ${c.name}`)).toEqual(['node-2/esxi secure-boot']);
    expect(blockingFailures(checks, ['secure-boot'])).toEqual([]);
  });

  test('zbsVersionProblems is the one rule status --check and preflight share', () => {
    expect(zbsVersionProblems('5.1.2', { sessionSource: 'ssh', agentSshUser: 'root' })).toHaveLength(1);
    expect(zbsVersionProblems('5.1.1', { sessionSource: 'ssh', agentSshUser: 'root' })).toEqual([]);
    expect(zbsVersionProblems('6.0.0', { sessionSource: 'rest', agentSshUser: 'root' })).toEqual([]);
  });
});

describe('fetch-once and SCVM answers', () => {
  test('fetch ok with sessions; fetch fail with its reason; no trailer is a failure', () => {
    expect(parseFetchOnce('session 10.20.0.101\nsession 10.20.0.102\nfetch ok\n', 0)).toEqual({
      ok: true,
      sessions: ['10.20.0.101', '10.20.0.102'],
    });
    expect(parseFetchOnce('fetch fail wget: connection refused\n', 3)).toEqual({
      ok: false,
      sessions: [],
      reason: 'wget: connection refused',
    });
    expect(parseFetchOnce('session 10.20.0.101\n', 0)).toMatchObject({ ok: false, reason: expect.stringContaining('without "fetch ok"') });
    expect(parseFetchOnce('', null)).toMatchObject({ ok: false, reason: expect.stringContaining('killed') });
    expect(parseFetchOnce('session 10.20.0.101; rm -rf /\nfetch ok\n', 0).sessions).toEqual([]);
  });

  test('scvm facts: sudo and the release line', () => {
    expect(parseScvmFacts('user=smartx\nsudo=ok\nrelease=SMTX OS 5.1.2\n')).toEqual({ sudo: true, release: 'SMTX OS 5.1.2' });
    expect(parseScvmFacts('user=smartx\nsudo=no\nrelease=\n')).toEqual({ sudo: false });
  });
});
