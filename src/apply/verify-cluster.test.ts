import { RerouteError } from '../errors/reroute-error';
import type { ExecResult } from '../remote/ssh-connection';
import { parsePingOutput, PING_ROUNDS, PING_SPACING_MS, pingSpaced, verifyEach, type VerifyTarget } from './verify-cluster';
import type { HostVerification } from './verify-host';

const targets: VerifyTarget[] = Array.from({ length: 16 }, (_, i) => ({ node: `node-${i + 1}`, since: 100 }));
const ok = (node: string): HostVerification => ({ node, verdict: 'ok', ok: true, problems: [], warnings: [], unreachableIps: [] });
const tick = () => new Promise((r) => setImmediate(r));

describe('verifying many hosts', () => {
  test('at most `parallelism` hosts are verified at once, every host once', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: string[] = [];
    const out = await verifyEach(targets, 4, async (t) => {
      inFlight++;
      most = Math.max(most, inFlight);
      seen.push(t.node);
      await tick();
      await tick();
      inFlight--;
      return ok(t.node);
    });
    expect(most).toBe(4);
    expect(seen.sort()).toEqual(targets.map((t) => t.node).sort());
    expect(out.map((v) => v.node)).toEqual(targets.map((t) => t.node));
  });

  test("one host's REMOTE_TIMEOUT is that host's inconclusive verdict; every other host is still judged and kept", async () => {
    const lines: string[] = [];
    const out = await verifyEach(
      targets.slice(0, 4),
      2,
      async (t) => {
        await tick();
        if (t.node === 'node-2')
          throw new RerouteError('REMOTE_TIMEOUT', 'Command on node-2 did not finish within 15 s: ping', 'Check the host.');
        if (t.node === 'node-4') return { ...ok(t.node), verdict: 'failed', ok: false, problems: ['no agent loop is running'] };
        return ok(t.node);
      },
      (m) => lines.push(m),
    );
    expect(out.map((v) => [v.node, v.verdict])).toEqual([
      ['node-1', 'ok'],
      ['node-2', 'inconclusive'],
      ['node-3', 'ok'],
      ['node-4', 'failed'],
    ]);
    expect(out[1]?.reason).toMatch(/did not finish within 15 s/);
    expect(lines).toContain('  verify node-2: inconclusive: verification stopped: Command on node-2 did not finish within 15 s: ping');
  });
});

describe('pings with spaced retries', () => {
  function fakeHost(answers: Record<string, boolean[]>) {
    const calls: string[][] = [];
    return {
      calls,
      exec: async (cmd: string): Promise<ExecResult> => {
        const ips = [...cmd.matchAll(/echo "ok (\S+)"/g)].map((x) => x[1] as string);
        calls.push(ips);
        const round = calls.length - 1;
        return { code: 0, stdout: ips.map((ip) => `${answers[ip]?.[round] ? 'ok' : 'fail'} ${ip}`).join('\n'), stderr: '' } as ExecResult;
      },
    };
  }

  test('only silent addresses are asked again, after a pause, at most PING_ROUNDS times', async () => {
    const sleeps: number[] = [];
    const host = fakeHost({ a: [true], b: [false, true], c: [false, false, false] });
    const r = await pingSpaced(host, ['a', 'b', 'c'], async (ms) => void sleeps.push(ms));
    expect(r).toEqual({ a: true, b: true, c: false });
    expect(host.calls).toEqual([['a', 'b', 'c'], ['b', 'c'], ['c']]);
    expect(host.calls).toHaveLength(PING_ROUNDS);
    expect(sleeps).toEqual([PING_SPACING_MS, PING_SPACING_MS]);
  });

  test('all answering: one round, no pause', async () => {
    const sleeps: number[] = [];
    const host = fakeHost({ a: [true], b: [true] });
    expect(await pingSpaced(host, ['a', 'b', 'a'], async (ms) => void sleeps.push(ms))).toEqual({ a: true, b: true });
    expect(host.calls).toEqual([['a', 'b']]);
    expect(sleeps).toEqual([]);
  });

  test('an address missing from the output counts as silent', () => {
    expect(parsePingOutput('ok 10.0.0.1\ngarbage\n', ['10.0.0.1', '10.0.0.2'])).toEqual({ '10.0.0.1': true, '10.0.0.2': false });
  });
});
