import type { Manifest, NodeSpec } from '../manifest/manifest-types';
import { observeCluster, type ObserveOptions } from '../observe/observe-cluster';
import type { EsxiObserved } from '../observe/observed-types';
import type { RemoteHost } from '../remote/ssh-connection';
import { shellCommand } from '../core/shell-quote';
import { mapBounded } from './map-bounded';
import { drainGateway, inconclusive, judgeHost, type HostVerification } from './verify-host';
import { pingTargets } from './verify-targets';

export interface VerifyDeps {
  connect: ObserveOptions['connect'];
  esxi(node: string): Promise<RemoteHost>;
  /** Injected clock and sleep so the wait is bounded and testable. */
  sleep(ms: number): Promise<void>;
  nowMs(): number;
  onProgress?(message: string): void;
}

export interface VerifyTarget {
  node: string;
  /** The host's own clock at observation time (epoch s): its heartbeat must be newer. */
  since: number;
  /** The agent version apply leaves there (src/apply/verify-host.ts wantedAgentVersion); default the manifest's. */
  wantedVersion?: string;
}

/** An address that did not answer is asked again this many times in all, */
export const PING_ROUNDS = 3;
/** with this much time between rounds: a reply lost to a busy moment (fork delay, a full queue) is not a broken path. */
export const PING_SPACING_MS = 1000;
/** Per ping: generous, since a reply late by fork delay on a loaded host is still a reply. */
const PING_WAIT_S = 2;
const PING_EXEC_TIMEOUT_MS = 15_000;

/** Ping each address once from the host itself (a handful: verify-targets.ts), small packets. */
export function pingCommand(ips: string[]): string {
  const each = ips
    .map(
      (ip) =>
        `( if ping -c 1 -s 16 -W ${PING_WAIT_S} ${shellCommand([ip])} >/dev/null 2>&1; then echo "ok ${ip}"; else echo "fail ${ip}"; fi ) &`,
    )
    .join('\n');
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

/** Up to PING_ROUNDS rounds, PING_SPACING_MS apart; each round asks only the addresses still silent. */
export async function pingSpaced(
  host: Pick<RemoteHost, 'exec'>,
  ips: string[],
  sleep: (ms: number) => Promise<void>,
): Promise<Record<string, boolean>> {
  const pings: Record<string, boolean> = {};
  let pending = [...new Set(ips)];
  for (let round = 0; round < PING_ROUNDS && pending.length > 0; round++) {
    if (round > 0) await sleep(PING_SPACING_MS);
    const r = await host.exec(pingCommand(pending), { timeoutMs: PING_EXEC_TIMEOUT_MS });
    Object.assign(pings, parsePingOutput(r.stdout, pending));
    pending = pending.filter((ip) => !pings[ip]);
  }
  return pings;
}

/** Each observation within what is left of the verification (the manifest's host timeout is minutes). */
function boundedHostTimeout(manifest: Manifest, remainingMs: number): Manifest {
  const seconds = Math.max(5, Math.min(manifest.access.ssh.hostTimeoutSeconds, Math.ceil(remainingMs / 1000) + 5));
  return { ...manifest, access: { ...manifest.access, ssh: { ...manifest.access.ssh, hostTimeoutSeconds: seconds } } };
}

/** Whether the agent has done what apply asked: fresh heartbeat at the wanted version and mode, route settled. */
function settled(manifest: Manifest, spec: NodeSpec, target: VerifyTarget, o: EsxiObserved): boolean {
  const hb = o.heartbeat;
  // Shadow mode: the agent never moves the route, so neither the pin nor the route is waited for.
  const shadow = manifest.routing.mode === 'shadow';
  // A drained host is done when the agent has followed the pin, which takes it an interval or two.
  const pin = shadow ? undefined : drainGateway(manifest, spec);
  // The agent writes its heartbeat just after it moves the route: wait until both agree.
  const routeAgrees = shadow || (o.nfsRoute !== undefined && (hb?.target === '' || hb?.target === o.nfsRoute.gateway));
  // A changed MODE takes effect when the agent next re-reads reroute.conf (one interval).
  const modeOk = (hb?.mode ?? 'active') === manifest.routing.mode;
  // A failed fetch may be one slow SCVM: wait (bounded) for one that works before judging.
  return (
    hb !== undefined &&
    hb.updated > target.since &&
    hb.version === (target.wantedVersion ?? manifest.version) &&
    hb.fetch === 'ok' &&
    modeOk &&
    o.agentProcesses.some((p) => p.pid === hb.pid) &&
    routeAgrees &&
    (pin === undefined || o.nfsRoute?.gateway === pin)
  );
}

/** Observe the host until the agent has settled or the deadline passes; the last reachable observation, or why there was none. */
async function awaitAgent(
  manifest: Manifest,
  spec: NodeSpec,
  target: VerifyTarget,
  deps: VerifyDeps,
  deadline: number,
): Promise<{ observed?: EsxiObserved; reason: string }> {
  let last: EsxiObserved | undefined;
  let reason = 'no observation';
  for (let attempt = 0; attempt < 200; attempt++) {
    const observed = await observeCluster(boundedHostTimeout(manifest, deadline - deps.nowMs()), {
      connect: deps.connect,
      nodes: [spec.name],
    });
    const o = observed.esxi[spec.name];
    if (o && o.reachable) {
      last = o;
      if (settled(manifest, spec, target, o)) break;
    } else reason = o && !o.reachable ? o.reason : 'not observed';
    if (deps.nowMs() >= deadline) break;
    await deps.sleep(1000);
  }
  return { observed: last, reason };
}

/** One host: wait for its agent, ping what decides it, judge. Throws on a connection or command failure. */
export async function verifyHost(
  manifest: Manifest,
  target: VerifyTarget,
  deps: VerifyDeps,
  opts: { timeoutMs: number },
): Promise<HostVerification> {
  const spec = manifest.nodes.find((n) => n.name === target.node);
  if (!spec)
    return { node: target.node, verdict: 'failed', ok: false, problems: ['not in the manifest'], warnings: [], unreachableIps: [] };
  const { observed, reason } = await awaitAgent(manifest, spec, target, deps, deps.nowMs() + opts.timeoutMs);
  if (!observed) return inconclusive(target.node, `unreachable during verification: ${reason}`);
  const { decisive, peers } = pingTargets(manifest, spec, observed.nfsRoute?.gateway);
  const pings = await pingSpaced(await deps.esxi(target.node), [...decisive, ...peers.map((p) => p.ip)], deps.sleep);
  return judgeHost({ manifest, node: spec, observed, since: target.since, pings, wantedVersion: target.wantedVersion });
}

/** The progress line of one verdict. */
export function verdictLine(v: HostVerification): string {
  const detail =
    v.verdict === 'ok'
      ? 'ok'
      : v.verdict === 'warning'
        ? `ok, warning: ${v.warnings.join('; ')}`
        : v.verdict === 'inconclusive'
          ? `inconclusive: ${v.reason ?? ''}`
          : v.problems.join('; ');
  return `  verify ${v.node}: ${detail}`;
}

/**
 * Run `one` for every target, `parallelism` at a time. A host whose verification throws (a
 * REMOTE_TIMEOUT, a dropped connection) gets an `inconclusive` verdict; every other host is
 * still verified and its verdict kept.
 */
export async function verifyEach(
  targets: VerifyTarget[],
  parallelism: number,
  one: (t: VerifyTarget) => Promise<HostVerification>,
  onProgress?: (m: string) => void,
): Promise<HostVerification[]> {
  return mapBounded(targets, parallelism, async (t) => {
    let v: HostVerification;
    try {
      v = await one(t);
    } catch (err) {
      v = inconclusive(t.node, `verification stopped: ${err instanceof Error ? err.message : String(err)}`);
    }
    onProgress?.(verdictLine(v));
    return v;
  });
}

/**
 * Wait (bounded) for each changed host's agent to report a fresh heartbeat, then judge it,
 * at most `access.parallelism` hosts at once. `since` is each host's own clock at observation
 * time, so clock skew between here and the host does not matter.
 */
export async function verifyHosts(
  manifest: Manifest,
  targets: VerifyTarget[],
  deps: VerifyDeps,
  opts: { timeoutMs: number },
): Promise<HostVerification[]> {
  return verifyEach(targets, manifest.access.parallelism, (t) => verifyHost(manifest, t, deps, opts), deps.onProgress);
}
