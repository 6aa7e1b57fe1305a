/**
 * One agent iteration at 64 nodes during a failover (issue 14): 63 peers per tier, half of them
 * dead, the local SCVM's storage link down. The shipped agent's own `iterate` runs once per sample
 * on a lab ESXi host (busybox ash, real pings in network namespaces, the lab's esxcfg-route), in a
 * fresh shell each time (no backoff carried over: the first iteration of a failover is the worst),
 * with the session list the iterations before the failure left (as on a running agent; before
 * 2026-12-02 the harness started with none, so the agent had no list to plan its first burst from).
 *
 * The lab has 2 nodes; the 64-node cluster is made of addresses: scvm-2 answers for itself and 30
 * more storage and management addresses (extra addresses in its namespace), 32 more of each are
 * dead (nobody has them). The session list the agent parses lists all 64 SCVMs: the harness's
 * `fetch_tool` makes the real REST request to the local SCVM's meta, discards the 2-node answer and
 * hands the agent a 64-node one (so the tier candidates are the 63 peers, as on a real cluster).
 *
 * Measured per sample, by the agent shell itself: wall time of `iterate` (its /proc/uptime clock)
 * and CPU (busybox `times` before and after: the shell plus every child it reaped, pings included).
 * Two phases: as the machine is ("idle": no load generated; its load average is recorded, since
 * other work may share the machine) and with a bounded pool of busy-loop processes aiming at a
 * load average of about 4, killed at the end. Targets (issue 14): within one interval (3 s) idle,
 * within two (6 s) at load 4; a phase whose measured load was not the condition is reported as
 * such and never counts as met.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Lab, LabNode } from '../lab/lab';
import { AGENT_SRC } from '../test/agent/agent-lab';
import { hostFile, HOST_BENCH_DIR, sleep, startLab, benchLabName } from './bench-lab';
import { loadAvg, stats, type BenchBody, type BenchContext, type Benchmark } from './bench-result';
import { parseTimes } from './session-source';

const INTERVAL_S = 3;
const PEERS = 63;
const LIVE_EXTRA = 30; // + scvm-2 itself = 31 live peers per tier
const NFS = '192.168.33.2';

interface Sample {
  phase: 'idle' | 'load4';
  wallMs: number;
  cpuMs: number;
  want: string;
  kind: string;
  bursts: number;
  load1: number;
}

/** The 64-node cluster as addresses: [storage, mgmt] of the 63 peers, and which of them live. */
function cluster(lab: Lab): { storage: string[]; mgmt: string[]; live: Set<string> } {
  const peer = lab.nodes[1] as LabNode;
  const sNet = peer.scvm.storageIp.replace(/\.\d+$/, '');
  const mNet = peer.scvm.mgmtIp.replace(/\.\d+$/, '');
  const storage = [peer.scvm.storageIp];
  const mgmt = [peer.scvm.mgmtIp];
  for (let i = 0; i < LIVE_EXTRA; i++) {
    storage.push(`${sNet}.${160 + i}`);
    mgmt.push(`${mNet}.${160 + i}`);
  }
  const live = new Set([...storage, ...mgmt]);
  for (let i = 0; storage.length < PEERS; i++) {
    storage.push(`${sNet}.${200 + i}`);
    mgmt.push(`${mNet}.${200 + i}`);
  }
  return { storage, mgmt, live };
}

function sessionsJson(local: LabNode, storage: string[], mgmt: string[]): string {
  const data = [[local.scvm.storageIp, local.scvm.mgmtIp], ...storage.map((s, i) => [s, mgmt[i] as string])].map(([ip, sec], i) => ({
    session_id: `s-${i}`,
    ip,
    port: 10201,
    cid: i + 1,
    secondary_data_ip: sec,
  }));
  return JSON.stringify({ ec: 'EOK', data });
}

function conf(local: LabNode, storage: string[], mgmt: string[]): string {
  const kv: Record<string, string> = {
    NODE_NAME: local.esxi.target,
    NFS_ADDRESS: NFS,
    LOCAL_STORAGE_IP: local.scvm.storageIp,
    LOCAL_MGMT_IP: local.scvm.mgmtIp,
    PEER_STORAGE_IPS: storage.join(' '),
    PEER_MGMT_IPS: mgmt.join(' '),
    INTERVAL: String(INTERVAL_S),
    FAILBACK_DELAY: '180',
    PING_TIMEOUT: '1',
    FALLBACK_ORDER: 'local-storage remote-storage remote-management',
    SESSION_SOURCE: 'rest',
    RUN_DIR: `${HOST_BENCH_DIR}/ai-run`,
    LOG_FILE: `${HOST_BENCH_DIR}/ai.log`,
    PIN_FILE: `${HOST_BENCH_DIR}/ai-pin`,
  };
  return `${Object.entries(kv)
    .map(([k, v]) => `${k}='${v}'`)
    .join('\n')}\n`;
}

/** The harness: main()'s set-up, the route put back via the local SCVM, then one `iterate`. */
const HARNESS = [
  `REROUTE_LIB=1 . ${HOST_BENCH_DIR}/reroute-loop.sh`,
  `SELF=${HOST_BENCH_DIR}/reroute-loop.sh`,
  `CONF_FILE=${HOST_BENCH_DIR}/ai.conf`,
  'load_conf || exit 9',
  '# The real REST request to the local meta; the agent parses the 64-node list instead.',
  `fetch_tool() { wget -q -O - "http://$1:$REST_PORT$REST_PATH" >/dev/null 2>&1; exec cat ${HOST_BENCH_DIR}/sessions64.json; }`,
  'LOCK_DIR=$RUN_DIR/lock; STATUS_FILE=$RUN_DIR/status',
  'mkdir -p "$LOCK_DIR"; echo $$ >"$LOCK_DIR/pid"; HAVE_LOCK=1',
  'TMP_SESS=$RUN_DIR/sessions.$$; TMP_ROUTES=$RUN_DIR/routes.$$; TMP_OUT=$RUN_DIR/route-out.$$; PING_PF=$RUN_DIR/pings.$$',
  'NOW=$(date +%s); RND=$(($$ + NOW)); clock_init; route_tool_init; SETSID=0',
  'command -v setsid >/dev/null 2>&1 && SETSID=1',
  'route_get; [ "$ROUTE_GW" = "$LOCAL_STORAGE_IP" ] || route_switch "$LOCAL_STORAGE_IP" "$ROUTE_GW"',
  'adopt_on_start',
  '# What the iterations before the failure left: the session list (the agent decides on the last list).',
  'FETCH_PID=""; fetch_start "$LOCAL_MGMT_IP"; fetch_finish || exit 8',
  'LIST_T=$NOW',
  'times >"$RUN_DIR/t0"',
  'clock_ms; _b0=$CLOCK',
  'iterate',
  'clock_ms; _b1=$CLOCK',
  'times >"$RUN_DIR/t1"',
  'echo "WALL $((_b1 - _b0))"',
  'echo "WANT $WANT $WANT_KIND"',
  'echo "BURSTS $BURST_N"',
  'echo "T0" $(cat "$RUN_DIR/t0")',
  'echo "T1" $(cat "$RUN_DIR/t1")',
  'release_lock; cleanup_tmp',
].join('\n');

/** Busy-loop processes, each bounded in time; killed by the caller. */
function loadPool(n: number, maxS: number): ChildProcess[] {
  const out: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    out.push(spawn(process.execPath, ['-e', `const end = Date.now() + ${maxS * 1000}; while (Date.now() < end) {}`], { stdio: 'ignore' }));
  }
  return out;
}

async function sampleOnce(lab: Lab, node: LabNode, phase: Sample['phase']): Promise<Sample> {
  const out = await lab.execOk(node.esxi.target, `/bin/sh ${HOST_BENCH_DIR}/ai-iter.sh`, { timeoutMs: 120_000 });
  const want = /WANT (\S*) (\S*)/.exec(out);
  const t0 = parseTimes(/T0 (.*)/.exec(out)?.[1] ?? '');
  const t1 = parseTimes(/T1 (.*)/.exec(out)?.[1] ?? '');
  return {
    phase,
    wallMs: Number(/WALL (\d+)/.exec(out)?.[1] ?? NaN),
    cpuMs: Math.round((t1 - t0) * 1000),
    want: want?.[1] ?? '',
    kind: want?.[2] ?? '',
    bursts: Number(/BURSTS (\d+)/.exec(out)?.[1] ?? NaN),
    load1: loadAvg()[0] as number,
  };
}

export const agentIteration: Benchmark = {
  name: 'agent-iteration',
  title: 'Agent iteration at 64 nodes during a failover',
  async run(ctx: BenchContext): Promise<BenchBody> {
    const reps = ctx.smoke ? 2 : 10;
    const warmS = ctx.smoke ? 20 : 70;
    const poolSize = Math.min(4, os.cpus().length * 2);
    const labName = benchLabName('za-ai', ctx.smoke);
    const lab: Lab = await startLab(labName, 2, ctx.log);
    const notes: string[] = [];
    const samples: Sample[] = [];
    let pool: ChildProcess[] = [];
    const phaseLoad: Record<string, number[]> = {};
    try {
      const local = lab.nodes[0] as LabNode;
      const peer = lab.nodes[1] as LabNode;
      const c = cluster(lab);
      for (const [i, s] of c.storage.entries()) {
        if (!c.live.has(s) || s === peer.scvm.storageIp) continue;
        execFileSync('ip', ['-n', peer.scvm.ns, 'addr', 'add', `${s}/32`, 'dev', 'eth1']);
        execFileSync('ip', ['-n', peer.scvm.ns, 'addr', 'add', `${c.mgmt[i] as string}/32`, 'dev', 'eth0']);
      }
      fs.mkdirSync(hostFile(local, HOST_BENCH_DIR), { recursive: true, mode: 0o755 });
      fs.copyFileSync(AGENT_SRC, hostFile(local, `${HOST_BENCH_DIR}/reroute-loop.sh`));
      fs.writeFileSync(hostFile(local, `${HOST_BENCH_DIR}/ai.conf`), conf(local, c.storage, c.mgmt));
      fs.writeFileSync(hostFile(local, `${HOST_BENCH_DIR}/sessions64.json`), sessionsJson(local, c.storage, c.mgmt));
      fs.writeFileSync(hostFile(local, `${HOST_BENCH_DIR}/ai-iter.sh`), `${HARNESS}\n`);
      // The failover: the local SCVM's storage port goes down (its management side still answers).
      await lab.fault('storage-down', local.scvm.target);
      for (const phase of ['idle', 'load4'] as const) {
        if (phase === 'load4') {
          pool = loadPool(poolSize, warmS + reps * 30 + 60);
          ctx.log(`load pool of ${poolSize} busy loops; ${warmS} s for the load average to rise`);
          await sleep(warmS * 1000);
        }
        phaseLoad[phase] = [];
        for (let i = 0; i < reps; i++) {
          const s = await sampleOnce(lab, local, phase);
          samples.push(s);
          phaseLoad[phase]?.push(s.load1);
          ctx.log(`${phase} #${i + 1}: ${s.wallMs} ms wall, ${s.cpuMs} ms CPU, ${s.kind} ${s.want}, ${s.bursts} bursts, load ${s.load1}`);
          await sleep(1_000);
        }
        for (const p of pool) p.kill('SIGKILL');
        pool = [];
      }
    } finally {
      for (const p of pool) p.kill('SIGKILL');
      await lab.stop();
    }
    const summary: Record<string, unknown> = {};
    for (const phase of ['idle', 'load4'] as const) {
      const ss = samples.filter((s) => s.phase === phase);
      const load = stats(phaseLoad[phase] ?? []);
      const bound = phase === 'idle' ? INTERVAL_S * 1000 : 2 * INTERVAL_S * 1000;
      // The condition: idle means load1 under 1.5 on this 2-core machine; "load 4" 3-6.
      const condition = phase === 'idle' ? load.max < 1.5 : load.min >= 3 && load.max <= 6;
      const allOk = ss.length > 0 && ss.every((s) => s.kind === 'remote-storage' && Number.isFinite(s.wallMs));
      const wall = stats(ss.map((s) => s.wallMs));
      summary[phase] = {
        wallMs: wall,
        cpuMs: stats(ss.map((s) => s.cpuMs)),
        bursts: stats(ss.map((s) => s.bursts)),
        load1: load,
        failedOverToStorage: ss.filter((s) => s.kind === 'remote-storage').length,
        boundMs: bound,
        conditionMet: condition,
        // A failed sample or a phase not under its load condition never counts as met.
        met: allOk && condition ? wall.max <= bound : null,
      };
      if (!condition)
        notes.push(
          `${phase}: the load average during the phase (${load.min}-${load.max}) was not the condition (${phase === 'idle' ? '< 1.5' : '3-6'}); its figures are reported, its target is not judged.`,
        );
      if (!allOk) notes.push(`${phase}: not every sample failed over to a remote storage peer.`);
    }
    notes.push(
      "Wall and CPU are the agent shell's own: its /proc/uptime clock around `iterate`, and busybox `times` (shell + reaped children) before and after.",
      'The 64-node cluster is 2 lab nodes plus addresses: live peers are extra addresses of scvm-2, dead ones are unassigned; the session list is the 64-node one (the lab meta still answers the REST request).',
      'Each sample is a fresh agent shell: the first failover iteration, without backoff from earlier ones, but with the session list the iterations before the failure left (a running agent always has one). Runs before 2026-12-02 07:23 started with no list.',
    );
    return {
      lab: { nodes: 2, name: labName },
      parameters: {
        reps,
        warmS,
        poolSize,
        peersPerTier: PEERS,
        livePeersPerTier: LIVE_EXTRA + 1,
        intervalS: INTERVAL_S,
        pingTimeoutS: 1,
        pingBurst: 8,
      },
      samples: { iterations: samples },
      summary,
      notes,
    };
  },
};
