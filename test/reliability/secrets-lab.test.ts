import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { useLabCluster } from '../support/lab-cluster';
import { waitFor } from '../support/wait-for';
import { reroute, type CliRun } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';

/**
 * Secrets and least privilege, on a real lab deploy through the CLI:
 *  - the reroute private key, the operator key's passphrase and an ESXi
 *    password never appear in any output (plan, --json, apply, status,
 *    destroy, errors), the state folder's journal/logs, the saved plan, the
 *    hosts' logs, or any process's arguments while it all runs (every
 *    process of the machine, hosts included, sampled from /proc);
 *  - files on hosts get the narrowest modes;
 *  - the SCVM authorized_keys entry is restricted and still serves the
 *    agent's ssh session source (heartbeat fetch=ok with SESSION_SOURCE=ssh).
 */
jest.setTimeout(600_000);

const INSTALL = '/vmfs/volumes/datastore1/zbs-reroute';
const PASSPHRASE = `zrb-passphrase-${randomBytes(8).toString('hex')}`;
const PASSWORD = `zrb-password-${randomBytes(8).toString('hex')}`;
const runs: Array<{ what: string; run: CliRun }> = [];
const cmdlines = new Set<string>();
let sampling = false;
let samples = 0;

/** Every process's argv on this machine (lab hosts are pid namespaces below ours, so they are included). */
async function sampleLoop(): Promise<void> {
  for (let i = 0; sampling && i < 20_000; i++) {
    let pids: string[] = [];
    try {
      pids = (await fs.promises.readdir('/proc')).filter((p) => /^\d+$/.test(p));
    } catch {
      // /proc always exists on Linux; a failed listing just skips one round.
    }
    for (const p of pids) {
      try {
        const raw = await fs.promises.readFile(`/proc/${p}/cmdline`);
        if (raw.length > 0 && cmdlines.size < 200_000) cmdlines.add(raw.toString('utf8').replace(/\0/g, ' '));
      } catch {
        // The process ended between listing and reading.
      }
    }
    samples++;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function cli(what: string, args: string, timeoutMs = 240_000): Promise<CliRun> {
  const run = await reroute(cluster.lab, args, { timeoutMs });
  runs.push({ what, run });
  return run;
}

const cluster = useLabCluster('zrb-sec', {
  lab: { nodes: 2 },
  manifest: { clusterName: 'zrbsec', routing: { sessionSource: 'ssh' } },
  beforeStop: async () => {
    sampling = false;
    // What each run printed, for a failure's diagnosis (secret-free by the tests above, or they failed).
    fs.writeFileSync(path.join(os.tmpdir(), 'zrb-secrets-runs.json'), JSON.stringify(runs, null, 1), { mode: 0o600 });
  },
});
const { state } = cluster;

beforeAll(async () => {
  const { lab, dir, manifest } = cluster;
  // The operator's key, protected by a passphrase given through passphraseEnv.
  const key = path.join(dir, 'operator_id_rsa');
  fs.copyFileSync(lab.operatorKeyPath, key);
  fs.chmodSync(key, 0o600);
  execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', PASSPHRASE, '-f', key]);
  // Secrets reach the CLI through the environment (as operators are told to), never a command line.
  process.env.ZRB_KEY_PASSPHRASE = PASSPHRASE;
  process.env.ZRB_ESXI_PASSWORD = PASSWORD;
  const doc = parse(fs.readFileSync(manifest, 'utf8')) as { spec: { access: Record<string, Record<string, unknown>> } };
  for (const who of ['esxi', 'scvm']) doc.spec.access[who]!.credential = { keyFile: key, passphraseEnv: 'ZRB_KEY_PASSPHRASE' };
  doc.spec.access.ssh = { connectTimeoutSeconds: 5, commandTimeoutSeconds: 30, hostTimeoutSeconds: 60 };
  fs.writeFileSync(manifest, stringify(doc));
  // The same cluster reached with a password (the lab's sshd takes keys only: this run fails at auth).
  doc.spec.access.esxi!.credential = { passwordEnv: 'ZRB_ESXI_PASSWORD' };
  fs.writeFileSync(path.join(dir, 'cluster-password.yaml'), stringify(doc));

  sampling = true;
  const sampler = sampleLoop();
  try {
    await cli('plan --out', `plan -f ${manifest} ${state()} --out ${dir}/saved.plan.json`);
    await cli('plan --json', `--json plan -f ${manifest} ${state()}`);
    await cli('apply', `apply -f ${manifest} ${state()} --auto-approve`);
    await cli('apply --json (no changes)', `--json apply -f ${manifest} ${state()} --auto-approve`);
    await lab.execOk('esxi-1', `echo '# drift' >> ${INSTALL}/reroute.conf`);
    await cli('apply --json (drift)', `--json apply -f ${manifest} ${state()} --auto-approve`);
    await cli('status', `status -f ${manifest} ${state()}`);
    await cli('status --json', `--json status -f ${manifest} ${state()}`);
    const watch = await lab.exec('ctl', `NO_COLOR=1 timeout -s INT 12 reroute watch -f ${manifest} ${state()} --interval 2 --verbose`, {
      timeoutMs: 60_000,
    });
    runs.push({ what: 'watch (report, 12 s)', run: { code: watch.code, stdout: watch.stdout, stderr: watch.stderr } });
    await cli('plan with a password credential', `plan -f ${dir}/cluster-password.yaml ${state()}`);
    await cli('plan --json with a password credential', `--json plan -f ${dir}/cluster-password.yaml ${state()}`);
  } finally {
    sampling = false;
    await sampler;
  }
});

/** The base64 lines of the cluster's private key (the last, short line is too short to be telling). */
function keyLines(): string[] {
  const pem = fs.readFileSync(path.join(cluster.dir, 'state', 'reroute_id_rsa'), 'utf8');
  return pem.split('\n').filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l));
}

function leaks(name: string, text: string): string[] {
  const found: string[] = [];
  for (const l of keyLines()) if (text.includes(l)) found.push(`${name}: private key line ${l.slice(0, 12)}…`);
  // JSON output escapes nothing in base64, but a key could also leak as one unbroken string.
  if (text.replace(/\\n|\n/g, '').includes(keyLines().join('').slice(0, 200))) found.push(`${name}: private key body`);
  if (/BEGIN (RSA |OPENSSH )?PRIVATE KEY/.test(text)) found.push(`${name}: a PEM private key header`);
  if (text.includes(PASSPHRASE)) found.push(`${name}: the key passphrase`);
  if (text.includes(PASSWORD)) found.push(`${name}: the ESXi password`);
  return found;
}

describeLab('secrets never leave the places they belong', () => {
  it('the runs did what they should (so there was output to search)', () => {
    const by = Object.fromEntries(runs.map((r) => [r.what, r.run.code]));
    expect(by).toMatchObject({
      'plan --out': 0,
      'plan --json': 0,
      apply: 0,
      'apply --json (no changes)': 0,
      'apply --json (drift)': 0,
      status: 0,
      'status --json': 0,
    });
    // The lab's sshd takes keys only: the password is offered, refused, and the hosts reported.
    for (const what of ['plan with a password credential', 'plan --json with a password credential']) {
      const r = runs.find((x) => x.what === what)?.run;
      expect(`${r?.stdout}${r?.stderr}`).toContain('refused our login (tried: password');
    }
    expect(runs.find((r) => r.what === 'watch (report, 12 s)')?.run.stderr).not.toContain('unknown');
    expect(runs.find((r) => r.what === 'apply')?.run.stdout).toContain('Apply complete');
    expect(keyLines().length).toBeGreaterThan(10);
    expect(samples).toBeGreaterThan(20);
  });

  it('no private key line, passphrase or password in any CLI output (text and --json, success and failure)', () => {
    const found = runs.flatMap((r) => [...leaks(`${r.what} stdout`, r.run.stdout), ...leaks(`${r.what} stderr`, r.run.stderr)]);
    expect(found).toEqual([]);
  });

  it('none in the state folder (journal, watch log, known_hosts, lock) or the saved plan', () => {
    const files = [path.join(cluster.dir, 'saved.plan.json')];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name !== 'reroute_id_rsa') files.push(p);
      }
    };
    walk(path.join(cluster.dir, 'state'));
    expect(files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['saved.plan.json', 'apply-journal.jsonl', 'watch.log']));
    expect(files.flatMap((f) => leaks(path.relative(cluster.dir, f), fs.readFileSync(f, 'latin1')))).toEqual([]);
  });

  it('none in the arguments of any process on the controller or the hosts while plan/apply/status/watch ran', () => {
    expect(cmdlines.size).toBeGreaterThan(50);
    // The sampler did see the runs and the hosts' side of them.
    expect([...cmdlines].some((c) => c.includes('bin/reroute.js'))).toBe(true);
    expect([...cmdlines].some((c) => c.includes('reroute-loop.sh'))).toBe(true);
    expect([...cmdlines].flatMap((c) => leaks('argv', c))).toEqual([]);
  });

  it("none in the hosts' logs (agent log, syslog, rc.local log, sshd logs)", async () => {
    const found: string[] = [];
    for (const h of ['esxi-1', 'esxi-2', 'scvm-1', 'scvm-2']) {
      const logs = await cluster.lab.exec(h, 'cat /var/log/*.log /var/log/*.log.1 2>/dev/null; true', { timeoutMs: 30_000 });
      found.push(...leaks(`${h} /var/log`, logs.stdout));
    }
    const labDir = cluster.lab.status().stateDir;
    for (const f of fs.readdirSync(labDir, { recursive: true }) as string[]) {
      if (/sshd\.log$|init\.log$|boot\.log$/.test(f)) found.push(...leaks(`lab ${f}`, fs.readFileSync(path.join(labDir, f), 'latin1')));
    }
    expect(found).toEqual([]);
  });

  it('the key on the hosts is the one in the state folder, and only our key file holds it', async () => {
    const local = fs.readFileSync(path.join(cluster.dir, 'state', 'reroute_id_rsa'), 'utf8');
    for (const h of ['esxi-1', 'esxi-2']) {
      expect(await cluster.lab.execOk(h, `cat ${INSTALL}/keys/reroute_id_rsa`)).toBe(local);
      // No stray copy (a temp file from an interrupted upload, a backup) anywhere in the install dir.
      const holders = (await cluster.lab.exec(h, `grep -rl 'PRIVATE KEY' ${INSTALL} /tmp /var/tmp 2>/dev/null; true`)).stdout
        .trim()
        .split('\n');
      expect({ h, holders }).toEqual({ h, holders: [`${INSTALL}/keys/reroute_id_rsa`] });
    }
  });
});

describeLab('narrowest modes on hosts', () => {
  it('install dir and keys dir 0700, private key and conf 0600, agent not writable by others, state folder 0700 with a 0600 key', async () => {
    for (const h of ['esxi-1', 'esxi-2']) {
      const ls = await cluster.lab.execOk(h, `ls -ld ${INSTALL} ${INSTALL}/keys; ls -l ${INSTALL} ${INSTALL}/keys`);
      const perm = (name: string) =>
        ls
          .split('\n')
          .find((l) => l.trim().endsWith(name))
          ?.split(/\s+/)[0];
      expect({ h, dir: perm(INSTALL), keys: perm(`${INSTALL}/keys`) }).toEqual({ h, dir: 'drwx------', keys: 'drwx------' });
      expect({ h, key: perm('reroute_id_rsa'), conf: perm('reroute.conf'), knownHosts: perm('known_hosts') }).toEqual({
        h,
        key: '-rw-------',
        conf: '-rw-------',
        knownHosts: expect.stringMatching(/^-rw-(------|r--r--)$/),
      });
      // The agent is no secret; inside the 0700 dir nobody else can reach it anyway. Never writable by others.
      expect(perm('reroute-loop.sh')).toMatch(/^-r[w-][x-]r?-?[x-]r?-?[x-]$/);
    }
    expect(fs.statSync(path.join(cluster.dir, 'state')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(cluster.dir, 'state', 'reroute_id_rsa')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(cluster.dir, 'saved.plan.json')).mode & 0o777).toBe(0o600);
  });
});

describeLab('the SCVM key entry is restricted and still serves the agent', () => {
  it('authorized_keys: restrict, the forced read-only command, from= every ESXi management and storage IP; the foreign line survives', async () => {
    const ips = cluster.lab.nodes.flatMap((n) => [n.esxi.mgmtIp, n.esxi.storageIp]);
    for (const n of cluster.lab.nodes) {
      const lines = (await cluster.lab.execOk(n.scvm.target, 'cat /home/smartx/.ssh/authorized_keys')).split('\n').filter(Boolean);
      const ours = lines.filter((l) => l.endsWith('zbs-reroute:zrbsec'));
      expect(ours).toHaveLength(1);
      const m = /^restrict,command="zbs-meta session list",from="([^"]+)" ssh-rsa /.exec(ours[0]!);
      expect(m).not.toBeNull();
      expect(m![1]!.split(',').sort()).toEqual([...ips].sort());
      expect(lines.length).toBeGreaterThan(1);
    }
  });

  it('every agent fetches the session list over ssh with that entry (SESSION_SOURCE=ssh, heartbeat fetch=ok)', async () => {
    for (const h of ['esxi-1', 'esxi-2']) {
      expect(await cluster.lab.execOk(h, `grep SESSION_SOURCE ${INSTALL}/reroute.conf`)).toMatch(/^SESSION_SOURCE='?ssh'?$/m);
      await waitFor(
        `${h} heartbeat fetch=ok`,
        async () => ((await cluster.lab.exec(h, 'cat /var/run/zbs-reroute/status')).stdout.includes('fetch=ok') ? true : undefined),
        { timeoutMs: 30_000 },
      );
    }
  });

  it('the same key is refused from an address outside from= (the controller), and gets no pty from an ESXi host', async () => {
    const scvm = cluster.lab.nodes[0]!.scvm.mgmtIp;
    const key = path.join(cluster.dir, 'state', 'reroute_id_rsa');
    const opts = `-F /dev/null -i ${key} -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${cluster.lab.knownHostsPath}`;
    const outside = await cluster.lab.exec('ctl', `/usr/bin/ssh ${opts} smartx@${scvm} true`);
    expect(outside.code).toBe(255);
    expect(outside.stderr).toMatch(/Permission denied/);
    const known = `${INSTALL}/keys/known_hosts`;
    const inside = await cluster.lab.exec(
      'esxi-1',
      `ssh -i ${INSTALL}/keys/reroute_id_rsa -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${known} -tt smartx@${scvm} tty`,
    );
    expect(inside.stderr + inside.stdout).toMatch(/PTY allocation request failed|not a tty/);
  });
});
