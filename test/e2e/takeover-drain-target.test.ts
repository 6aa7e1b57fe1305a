import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import type { Plan } from '../../src/plan/plan-types';
import { useLabCluster } from '../support/lab-cluster';
import { agentLoops, longestGaps, nfsRouteChanges, servedBy } from '../support/lab-io';
import { writeLabManifest, type LabManifestOptions } from '../support/lab-manifest';
import { waitFor } from '../support/wait-for';
import { reroute, type CliRun } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';

/**
 * The operator flows around an install, through the real CLI in the lab's
 * controller namespace: taking over a seed-tooling install without touching
 * its route, a maintenance drain that lets an SCVM stop with no IO gap, a
 * single-node join with --target, saved plans, host leases, host keys, and a
 * host that is down during an apply.
 */
jest.setTimeout(600_000);

const NFS = '192.168.33.2';
const INSTALL = '/vmfs/volumes/datastore1/zbs-reroute';
const LEASE_HOLDER = 'ops@scvm-elsewhere';
const cluster = useLabCluster('e2e2', { lab: { nodes: 4 } });
const { state, node: labNode } = cluster;

const esxiHosts = (n: number) => Array.from({ length: n }, (_, i) => `esxi-${i + 1}`);

/** A lab manifest with short SSH timeouts, so a host that does not answer costs seconds, not minutes. */
function manifest(file: string, opts: LabManifestOptions = {}): string {
  const p = writeLabManifest(cluster.lab, cluster.dir, file, { clusterName: 'e2e2', ...opts });
  const doc = parse(fs.readFileSync(p, 'utf8')) as { spec: { access: Record<string, unknown> } };
  doc.spec.access.ssh = { connectTimeoutSeconds: 3, commandTimeoutSeconds: 30, hostTimeoutSeconds: 45 };
  fs.writeFileSync(p, stringify(doc));
  return p;
}

/** Gateway of the 192.168.33.2/32 route as `esxcfg-route -l` lists it ('' when there is none). */
async function nfsGateway(host: string): Promise<string> {
  const out = await cluster.lab.execOk(host, 'esxcfg-route -l');
  const line = out.split('\n').find((l) => /^192\.168\.33\.2\s+255\.255\.255\.255\s/.test(l.trim()));
  return line?.trim().split(/\s+/)[2] ?? '';
}

/** sha256 of every file in our install dir (lease excluded), to prove a host was left alone. */
async function installHashes(host: string): Promise<string> {
  return cluster.lab.execOk(host, `cd ${INSTALL} && find . -type f ! -path './lease/*' | sort | xargs sha256sum`);
}

/** An operator's hand edit that the plan must repair: a stray comment in reroute.conf. */
async function driftConf(host: string): Promise<void> {
  await cluster.lab.execOk(host, `echo '# hand edit' >> ${INSTALL}/reroute.conf`);
}

async function confDrifted(host: string): Promise<boolean> {
  return (await cluster.lab.exec(host, `grep -c 'hand edit' ${INSTALL}/reroute.conf`)).stdout.trim() !== '0';
}

function fingerprint(pub: string): string {
  const b64 = pub.split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

function planOf(stdout: string): Plan {
  return JSON.parse(stdout) as Plan;
}

const ok = (r: { code: number; stdout: string; stderr: string }) => ({
  code: r.code,
  tail: `${r.stdout.slice(-2500)}\n${r.stderr.slice(-1500)}`,
});

describeLab('takeover, drain, --target, saved plans, leases, host keys and a down host, through the CLI', () => {
  let m3: string;
  let m4: string;

  it('takes over a seed-tooling install: legacy loop, cron/local.sh lines and folder gone, our agent running, route untouched', async () => {
    m3 = manifest('cluster-3.yaml', { nodes: 3 });
    const n1 = labNode(1);
    const legacyDir = `/vmfs/volumes/${n1.esxi.datastoreUuid}/vmware_scvm_failure`;
    const loop = `${legacyDir}/scvm_failure_loop.sh`;
    const cronLine = `* * * * * /bin/sh ${loop} &`;
    const localLine = `/bin/echo '${cronLine}' >> /var/spool/cron/crontabs/root`;
    // The seed's keypair: RSA PEM (with the REST session source it goes with the seed's folder: no key is needed).
    const keyFile = path.join(cluster.dir, 'smartx_reroute_id_rsa');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', 'smartx-reroute', '-f', keyFile]);
    const legacyPub = fs.readFileSync(`${keyFile}.pub`, 'utf8');
    await cluster.lab.execOk(
      'esxi-1',
      `mkdir -p ${legacyDir}/.smartx_key && cat > ${legacyDir}/.smartx_key/smartx_reroute_id_rsa && chmod 600 ${legacyDir}/.smartx_key/smartx_reroute_id_rsa`,
      { input: fs.readFileSync(keyFile, 'utf8') },
    );
    await cluster.lab.execOk('esxi-1', `cat > ${legacyDir}/.smartx_key/smartx_reroute_id_rsa.pub`, { input: legacyPub });
    // A stand-in for the seed's loop (we do not ship its script): line 2 carries the version, it holds no route, bounded.
    const stand = [
      '#!/bin/sh',
      'reroute_version=1.4.2',
      '# stand-in for the seed tooling loop',
      'i=0',
      'while [ "$i" -lt 900 ]; do sleep 1; i=$((i + 1)); done',
      '',
    ].join('\n');
    await cluster.lab.execOk('esxi-1', `cat > ${loop} && chmod 755 ${loop}`, { input: stand });
    const localSh = await cluster.lab.execOk('esxi-1', 'cat /etc/rc.local.d/local.sh');
    const lines = localSh.split('\n');
    const exitAt = lines.lastIndexOf('exit 0');
    lines.splice(
      exitAt < 0 ? lines.length : exitAt,
      0,
      localLine,
      '/bin/kill $(cat /var/run/crond.pid)',
      '/usr/lib/vmware/busybox/bin/busybox crond',
    );
    await cluster.lab.execOk('esxi-1', 'cat > /etc/rc.local.d/local.sh && /sbin/auto-backup.sh', { input: lines.join('\n') });
    await cluster.lab.execOk(
      'esxi-1',
      `echo '${cronLine}' >> /var/spool/cron/crontabs/root && kill $(cat /var/run/crond.pid) && /usr/lib/vmware/busybox/bin/busybox crond`,
    );
    // The route the seed's agent had set: via the local SCVM's storage IP.
    await cluster.lab.execOk('esxi-1', `esxcfg-route -a ${NFS}/32 ${n1.scvm.storageIp}`);
    await cluster.lab.execOk('esxi-1', `/bin/sh ${loop} </dev/null >/dev/null 2>&1 &`);
    await waitFor(
      'the legacy loop in ps -c',
      async () => ((await cluster.lab.execOk('esxi-1', 'ps -c')).includes(loop) ? true : undefined),
      {
        timeoutMs: 5_000,
      },
    );
    await waitFor('esxi-1 served by scvm-1', () => (servedBy(cluster.lab, Date.now() - 1000)['esxi-1'] === 'scvm-1' ? true : undefined), {
      timeoutMs: 10_000,
    });
    const t = Date.now();

    // One run shows the plan to the operator and saves it as data.
    const text = await reroute(cluster.lab, `plan -f ${m3} ${state()} --out ${cluster.dir}/takeover.plan.json`);
    expect(ok(text)).toEqual({ code: 0, tail: expect.anything() });
    expect(text.stdout).toMatch(/~ .*node-1.*legacy install 1\.4\.2/);
    const plan = planOf(fs.readFileSync(`${cluster.dir}/takeover.plan.json`, 'utf8'));
    const h1 = plan.hosts.find((h) => h.host === 'esxi' && h.node === 'node-1');
    expect(h1?.change).toBe('takeover');
    expect(h1?.reasons.map((r) => r.detail)[0]).toContain('legacy install 1.4.2');
    expect(plan.hosts.flatMap((h) => h.actions).filter((a) => a.op === 'delete-route')).toEqual([]);

    const r = await reroute(cluster.lab, `apply -f ${m3} ${state()} --auto-approve`);
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });

    // THE rule: the takeover never moved esxi-1's route, and its IO never stopped.
    expect(nfsRouteChanges(cluster.lab, t)['esxi-1']).toEqual([]);
    expect(longestGaps(cluster.lab, t)['esxi-1'] ?? 0).toBeLessThan(500);
    expect(await nfsGateway('esxi-1')).toBe(n1.scvm.storageIp);
    // The seed's post-clear checks print nothing; ours runs once.
    const leftovers = await cluster.lab.exec(
      'esxi-1',
      `ps -c | grep scvm_failure | grep -v grep; grep scvm_failure /var/spool/cron/crontabs/root /etc/rc.local.d/local.sh; ls -d ${legacyDir} 2>/dev/null`,
    );
    expect({ out: leftovers.stdout }).toEqual({ out: '' });
    expect(await agentLoops(cluster.lab, 'esxi-1')).toBe(1);
    expect(await cluster.lab.execOk('esxi-1', 'cat /var/spool/cron/crontabs/root')).toContain(
      `* * * * * /bin/sh ${INSTALL}/reroute-loop.sh &`,
    );
    expect(await cluster.lab.execOk('esxi-1', 'cat /etc/rc.local.d/local.sh')).toContain('# BEGIN zbs-reroute');
    // The REST session source needs no cluster key (issue 13 item 4): the seed's key folder went
    // with its install and no host carries a keypair of ours.
    for (const h of esxiHosts(3)) {
      const left = await cluster.lab.exec(h, `test -e ${INSTALL}/keys || test -e ${legacyDir}/.smartx_key`);
      expect({ h, keysLeft: left.code === 0 }).toEqual({ h, keysLeft: false });
    }
    await waitFor(
      'every host served by its own SCVM',
      () => {
        const s = servedBy(cluster.lab, Date.now() - 1000);
        return esxiHosts(3).every((h, i) => s[h] === `scvm-${i + 1}`) ? true : undefined;
      },
      { timeoutMs: 20_000 },
    );
  });

  it('drain: plan shows the pin, IO moves to scvm-3, scvm-2 stops with no IO gap on esxi-2, and removing the field brings it back', async () => {
    const [n2, n3] = [labNode(2), labNode(3)];
    const drained = manifest('cluster-3-drain.yaml', { nodes: 3, nodeExtras: { 'node-2': { drain: { to: 'node-3' } } } });
    const plan = await reroute(cluster.lab, `plan -f ${drained} ${state()} --out ${cluster.dir}/drain.plan.json`);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/node-2.*IO drained to node-3/);
    const planJson = planOf(fs.readFileSync(`${cluster.dir}/drain.plan.json`, 'utf8'));
    expect(planJson.hosts.filter((h) => h.actions.length > 0).map((h) => `${h.node}/${h.host}`)).toEqual(['node-2/esxi']);
    expect(planJson.hosts.find((h) => h.node === 'node-2' && h.host === 'esxi')?.actions.map((a) => a.op)).toEqual(['write-pin']);

    const t = Date.now();
    const r = await reroute(cluster.lab, `apply -f ${drained} ${state()} --auto-approve`);
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    // Verification waits for the agent to follow the pin: the drain is in effect when apply says ok.
    expect(r.stdout).toMatch(new RegExp(`node-2\\s.*esxi.*applied.*ok \\(route via ${n3.scvm.storageIp.replace(/\./g, '\\.')}\\)`));
    await waitFor('esxi-2 routed via scvm-3', async () => ((await nfsGateway('esxi-2')) === n3.scvm.storageIp ? true : undefined), {
      timeoutMs: 20_000,
    });
    await waitFor('esxi-2 served by scvm-3', () => (servedBy(cluster.lab, Date.now() - 500)['esxi-2'] === 'scvm-3' ? true : undefined), {
      timeoutMs: 10_000,
    });
    const moved = nfsRouteChanges(cluster.lab, t);
    expect({ e1: moved['esxi-1'], e3: moved['esxi-3'] }).toEqual({ e1: [], e3: [] });
    expect(longestGaps(cluster.lab, t)['esxi-2'] ?? 0).toBeLessThan(500);

    // The drained SCVM can now be stopped for maintenance without esxi-2 noticing.
    const tDown = Date.now();
    await cluster.lab.fault('scvm-down', 'scvm-2');
    try {
      await new Promise((res) => setTimeout(res, 5_000));
      const io = cluster.lab.io(tDown)['esxi-2'];
      expect({ gap: (io?.longestGapMs ?? 0) < 500, served: io?.servedBy, ok: (io?.ok ?? 0) > 0 }).toEqual({
        gap: true,
        served: 'scvm-3',
        ok: true,
      });
      expect(nfsRouteChanges(cluster.lab, tDown)['esxi-2']).toEqual([]);
      expect(await nfsGateway('esxi-2')).toBe(n3.scvm.storageIp);
    } finally {
      await cluster.lab.heal('scvm-down', 'scvm-2');
    }

    // Lifting the drain: the pin goes, and the agent fails back to the local SCVM by its own policy.
    const back = await reroute(cluster.lab, `apply -f ${m3} ${state()} --auto-approve`);
    expect(ok(back)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    await waitFor('esxi-2 routed via scvm-2 again', async () => ((await nfsGateway('esxi-2')) === n2.scvm.storageIp ? true : undefined), {
      timeoutMs: 40_000,
    });
    await waitFor('esxi-2 served by scvm-2', () => (servedBy(cluster.lab, Date.now() - 500)['esxi-2'] === 'scvm-2' ? true : undefined), {
      timeoutMs: 10_000,
    });
    expect((await cluster.lab.exec('esxi-2', `ls ${INSTALL}/pin`)).code).not.toBe(0);
    expect((await reroute(cluster.lab, `plan -f ${m3} ${state()} --detailed-exitcode`)).code).toBe(0);
  });

  it('--target node-4 --target-only joins one node: only its ESXi install and the SCVM key entries change; other hosts untouched, and the plan names them stale', async () => {
    m4 = manifest('cluster-4.yaml', { nodes: 4 });
    const before = await Promise.all(esxiHosts(3).map((h) => installHashes(h)));
    // --target alone would also update the peers' files (test/e2e/join-target.test.ts); the narrow case:
    const planRun = await reroute(cluster.lab, `--json plan -f ${m4} ${state()} --target node-4 --target-only`);
    expect(planRun.code).toBe(0);
    const plan = planOf(planRun.stdout);
    expect(plan.warnings).toContainEqual(expect.stringMatching(/^--target-only leaves 3 host\(s\) stale: node-1 /));
    const changed = plan.hosts.filter((h) => h.actions.length > 0);
    expect(changed.filter((h) => h.host === 'esxi').map((h) => [h.node, h.change])).toEqual([['node-4', 'create']]);
    // The REST source needs no key entry (issue 13 item 4): no SCVM changes but node 4's own (its ZBS session's client IPs).
    expect(changed.filter((h) => h.host === 'scvm').map((h) => h.node)).toEqual(['node-4']);
    expect(changed.flatMap((h) => h.actions).filter((a) => a.op.startsWith('authorized-key'))).toEqual([]);

    const t = Date.now();
    const r = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve --target node-4 --target-only`);
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    const changes = nfsRouteChanges(cluster.lab, t);
    const gaps = longestGaps(cluster.lab, t);
    for (const h of esxiHosts(3)) expect({ h, changes: changes[h], gap: (gaps[h] ?? 0) < 500 }).toEqual({ h, changes: [], gap: true });
    expect(await Promise.all(esxiHosts(3).map((h) => installHashes(h)))).toEqual(before);
    await waitFor('node 4 served locally', () => (servedBy(cluster.lab, Date.now() - 1000)['esxi-4'] === 'scvm-4' ? true : undefined), {
      timeoutMs: 20_000,
    });
    // The REST session source needs no cluster key: no SCVM carries an entry of ours (issue 13 item 4).
    for (const n of cluster.lab.nodes) {
      const keys = await cluster.lab.exec(n.scvm.target, 'grep -c zbs-reroute:e2e2 /home/smartx/.ssh/authorized_keys');
      expect({ scvm: n.scvm.target, entries: keys.stdout.trim() }).toEqual({ scvm: n.scvm.target, entries: '0' });
    }
    // The rest (peers learn node 4 in reroute.conf / known_hosts) follows with an untargeted apply.
    const t2 = Date.now();
    const rest = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`);
    expect(ok(rest)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(nfsRouteChanges(cluster.lab, t2)).toEqual(Object.fromEntries(esxiHosts(4).map((h) => [h, []])));
  });

  it('a saved plan applies while the hosts are unchanged, is refused as PLAN_STALE after a host changes, and refused when edited', async () => {
    const planFile = path.join(cluster.dir, 'saved.plan.json');
    await driftConf('esxi-3');
    expect((await reroute(cluster.lab, `plan -f ${m4} ${state()} --out ${planFile}`)).code).toBe(0);
    const r = await reroute(cluster.lab, `apply ${planFile} -f ${m4} ${state()}`);
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(await confDrifted('esxi-3')).toBe(false);

    // The host changes after the plan was saved (an operator edits the crontab by hand).
    await driftConf('esxi-3');
    expect((await reroute(cluster.lab, `plan -f ${m4} ${state()} --out ${planFile}`)).code).toBe(0);
    await cluster.lab.execOk('esxi-1', "echo '# operator note' >> /var/spool/cron/crontabs/root");
    const stale = await reroute(cluster.lab, `apply ${planFile} -f ${m4} ${state()}`);
    expect({ code: stale.code, err: stale.stderr }).toEqual({ code: 1, err: expect.stringContaining('PLAN_STALE') });
    expect(stale.stderr).toContain('node-1 (esxi)');
    expect(await confDrifted('esxi-3')).toBe(true);

    // A plan edited by hand (new content smuggled into a file write) is refused too.
    expect((await reroute(cluster.lab, `plan -f ${m4} ${state()} --out ${planFile}`)).code).toBe(0);
    const saved = JSON.parse(fs.readFileSync(planFile, 'utf8')) as Plan;
    const write = saved.hosts.find((h) => h.node === 'node-3' && h.host === 'esxi')?.actions.find((a) => a.op === 'write-file');
    if (!write || write.op !== 'write-file') throw new Error('expected a reroute.conf write in the plan');
    write.content = `${write.content ?? ''}NFS_ADDRESS='10.99.99.99'\n`;
    fs.writeFileSync(planFile, JSON.stringify(saved, null, 2));
    const edited = await reroute(cluster.lab, `apply ${planFile} -f ${m4} ${state()}`);
    expect({ code: edited.code, err: edited.stderr }).toEqual({ code: 1, err: expect.stringMatching(/PLAN_STALE|PLAN_INVALID/) });
    expect(await cluster.lab.execOk('esxi-3', `cat ${INSTALL}/reroute.conf`)).not.toContain('10.99.99.99');
    expect(await confDrifted('esxi-3')).toBe(true);

    const fix = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`);
    expect(ok(fix)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(await cluster.lab.execOk('esxi-1', 'cat /var/spool/cron/crontabs/root')).toContain('# operator note');
  });

  it('a live host lease held by someone else stops that host (LEASE_HELD, naming the holder) while the others complete', async () => {
    for (const h of esxiHosts(4)) await driftConf(h);
    const until = Math.floor(Date.now() / 1000) + 600;
    await cluster.lab.execOk(
      'esxi-2',
      `mkdir ${INSTALL}/lease && echo '${LEASE_HOLDER}' > ${INSTALL}/lease/owner && echo 4242 > ${INSTALL}/lease/pid && echo ${until} > ${INSTALL}/lease/expires`,
    );
    const r = await reroute(cluster.lab, `--json apply -f ${m4} ${state()} --auto-approve`);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      results: Array<{ node: string; host: string; status: string; error?: { code: string; message: string } }>;
    };
    const e2 = out.results.find((x) => x.node === 'node-2' && x.host === 'esxi');
    expect(e2).toMatchObject({
      status: 'failed',
      error: { code: 'LEASE_HELD', message: expect.stringContaining(`held by ${LEASE_HOLDER}`) },
    });
    for (const n of ['node-1', 'node-3', 'node-4'])
      expect({ n, s: out.results.find((x) => x.node === n && x.host === 'esxi')?.status }).toEqual({ n, s: 'applied' });
    // The human table names the holder too.
    const human = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`held by ${LEASE_HOLDER}`);
    expect(await confDrifted('esxi-2')).toBe(true);
    for (const h of ['esxi-1', 'esxi-3', 'esxi-4']) expect({ h, drift: await confDrifted(h) }).toEqual({ h, drift: false });
    // Their lease is left as it was; ours was released everywhere.
    expect((await cluster.lab.execOk('esxi-2', `cat ${INSTALL}/lease/owner`)).trim()).toBe(LEASE_HOLDER);
    for (const h of ['esxi-1', 'esxi-3', 'esxi-4'])
      expect({ h, lease: (await cluster.lab.exec(h, `ls -d ${INSTALL}/lease`)).code }).toEqual({ h, lease: 1 });

    await cluster.lab.execOk('esxi-2', `rm -rf ${INSTALL}/lease`);
    const again = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`);
    expect(ok(again)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(await confDrifted('esxi-2')).toBe(false);
  });

  it('a changed host key is refused with both fingerprints; --accept-new-host-key node-1 re-pins it and proceeds', async () => {
    await cluster.lab.rotateHostKey('esxi-1');
    const presented = cluster.lab.hostPublicKeys('esxi-1').map(fingerprint);
    await driftConf('esxi-3');
    for (const cmd of [`plan -f ${m4} ${state()}`, `apply -f ${m4} ${state()} --auto-approve`]) {
      const r = await reroute(cluster.lab, cmd);
      expect({ cmd, code: r.code, err: r.stderr }).toEqual({ cmd, code: 1, err: expect.stringContaining('HOST_KEY_CHANGED') });
      expect(r.stderr).toMatch(/pinned: +SHA256:/);
      expect(presented.some((f) => r.stderr.includes(f))).toBe(true);
      expect(r.stderr).toContain('--accept-new-host-key');
    }
    expect(await confDrifted('esxi-3')).toBe(true);

    const r = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve --accept-new-host-key node-1`);
    expect(ok(r)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(`${r.stdout}${r.stderr}`).toContain('replaced pinned host key');
    expect(await confDrifted('esxi-3')).toBe(false);
    expect((await reroute(cluster.lab, `plan -f ${m4} ${state()} --detailed-exitcode`)).code).toBe(0);
  });

  it('a host that hangs during an apply of drift on every host: the others complete and verify, the run ends in time naming it; after healing a re-run converges', async () => {
    await cluster.lab.fault('sshd-hang', 'esxi-2');
    let r: CliRun | undefined;
    let took: number | undefined;
    try {
      // Nothing to do on the hosts that answer is still no success while one could not be observed.
      const idle = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`);
      expect({ code: idle.code, out: idle.stdout }).toEqual({
        code: 1,
        out: expect.stringContaining('could not be observed: node-2 (esxi)'),
      });
      for (const h of esxiHosts(4)) await driftConf(h);
      const started = Date.now();
      r = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`);
      took = Date.now() - started;
    } finally {
      await cluster.lab.heal('sshd-hang', 'esxi-2');
    }
    if (!r || took === undefined) throw new Error('apply did not run');
    expect(r.code).toBe(1);
    // Connect timeout 3 s on the hung host; everything else runs in parallel with it.
    expect(took).toBeLessThan(90_000);
    expect(r.stdout).toMatch(/node-2.*esxi.*(skipped|failed)/);
    expect(r.stdout).toContain('Apply finished with problems');
    for (const n of ['node-1', 'node-3', 'node-4']) expect(r.stdout).toMatch(new RegExp(`${n}\\s.*esxi.*applied.*ok \\(route via`));
    for (const h of ['esxi-1', 'esxi-3', 'esxi-4']) expect({ h, drift: await confDrifted(h) }).toEqual({ h, drift: false });
    expect(await confDrifted('esxi-2')).toBe(true);

    const again = await reroute(cluster.lab, `apply -f ${m4} ${state()} --auto-approve`);
    expect(ok(again)).toEqual({ code: 0, tail: expect.stringContaining('Apply complete') });
    expect(await confDrifted('esxi-2')).toBe(false);
    expect((await reroute(cluster.lab, `plan -f ${m4} ${state()} --detailed-exitcode`)).code).toBe(0);
  });
});
