import * as fs from 'node:fs';
import { parse, stringify } from 'yaml';
import { samplePeers } from '../../src/apply/verify-targets';
import { loadManifest } from '../../src/manifest/manifest-load';
import { EXIT_APPLIED_WITH_WARNINGS, EXIT_OK, EXIT_UNKNOWN } from '../../src/cli/exit-codes';
import { writeLabManifest } from '../support/lab-manifest';
import { waitFor } from '../support/wait-for';
import { reroute, startCli } from '../support/run-cli';
import { describeLab } from '../support/describe-lab';
import { useLabCluster } from '../support/lab-cluster';

/**
 * Issue 14, verification that tells the truth, with the real CLI on a 3-node lab:
 * - a fresh apply is verified on every host and exits 0;
 * - a peer SCVM that one host cannot reach (a partition, the other hosts still reach it) is a
 *   warning naming the peer, exit 4, never a failed apply;
 * - a host that stops answering while it is being verified gets `inconclusive` (exit 3), and the
 *   other hosts are still judged and reported.
 * No timing thresholds: the benchmark holds the figures.
 */
jest.setTimeout(600_000);

/** The test's own operator actions (pidof) are not on an ESXi host: the lab's private applets are. */
const LAB_TOOLS = 'PATH=/usr/lib/vmware/lab/bin:$PATH; ';
const tail = (r: { code: number | null; stdout: string; stderr?: string }) => ({
  code: r.code,
  out: `${r.stdout.slice(-2500)}\n${(r.stderr ?? '').slice(-800)}`,
});

describeLab('apply verification at scale (issue 14)', () => {
  const cluster = useLabCluster('zv-verify', { beforeStop: () => cluster.lab.healLinks().catch(() => undefined) });

  /** A manifest for the lab with `failbackDelaySeconds` (a changed value changes every host) and access settings. */
  function manifest(file: string, failbackDelaySeconds: number, access: Record<string, unknown> = {}): string {
    const p = writeLabManifest(cluster.lab, cluster.dir, file, { clusterName: 'zv', routing: { failbackDelaySeconds } });
    const doc = parse(fs.readFileSync(p, 'utf8')) as { spec: { access: Record<string, unknown> } };
    doc.spec.access = { ...doc.spec.access, ...access };
    fs.writeFileSync(p, stringify(doc));
    return p;
  }

  it('a fresh apply verifies every host and exits 0', async () => {
    const r = await reroute(cluster.lab, `apply -f ${manifest('a.yaml', 8)} --state ${cluster.dir}/state --auto-approve`);
    expect(tail(r)).toEqual({ code: EXIT_OK, out: expect.stringContaining('Apply complete: ') });
    expect(r.stdout.match(/ {2}verify node-\d: ok$/gm)).toHaveLength(3);
  });

  it('a peer SCVM one host cannot reach is a warning naming that peer: exit 4, every host verified', async () => {
    const m = manifest('b.yaml', 9);
    // A peer node-1 samples (the first of its ring): its SCVM is cut from esxi-1 alone.
    const peer = samplePeers(loadManifest(m, { bundledVersion: '0.0.0', anyVersion: true }), 'node-1')[0]!.name;
    await cluster.lab.partition('esxi-1', peer.replace('node-', 'scvm-'));
    try {
      const r = await reroute(cluster.lab, `apply -f ${m} --state ${cluster.dir}/state --auto-approve`);
      expect(tail(r)).toEqual({ code: EXIT_APPLIED_WITH_WARNINGS, out: expect.stringContaining('Apply complete with warnings') });
      expect(r.stdout).toMatch(new RegExp(`node-1: peer ${peer} \\(\\S+\\) does not answer pings from node-1`));
      // The other hosts reach that SCVM: plain ok.
      expect(r.stdout).toMatch(/ {2}verify node-2: ok$/m);
      expect(r.stdout).toMatch(/ {2}verify node-3: ok$/m);
      expect(r.stdout).not.toContain('failed verification');
    } finally {
      await cluster.lab.healLinks();
    }
  });

  it('a host that stops answering during verification is inconclusive (exit 3); the others are still judged', async () => {
    // One host at a time, in manifest order: esxi-2 is cut once esxi-3's apply has begun
    // (esxi-2 is done, lease released), so it is certainly cut when its verification starts.
    const m = manifest('c.yaml', 10, { parallelism: 1 });
    const run = startCli(['apply', '-f', m, '--state', `${cluster.dir}/state`, '--auto-approve'], { lab: cluster.lab });
    let stopped = false;
    try {
      await waitFor('esxi-3 apply to begin', () => (/node-3 \(esxi\): \d+ action\(s\)/.test(run.stdout()) ? true : undefined), {
        timeoutMs: 240_000,
        everyMs: 50,
      });
      // Every sshd there, our pooled session's too, stops answering.
      await cluster.lab.execOk('esxi-2', `${LAB_TOOLS}kill -STOP $(pidof sshd)`, { timeoutMs: 30_000 });
      stopped = true;
      const code = await run.done;
      expect(tail({ code, stdout: run.stdout(), stderr: run.stderr() })).toEqual({
        code: EXIT_UNKNOWN,
        out: expect.stringMatching(/1 host\(s\) could not be verified \(inconclusive, exit 3\): node-2/),
      });
      expect(run.stdout()).toMatch(/ {2}verify node-2: inconclusive: /);
      expect(run.stdout()).toMatch(/ {2}verify node-1: ok$/m);
      expect(run.stdout()).toMatch(/ {2}verify node-3: ok$/m);
    } finally {
      if (stopped) await cluster.lab.execOk('esxi-2', `${LAB_TOOLS}kill -CONT $(pidof sshd)`, { timeoutMs: 30_000 });
      await run.done;
    }
  });
});
