/**
 * Runs the real preflight.sh under busybox sh against a temp tree shaped like
 * an ESXi host, with the ESXi commands (vmware, esxcli, secureBoot.py, the
 * host's busybox) as test doubles, then parses its output with the product's
 * parser. The lab proof is test/e2e/preflight.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parsePreflightOutput } from '../../src/preflight/parse-preflight-output';
import { checkScript, parseAllowList } from '../../test/support/applet-allow-list';

const SCRIPT = path.join(__dirname, 'preflight.sh');
const BUSYBOX = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p));
const maybe = BUSYBOX ? describe : describe.skip;

const FS_LIST = `Mount Point                                        Volume Name  UUID                                 Mounted  Type            Size          Free
-------------------------------------------------  -----------  -----------------------------------  -------  ------  ------------  ------------
/vmfs/volumes/611624d3-0014912e-65a2-525400f29a2a  datastore1   611624d3-0014912e-65a2-525400f29a2a     true  VMFS-6   77846282240   76336332800
`;
const NFS_LIST = `Volume Name  Host          Share   Accessible  Mounted  Read-Only   isPE  Hardware Acceleration
-----------  ------------  ------  ----------  -------  ---------  -----  ---------------------
zbs          192.168.33.2  /zbs          true     true      false  false  Not Supported
`;
const FW_LIST = `Name        Enabled
----------  -------
sshClient     false
httpClient     true
`;

function write(file: string, content: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
}

interface Host {
  root: string;
  shims: string;
}

function makeHost(opts: { secureBoot?: string; esxcliHangs?: boolean } = {}): Host {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-test-'));
  const shims = `${root}/shims`;
  const shim = (name: string, body: string): void => write(`${shims}/${name}`, `#!/bin/sh\n${body}\n`, 0o755);
  shim('vmware', 'echo "VMware ESXi 6.7.0 build-17700523"');
  const esxcli = opts.esxcliHangs
    ? 'exec sleep 120'
    : `case "$*" in
  "network firewall ruleset list") cat <<'EOF'\n${FW_LIST}EOF\n;;
  "storage nfs list") cat <<'EOF'\n${NFS_LIST}EOF\n;;
  "storage filesystem list") cat <<'EOF'\n${FS_LIST}EOF\n;;
  *) exit 1 ;;
esac`;
  shim('esxcli', esxcli);
  write(`${root}/usr/lib/vmware/secureboot/bin/secureBoot.py`, `#!/bin/sh\necho ${opts.secureBoot ?? 'Disabled'}\n`, 0o755);
  write(`${root}/usr/lib/vmware/busybox/bin/busybox`, '#!/bin/sh\n[ "$1" = --list ] && printf "awk\\ncat\\nsed\\n"\n', 0o755);
  write(`${root}/etc/rc.local.d/local.sh`, '#!/bin/sh\nexit 0\n', 0o1755);
  write(`${root}/sbin/auto-backup.sh`, '#!/bin/sh\n', 0o755);
  fs.mkdirSync(`${root}/vmfs/volumes/datastore1`, { recursive: true });
  write(`${root}/var/run/crond.pid`, `${process.pid}\n`);
  return { root, shims };
}

function run(
  h: Host,
  args: string[],
  env: Record<string, string> = {},
): { stdout: Buffer; stderr: string; status: number | null; ms: number } {
  const t = Date.now();
  const r = spawnSync(
    BUSYBOX as string,
    ['sh', '-s', '--', 'datastore1', `${h.root}/vmfs/volumes/datastore1/zbs-reroute/keys/reroute_id_rsa`, ...args],
    {
      input: fs.readFileSync(SCRIPT),
      env: { PATH: `${h.shims}:/usr/bin:/bin`, ZBS_PREFLIGHT_ROOT: h.root, ...env },
      timeout: 60000,
    },
  );
  return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status, ms: Date.now() - t };
}

function treeState(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (e.isDirectory() && !e.isSymbolicLink()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

maybe('preflight.sh under busybox sh', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });
  const host = (o?: Parameters<typeof makeHost>[0]): Host => {
    const h = makeHost(o);
    roots.push(h.root);
    return h;
  };

  it('uses only listed commands (agent + probe + preflight lists); the two run through variables are the documented ones', () => {
    const dir = path.join(__dirname, '..');
    const allow = {
      ...parseAllowList(fs.readFileSync(path.join(dir, 'agent', 'applets.txt'), 'utf8')),
      ...parseAllowList(fs.readFileSync(path.join(dir, 'probe', 'probe-commands.txt'), 'utf8')),
      ...parseAllowList(fs.readFileSync(path.join(__dirname, 'preflight-commands.txt'), 'utf8')),
    };
    const problems = checkScript(fs.readFileSync(SCRIPT, 'utf8'), allow, { run_section: 1, bounded: 0 });
    expect(problems.filter((p) => !/command name is an expansion \("(\$R\$SECUREBOOT|\$_bb)"\)/.test(p))).toEqual([]);
  });

  it('reports every section, parses into facts, and changes nothing on the host', () => {
    const h = host();
    const before = treeState(h.root);
    const t0 = Date.now() / 1000;
    const r = run(h, ['tr', 'awk', 'no-such-cmd', '/sbin/auto-backup.sh', '/no/such/path']);
    const t1 = Date.now() / 1000;
    expect(r.status).toBe(0);
    const f = parsePreflightOutput(r.stdout);
    expect(f.problems).toEqual([]);
    expect(f.complete).toBe(true);
    expect(f.version).toMatchObject({ ok: true, value: { major: 6, minor: 7 } });
    expect(f.commands.get('awk')).toMatch(/awk$/);
    expect(f.commands.get('no-such-cmd')).toBeNull();
    expect(f.commands.get('/sbin/auto-backup.sh')).toBeNull(); // absolute paths are checked on the real root, not the test tree
    expect(f.commands.get('/no/such/path')).toBeNull();
    expect(f.busybox).toMatchObject({ ok: true, value: new Set(['awk', 'cat', 'sed']) });
    expect(f.firewall).toMatchObject({
      ok: true,
      value: new Map([
        ['sshClient', false],
        ['httpClient', true],
      ]),
    });
    expect(f.nfs).toMatchObject({ ok: true, value: [{ volume: 'zbs', host: '192.168.33.2' }] });
    expect(f.filesystems).toMatchObject({ ok: true, value: [{ volume: 'datastore1', type: 'VMFS-6' }] });
    expect(f.secureBoot).toMatchObject({ ok: true, value: 'disabled' });
    expect(f.localShMode).toBe('-rwxr-xr-t');
    expect(f.autoBackupMode).toBe('-rwxr-xr-x');
    expect(f.agentKeyPresent).toBe(false);
    expect(f.crondAlive).toBe(true);
    // The host clock, read at the start and the end of the run (bounds, not a timing).
    expect(f.now).toBeGreaterThanOrEqual(Math.floor(t0) - 1);
    expect(f.nowEnd).toBeLessThanOrEqual(Math.ceil(t1) + 1);
    expect(f.nowEnd ?? 0).toBeGreaterThanOrEqual(f.now ?? Infinity);
    expect(f.datastoreMode).toMatch(/^d/);
    expect(treeState(h.root)).toEqual(before);
    write(`${h.root}/vmfs/volumes/datastore1/zbs-reroute/keys/reroute_id_rsa`, 'key', 0o600);
    expect(parsePreflightOutput(run(h, []).stdout).agentKeyPresent).toBe(true);
  });

  it('reads Secure Boot as enabled; a missing secureBoot.py is `not found`, not a guess', () => {
    expect(parsePreflightOutput(run(host({ secureBoot: 'Enabled' }), []).stdout).secureBoot).toMatchObject({ ok: true, value: 'enabled' });
    const h = host();
    fs.rmSync(`${h.root}/usr/lib/vmware/secureboot`, { recursive: true });
    expect(parsePreflightOutput(run(h, []).stdout).secureBoot).toMatchObject({ ok: false, why: expect.stringContaining('not found') });
  });

  it('bounds a hanging esxcli: each call is killed after the bound and reported as hung, the script still completes', () => {
    const r = run(host({ esxcliHangs: true }), ['awk'], { ZBS_PREFLIGHT_BOUND: '1' });
    const f = parsePreflightOutput(r.stdout);
    expect(f.complete).toBe(true);
    expect(f.nfs).toMatchObject({ ok: false, why: expect.stringContaining('hung') });
    expect(f.firewall).toMatchObject({ ok: false });
    expect(r.ms).toBeLessThan(60_000); // unbounded, the three calls would take 360 s
  });

  it('a hostile command output cannot forge a section', () => {
    const h = host();
    write(`${h.shims}/vmware`, '#!/bin/sh\nprintf "VMware ESXi 7.0.3 build-1\\n@@section secure_boot 8 ok\\nEnabled\\n"\n', 0o755);
    const f = parsePreflightOutput(run(h, []).stdout);
    expect(f.complete).toBe(true);
    expect(f.version).toMatchObject({ ok: true, value: { major: 7 } });
    expect(f.secureBoot).toMatchObject({ ok: true, value: 'disabled' });
  });
});
