import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeLabManifest } from '../support/lab-manifest';
import { waitFor } from '../support/wait-for';
import { reroute } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { useLabCluster } from '../support/lab-cluster';

/**
 * Issue 13 item 4 with the real CLI on a 2-node lab: the cluster key is worth one session list.
 * With the ssh session source the agent's key, used from an ESXi host, cannot run `id`, write a
 * file or read /etc/shadow on an SCVM (sshd forces `zbs-meta session list`), while the agent
 * itself still fetches the list over it. With the REST source there is no key at all: an apply
 * removes the keypair and known_hosts from every ESXi host and our entry from every SCVM, and a
 * fresh state folder never creates a keypair.
 */
jest.setTimeout(600_000);

const DIR = '/vmfs/volumes/datastore1/zbs-reroute';

describeLab('cluster key with least power (ssh source: forced read-only command; rest source: no key at all)', () => {
  const cluster = useLabCluster('zk-keys', { lab: { nodes: 2 } });

  const state = (name = 'state') => `--state ${cluster.dir}/${name}`;
  const out = (r: { code: number; stdout: string; stderr: string }) => ({
    code: r.code,
    out: `${r.stdout.slice(-3000)}${r.stderr.slice(-1500)}`,
  });

  async function heartbeats(source: string): Promise<void> {
    for (const n of cluster.lab.nodes) {
      await waitFor(
        `${n.esxi.target} fetch=ok over ${source}`,
        async () => {
          const st = (await cluster.lab.exec(n.esxi.target, 'cat /var/run/zbs-reroute/status')).stdout;
          return st.includes('fetch=ok\n') && st.includes(`source=${source}\n`) ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
    }
  }

  it('ssh source: the entry is restrict + the one read-only command + from=; the agent still fetches', async () => {
    const manifest = writeLabManifest(cluster.lab, cluster.dir, 'ssh.yaml', { clusterName: 'zkkeys', routing: { sessionSource: 'ssh' } });
    const r = await reroute(cluster.lab, `apply -f ${manifest} ${state()} --auto-approve`);
    expect(out(r)).toEqual({ code: 0, out: expect.stringContaining('Apply complete') });
    await heartbeats('ssh');
    for (const n of cluster.lab.nodes) {
      const lines = (await cluster.lab.execOk(n.scvm.target, 'cat /home/smartx/.ssh/authorized_keys'))
        .split('\n')
        .filter((l) => l.includes('zbs-reroute:zkkeys'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^restrict,command="zbs-meta session list",from="[0-9.,]+" ssh-rsa \S+ zbs-reroute:zkkeys$/);
    }
  });

  it("ssh source: the agent's key on an ESXi host cannot run id, write a file or read /etc/shadow on any SCVM", async () => {
    const esxi = cluster.lab.nodes[0]!.esxi.target;
    const ssh = (ip: string, cmd: string) =>
      cluster.lab.exec(
        esxi,
        `ssh -i ${DIR}/keys/reroute_id_rsa -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${DIR}/keys/known_hosts smartx@${ip} '${cmd}'`,
        { timeoutMs: 30_000 },
      );
    for (const n of cluster.lab.nodes) {
      const id = await ssh(n.scvm.mgmtIp, 'id');
      // sshd runs the forced command instead: the session list (or a failure), never a uid.
      expect({ scvm: n.scvm.target, out: id.stdout + id.stderr }).not.toEqual({ scvm: n.scvm.target, out: expect.stringMatching(/uid=/) });
      expect(id.stdout).toMatch(/10\.20\.0\.|Ip|ip/);
      const write = await ssh(n.scvm.mgmtIp, 'touch /home/smartx/zk-pwned; echo > /tmp/zk-pwned');
      expect(write.stdout).not.toMatch(/uid=/);
      expect((await cluster.lab.exec(n.scvm.target, 'ls /home/smartx/zk-pwned /tmp/zk-pwned 2>/dev/null')).stdout.trim()).toBe('');
      const shadow = await ssh(n.scvm.mgmtIp, 'sudo -n cat /etc/shadow');
      expect(shadow.stdout).not.toMatch(/^root:/m);
    }
    // The agent keeps fetching the list over the same key.
    await heartbeats('ssh');
  });

  it('rest source over that install: apply removes the keypair, known_hosts and every SCVM entry, saying why; then no changes', async () => {
    const manifest = writeLabManifest(cluster.lab, cluster.dir, 'rest.yaml', { clusterName: 'zkkeys', routing: { sessionSource: 'rest' } });
    const plan = await reroute(cluster.lab, `plan -f ${manifest} ${state()}`);
    expect(plan.stdout).toMatch(/cluster keypair not needed: session source rest/);
    expect(plan.stdout).toMatch(/key entry not needed: session source rest/);
    const r = await reroute(cluster.lab, `apply -f ${manifest} ${state()} --auto-approve`);
    expect(out(r)).toEqual({ code: 0, out: expect.stringContaining('Apply complete') });
    await heartbeats('rest');
    for (const n of cluster.lab.nodes) {
      expect((await cluster.lab.exec(n.esxi.target, `ls -A ${DIR}/keys 2>&1; ls ${DIR}`)).stdout).not.toMatch(
        /reroute_id_rsa|known_hosts|^keys$/m,
      );
      expect((await cluster.lab.exec(n.scvm.target, 'grep -c zbs-reroute:zkkeys /home/smartx/.ssh/authorized_keys')).stdout.trim()).toBe(
        '0',
      );
    }
    const again = await reroute(cluster.lab, `plan -f ${manifest} ${state()} --detailed-exitcode`);
    expect(out(again)).toEqual({ code: 0, out: expect.stringContaining('No changes') });
  });

  it('rest source from a fresh state folder: no keypair is created, and nothing to do', async () => {
    const manifest = path.join(cluster.dir, 'rest.yaml');
    const r = await reroute(cluster.lab, `plan -f ${manifest} ${state('fresh')} --detailed-exitcode`);
    expect(out(r)).toEqual({ code: 0, out: expect.stringContaining('No changes') });
    expect(fs.readdirSync(path.join(cluster.dir, 'fresh')).filter((f) => f.includes('reroute_id_rsa'))).toEqual([]);
  });
});
