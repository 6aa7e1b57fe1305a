import type { Manifest } from '../manifest/manifest-types';
import { observeCluster, type ObserveOptions } from '../observe/observe-cluster';
import type { EsxiObserved } from '../observe/observed-types';
import type { RemoteHost } from '../remote/ssh-connection';
import { shellCommand } from '../remote/shell-quote';
import { drainGateway, judgeHost, type HostVerification } from './verify-host';

export interface VerifyDeps {
  connect: ObserveOptions['connect'];
  esxi(node: string): Promise<RemoteHost>;
  /** Injected clock and sleep so the wait is bounded and testable. */
  sleep(ms: number): Promise<void>;
  nowMs(): number;
  onProgress?(message: string): void;
}

/** Ping every address from the host itself, all at once, small packets, 1 s each. */
export function pingCommand(ips: string[]): string {
  const each = ips.map((ip) => `( if ping -c 1 -s 16 -W 1 ${shellCommand([ip])} >/dev/null 2>&1; then echo "ok ${ip}"; else echo "fail ${ip}"; fi ) &`).join('\n');
  return `${each}\nwait\n`;
}

export function parsePingOutput(stdout: string, ips: string[]): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const ip of ips) out[ip] = false;
  for (const line of stdout.split('\n')) {
    const m = /^(ok|fail) (\S+)$/.exec(line.trim());
    if (m && m[2] !== undefined && m[2] in out) out[m[2]] = m[1] === 'ok';
  }
  return out;
}

/**
 * Wait (bounded) for each changed host's agent to report a fresh heartbeat,
 * then judge it. `since` is each host's own clock at observation time, so
 * clock skew between here and the host does not matter.
 */
export async function verifyHosts(manifest: Manifest, nodes: { node: string; since: number }[], deps: VerifyDeps, opts: { timeoutMs: number }): Promise<HostVerification[]> {
  const accessIps = [...new Set(manifest.nodes.flatMap((n) => [n.scvm.storageIp, n.scvm.managementIp, ...(n.scvm.accessIp === undefined ? [] : [n.scvm.accessIp])]))];
  const results = await Promise.all(
    nodes.map(async ({ node, since }) => {
      const spec = manifest.nodes.find((n) => n.name === node);
      if (!spec) return { node, ok: false, problems: ['not in the manifest'], unreachableIps: [] } satisfies HostVerification;
      const deadline = deps.nowMs() + opts.timeoutMs;
      // A drained host is done when the agent has followed the pin, which takes it an interval or two.
      // Shadow mode: the agent never moves the route, so neither the pin nor the route is waited for.
      const shadow = manifest.routing.mode === 'shadow';
      const pin = shadow ? undefined : drainGateway(manifest, spec);
      let last: EsxiObserved | undefined;
      let lastReason = 'no observation';
      for (let attempt = 0; attempt < 200; attempt++) {
        const observed = await observeCluster(manifest, { connect: deps.connect, nodes: [node] });
        const o = observed.esxi[node];
        if (o && o.reachable) {
          last = o;
          const hb = o.heartbeat;
          // A failed fetch may be one slow SCVM: wait (bounded) for one that works before judging.
          // The agent writes its heartbeat just after it moves the route: wait until both agree.
          const settled = shadow || (o.nfsRoute !== undefined && (hb?.target === '' || hb?.target === o.nfsRoute.gateway));
          // A changed MODE takes effect when the agent next re-reads reroute.conf (one interval).
          const modeOk = (hb?.mode ?? 'active') === manifest.routing.mode;
          if (hb && hb.updated > since && hb.version === manifest.version && hb.fetch === 'ok' && modeOk && o.agentProcesses.some((p) => p.pid === hb.pid) && settled && (pin === undefined || o.nfsRoute?.gateway === pin)) break;
        } else lastReason = o && !o.reachable ? o.reason : 'not observed';
        if (deps.nowMs() >= deadline) break;
        await deps.sleep(1000);
      }
      if (!last) return { node, ok: false, problems: [`unreachable during verification: ${lastReason}`], unreachableIps: [] } satisfies HostVerification;
      const host = await deps.esxi(node);
      // One lost ICMP reply is not a broken path: addresses that did not answer get two more tries.
      const pings: Record<string, boolean> = {};
      let pending = accessIps;
      for (let round = 0; round < 3 && pending.length > 0; round++) {
        const r = await host.exec(pingCommand(pending), { timeoutMs: 15000 });
        Object.assign(pings, parsePingOutput(r.stdout, pending));
        pending = pending.filter((ip) => !pings[ip]);
      }
      const verdict = judgeHost({ manifest, node: spec, observed: last, since, pings });
      deps.onProgress?.(`  verify ${node}: ${verdict.ok ? 'ok' : verdict.problems.join('; ')}`);
      return verdict;
    }),
  );
  return results;
}
