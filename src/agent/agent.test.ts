import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderAgentConf } from './agent-conf';
import { requireScriptVersion, scriptVersion } from './agent-version';
import { readBundle } from './bundle-read';
import { installDirFor, pinFileContent, renderCrontabLine, renderLocalShBlock } from './host-entries';
import { fixtureManifest, fixtureNode } from '../../test/support/plan-fixtures';

describe('agent version marker', () => {
  test('is read from line 2 only', () => {
    expect(scriptVersion('#!/bin/sh\nreroute_version=1.2.3\n')).toBe('1.2.3');
    expect(scriptVersion('#!/bin/sh\r\nreroute_version=1.2.3\r\n')).toBe('1.2.3');
    expect(scriptVersion('#!/bin/sh\n# x\nreroute_version=1.2.3\n')).toBeUndefined();
    expect(scriptVersion('#!/bin/sh\nreroute_version=None\n')).toBeUndefined();
    expect(scriptVersion('')).toBeUndefined();
    expect(() => requireScriptVersion('#!/bin/sh\n', 'x.sh')).toThrow(/line 2/);
  });
});

describe('readBundle', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bundle-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('reads only the shell files and takes the version from the loop script', () => {
    writeFileSync(join(dir, 'reroute-loop.sh'), '#!/bin/sh\nreroute_version=2.0.1\n');
    writeFileSync(join(dir, 'notes.md'), 'not shipped');
    writeFileSync(join(dir, 'agent.test.ts'), 'not shipped');
    mkdirSync(join(dir, 'test-shims.sh'));
    expect(readBundle(dir)).toEqual({ version: '2.0.1', files: { 'reroute-loop.sh': '#!/bin/sh\nreroute_version=2.0.1\n' } });
  });

  test('refuses a bundle without the loop script or without its version line', () => {
    expect(() => readBundle(dir)).toThrow(/no reroute-loop\.sh/);
    writeFileSync(join(dir, 'reroute-loop.sh'), '#!/bin/sh\necho hi\n');
    expect(() => readBundle(dir)).toThrow(/reroute_version/);
    expect(() => readBundle(join(dir, 'missing'))).toThrow(/Cannot read the agent bundle/);
  });

  test('the shipped esxi/agent bundle carries a version on line 2', () => {
    const b = readBundle(join(__dirname, '../../esxi/agent'));
    expect(b.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Object.keys(b.files)).toContain('reroute-loop.sh');
  });
});

describe('host entries', () => {
  const m = fixtureManifest(3);
  test('install dir is under the node datastore and refuses the seed tooling\'s "None"', () => {
    expect(installDirFor(m, m.nodes[0]!)).toBe('/vmfs/volumes/ds-1/zbs-reroute');
    for (const ds of ['None', 'null', '', 'a/b', '..']) {
      expect(() => installDirFor(m, fixtureNode(1, { esxi: { ...fixtureNode(1).esxi, datastore: ds } }))).toThrow(/not a usable datastore/);
    }
  });

  test('crontab line is the documented exact line', () => {
    expect(renderCrontabLine('/vmfs/volumes/ds-1/zbs-reroute')).toBe('* * * * * /bin/sh /vmfs/volumes/ds-1/zbs-reroute/reroute-loop.sh &');
  });

  test('local.sh block: markers, our crontab line re-added only if missing, crond restarted; shellcheck clean', () => {
    const block = renderLocalShBlock('/vmfs/volumes/ds-1/zbs-reroute');
    const lines = block.split('\n');
    expect(lines[0]).toBe('# BEGIN zbs-reroute (managed by reroute; do not edit)');
    expect(lines.at(-2)).toBe('# END zbs-reroute');
    expect(block.endsWith('\n')).toBe(true);
    expect(block).toContain(
      "grep -qxF '* * * * * /bin/sh /vmfs/volumes/ds-1/zbs-reroute/reroute-loop.sh &' /var/spool/cron/crontabs/root || echo",
    );
    const dir = mkdtempSync(join(tmpdir(), 'localsh-'));
    try {
      writeFileSync(join(dir, 'local.sh'), `#!/bin/sh\n${block}exit 0\n`);
      expect(() => execFileSync('shellcheck', ['-s', 'sh', join(dir, 'local.sh')], { stdio: 'pipe' })).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('pin file is one line', () => {
    expect(pinFileContent('10.20.0.103')).toBe('10.20.0.103\n');
  });
});

describe('renderAgentConf', () => {
  const m = fixtureManifest(3);
  const conf = renderAgentConf(m, m.nodes[1]!);

  test('lists every documented key once, peers are the OTHER SCVMs in manifest order', () => {
    const keys = conf
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => l.split('=')[0]);
    expect(keys).toEqual([
      'NODE_NAME',
      'NFS_ADDRESS',
      'LOCAL_STORAGE_IP',
      'LOCAL_MGMT_IP',
      'PEER_STORAGE_IPS',
      'PEER_MGMT_IPS',
      'INTERVAL',
      'FAILBACK_DELAY',
      'PING_TIMEOUT',
      'FALLBACK_ORDER',
      'MODE',
      'SESSION_SOURCE',
      'REST_PORT',
      'REST_PATH',
      'SSH_USER',
      'SSH_KEY',
      'SSH_KNOWN_HOSTS',
      'RUN_DIR',
      'LOG_FILE',
      'LOG_MAX_BYTES',
      'PIN_FILE',
    ]);
    expect(conf).toContain("PEER_STORAGE_IPS='10.20.0.101 10.20.0.103'\n");
    expect(conf).not.toMatch(/1\.0\.0/); // no version: an upgrade never rewrites the conf
  });

  test('the ssh session source logs in as the SCVM operator user, never root', () => {
    expect(m.access.scvm.user).not.toBe('root');
    expect(conf).toContain(`SSH_USER=${m.access.scvm.user}\n`);
  });

  test("no access IP anywhere: no access keys (an upgrade leaves other clusters' conf alone)", () => {
    expect(conf).not.toMatch(/ACCESS_IP/);
  });

  test('RDMA: LOCAL_ACCESS_IP and PEER_ACCESS_IPS aligned with PEER_STORAGE_IPS, - for an SCVM without one', () => {
    const r = fixtureManifest(3);
    r.nodes[0]!.scvm.accessIp = '10.20.0.151';
    r.nodes[2]!.scvm.accessIp = '10.20.0.153';
    const c2 = renderAgentConf(r, r.nodes[1]!);
    expect(c2).toContain('LOCAL_ACCESS_IP=-\n');
    expect(c2).toContain("PEER_STORAGE_IPS='10.20.0.101 10.20.0.103'\n");
    expect(c2).toContain("PEER_ACCESS_IPS='10.20.0.151 10.20.0.153'\n");
    const c1 = renderAgentConf(r, r.nodes[0]!);
    expect(c1).toContain('LOCAL_ACCESS_IP=10.20.0.151\n');
    expect(c1).toContain("PEER_ACCESS_IPS='- 10.20.0.153'\n");
  });

  test('sourced by a POSIX shell it yields exactly the manifest values, even hostile ones', () => {
    const hostile = fixtureManifest(2, { routing: { ...m.routing, rest: { port: 8080, path: "/api/'$(touch /tmp/pwned)'`id`" } } });
    const text = renderAgentConf(hostile, hostile.nodes[0]!);
    const dir = mkdtempSync(join(tmpdir(), 'conf-'));
    try {
      writeFileSync(join(dir, 'reroute.conf'), text);
      const out = execFileSync(
        '/bin/sh',
        ['-c', '. "$1"; printf "%s|%s|%s|%s" "$REST_PATH" "$PEER_MGMT_IPS" "$FALLBACK_ORDER" "$PIN_FILE"', 'sh', join(dir, 'reroute.conf')],
        { encoding: 'utf8' },
      );
      expect(out).toBe(
        "/api/'$(touch /tmp/pwned)'`id`|10.10.0.102|local-storage remote-storage remote-management|/vmfs/volumes/ds-1/zbs-reroute/pin",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
