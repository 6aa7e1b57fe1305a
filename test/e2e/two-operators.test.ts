import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeLabManifest } from '../support/lab-manifest';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { useLabCluster } from '../support/lab-cluster';

/**
 * Issue 13 item 6 with the real CLI on a 2-node lab, ssh session source (the one that installs the
 * cluster key): two operators with two fresh state folders apply at the same moment. The cluster
 * key lease lets exactly one install its keypair; the other fails before any change and drops the
 * keypair it created. Every ESXi host then holds one and the same key, every SCVM exactly one
 * entry; the winner's next plan is a no-op, and so is the loser's after `state import` of the
 * winner's `state export`.
 */
jest.setTimeout(600_000);

const KEY = '/vmfs/volumes/datastore1/zbs-reroute/keys/reroute_id_rsa';

describeLab('two operators, two fresh state folders, one cluster identity', () => {
  const cluster = useLabCluster('zk2-ops', { lab: { nodes: 2 } });

  const tail = (r: { code: number; stdout: string; stderr: string }) => `${r.stdout.slice(-2500)}\n${r.stderr.slice(-1500)}`;
  let manifest = '';
  let winner = '';
  let loser = '';

  it('two applies started together: one wins, the other exits non-zero having changed nothing', async () => {
    manifest = writeLabManifest(cluster.lab, cluster.dir, 'cluster.yaml', { clusterName: 'zk2', routing: { sessionSource: 'ssh' } });
    const [a, b] = await Promise.all(
      ['a', 'b'].map((s) => reroute(cluster.lab, `apply -f ${manifest} --state ${cluster.dir}/${s} --auto-approve`)),
    );
    const runs = [
      { s: 'a', r: a! },
      { s: 'b', r: b! },
    ];
    const ok = runs.filter((x) => x.r.code === 0);
    const failed = runs.filter((x) => x.r.code !== 0);
    expect({
      ok: ok.map((x) => x.s).length,
      failed: failed.map((x) => x.s).length,
      out: runs.map((x) => `${x.s}: ${tail(x.r)}`).join('\n----\n'),
    }).toEqual({ ok: 1, failed: 1, out: expect.any(String) });
    winner = ok[0]!.s;
    loser = failed[0]!.s;
    expect(tail(ok[0]!.r)).toContain('Apply complete');
    // The loser says why (the lease, or a key changed under it) with the way out.
    expect(tail(failed[0]!.r)).toMatch(/cluster key lease on node-\d is held|cluster key on the hosts changed/);
    expect(tail(failed[0]!.r)).toMatch(/state export/);
    // It kept no rival keypair.
    expect(fs.existsSync(path.join(cluster.dir, loser, 'reroute_id_rsa'))).toBe(false);
  });

  it("every ESXi host holds the winner's key, every SCVM exactly one entry", async () => {
    const want = fs.readFileSync(path.join(cluster.dir, winner, 'reroute_id_rsa'), 'utf8');
    for (const n of cluster.lab.nodes) {
      expect({ h: n.esxi.target, same: (await cluster.lab.execOk(n.esxi.target, `cat ${KEY}`)) === want }).toEqual({
        h: n.esxi.target,
        same: true,
      });
      expect({
        scvm: n.scvm.target,
        entries: (await cluster.lab.exec(n.scvm.target, 'grep -c zbs-reroute:zk2 /home/smartx/.ssh/authorized_keys')).stdout.trim(),
      }).toEqual({ scvm: n.scvm.target, entries: '1' });
      expect((await cluster.lab.exec(n.esxi.target, 'ls /vmfs/volumes/datastore1/zbs-reroute/keylease 2>&1')).code).not.toBe(0);
    }
  });

  it("the winner's next plan is a no-op; the loser's too after importing the winner's export", async () => {
    const w = await reroute(cluster.lab, `plan -f ${manifest} --state ${cluster.dir}/${winner} --detailed-exitcode`);
    expect({ code: w.code, out: tail(w) }).toEqual({ code: 0, out: expect.stringContaining('No changes') });
    const exp = await reroute(cluster.lab, `state export --out ${cluster.dir}/identity.json --state ${cluster.dir}/${winner}`);
    expect({ code: exp.code, out: tail(exp) }).toEqual({ code: 0, out: expect.stringContaining('Exported the cluster keypair') });
    expect((fs.statSync(path.join(cluster.dir, 'identity.json')).mode & 0o777).toString(8)).toBe('600');
    const imp = await reroute(cluster.lab, `state import ${cluster.dir}/identity.json --state ${cluster.dir}/${loser}`);
    expect({ code: imp.code, out: tail(imp) }).toEqual({
      code: 0,
      out: expect.stringMatching(/imported the cluster keypair|the same already/),
    });
    const l = await reroute(cluster.lab, `plan -f ${manifest} --state ${cluster.dir}/${loser} --detailed-exitcode`);
    expect({ code: l.code, out: tail(l) }).toEqual({ code: 0, out: expect.stringContaining('No changes') });
  });
});
