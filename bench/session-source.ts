/**
 * Session-list source (issue 7 item 1, the seed's "compare the resource use of the two first"):
 * REST (`wget` GET of the meta session list) against ssh + `zbs-meta session list`, from an
 * ESXi host of the lab to its own SCVM's storage IP, with the exact client commands the agent
 * runs (esxi/agent/reroute-loop.sh fetch_start), and what a hung meta costs the agent.
 *
 * How each figure is taken:
 * - per call (client alone): bench/native/rusage.c runs the client inside the ESXi chroot and
 *   reports wall time, user+sys CPU and ru_maxrss from wait4() (the client's peak RSS, i.e. its
 *   VmHWM at exit; a /proc sampler would miss a 5 ms wget);
 * - bytes and packets on the wire: /proc/net/dev of the host's namespace for the interface the
 *   call leaves by (vmk1, storage), read before and after each call (rx+tx, headers included);
 * - the agent's whole fetch (watchdog subshell, temp file, awk parsing): fetch_start +
 *   fetch_finish of the shipped agent loaded with REROUTE_LIB=1, N calls, CPU from the shell's
 *   `times` (10 ms ticks, divided by N);
 * - server side: CPU of the SCVM's meta-sim (REST) and of its sshd listener including reaped
 *   session children and `zbs-meta` (SSH), from /proc/<pid>/stat in the root pid namespace;
 * - hung meta (meta-sim accepts and never answers; `zbs-meta` sleeps 30 s): time until the
 *   agent's fetch returns control, for one source and for a whole fetch_sessions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Lab, LabNode } from '../lab/lab';
import { updateScvm } from '../lab/services/cluster-state';
import { AgentKey, AGENT_SRC, authorizeOnScvms, esxiPath, installDir, knownHosts, renderConf } from '../test/agent/agent-lab';
import { hostFile, HOST_BENCH_DIR, installRusage, ms2, procTimes, startLab, trackedPid, benchLabName } from './bench-lab';
import { stats, type BenchBody, type BenchContext, type Benchmark } from './bench-result';

type Source = 'rest' | 'ssh';
const SOURCES: Source[] = ['rest', 'ssh'];
const REST_PATH = '/api/v2/zbs_session/session';

export interface CallSample {
  wallMs: number;
  userMs: number;
  sysMs: number;
  cpuMs: number;
  maxRssKb: number;
  exit: number;
  wireBytes: number;
  wirePackets: number;
  responseBytes: number;
}

/** Parses rusage lines (`wall_us user_us sys_us maxrss_kb exit`) and net lines (`rxB rxP txB txP resp`). */
export function parseCallSamples(rusage: string, net: string): CallSample[] {
  const ru = rusage
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/).map(Number));
  const nt = net
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/).map(Number));
  return ru.map((r, i) => {
    const n = nt[i] ?? [NaN, NaN, NaN, NaN, NaN];
    const [wall = NaN, user = NaN, sys = NaN, rss = NaN, exit = NaN] = r;
    return {
      wallMs: ms2(wall / 1000),
      userMs: ms2(user / 1000),
      sysMs: ms2(sys / 1000),
      cpuMs: ms2((user + sys) / 1000),
      maxRssKb: rss,
      exit,
      wireBytes: (n[0] ?? NaN) + (n[2] ?? NaN),
      wirePackets: (n[1] ?? NaN) + (n[3] ?? NaN),
      responseBytes: n[4] ?? NaN,
    };
  });
}

/** busybox ash `times`: two lines "XmY.YYYs XmY.YYYs" (shell user sys, children user sys) → seconds. */
export function parseTimes(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(m[1]) * 60 + Number(m[2]);
  return total;
}

const RAW_SH = `#!/bin/sh
# raw.sh SOURCE N IF IP KEY KNOWN_HOSTS: N client calls exactly as the agent makes them, each
# under zrb-rusage, with /proc/net/dev of IF read around it.
SRC=$1 N=$2 IF=$3 IP=$4 KEY=$5 KH=$6 D=${HOST_BENCH_DIR}
netb() {
  awk -v i="$IF" '{ sub(/^ +/, ""); n = index($0, ":"); if (substr($0, 1, n - 1) == i) { split(substr($0, n + 1), f, " "); print f[1], f[2], f[9], f[10] } }' /proc/net/dev
}
i=0
while [ "$i" -lt "$N" ]; do
  i=$((i + 1))
  set -- $(netb)
  rb=$1 rp=$2 tb=$3 tp=$4
  if [ "$SRC" = rest ]; then
    $D/zrb-rusage $D/ru.$SRC wget -q -O - "http://$IP:80${REST_PATH}" >$D/out.$SRC 2>/dev/null
  else
    $D/zrb-rusage $D/ru.$SRC ssh -i "$KEY" -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=yes \\
      -o UserKnownHostsFile="$KH" "smartx@$IP" zbs-meta session list >$D/out.$SRC 2>/dev/null
  fi
  set -- $(netb)
  echo "$(($1 - rb)) $(($2 - rp)) $(($3 - tb)) $(($4 - tp)) $(wc -c <$D/out.$SRC)" >>$D/net.$SRC
done
`;

/**
 * The agent's own functions (REROUTE_LIB=1), with the source forced per run. Written against
 * both fetch APIs the agent has had (fetch_from IP; fetch_start IP + fetch_finish), so the
 * benchmark keeps measuring whatever esxi/agent/reroute-loop.sh ships.
 */
const AGENT_SH = `#!/bin/sh
# agentfn.sh CONF SCRIPT SOURCE MODE [N IP]
#   MODE batch: N single fetches from IP; prints ok count and uptime, \`times\` before/after to files
#   MODE one:   one fetch from IP; prints rc and ms
#   MODE sessions: the fetch part of one iteration (local SCVM pinged, then fetch_sessions)
REROUTE_CONF=$1
REROUTE_LIB=1
export REROUTE_CONF REROUTE_LIB
. "$2"
load_conf || { echo "conf: $CONF_ERROR"; exit 1; }
SESSION_SOURCE=$3
TMP_SESS=${HOST_BENCH_DIR}/sess.$$
clock_init
one_fetch() {
  if command -v fetch_start >/dev/null 2>&1; then
    fetch_start "$1"
    fetch_finish
  else
    fetch_from "$1"
  fi
}
iteration_fetch() {
  UP=' '
  PINGED=' '
  clock_ms
  FETCH_T0=$CLOCK
  FETCH_PID=''
  if command -v fetch_start >/dev/null 2>&1 && [ -n "$LOCAL_MGMT_IP" ]; then
    fetch_start "$LOCAL_MGMT_IP"
  fi
  ping_all "$LOCAL_STORAGE_IP" $LOCAL_MGMT_IP
  fetch_sessions
}
case $4 in
batch)
  n=0 ok=0
  read -r up0 _x </proc/uptime
  times >${HOST_BENCH_DIR}/times0
  while [ "$n" -lt "$5" ]; do
    n=$((n + 1))
    one_fetch "$6" && ok=$((ok + 1))
  done
  times >${HOST_BENCH_DIR}/times1
  read -r up1 _x </proc/uptime
  echo "ok=$ok up0=$up0 up1=$up1"
  ;;
one)
  clock_ms
  a=$CLOCK
  one_fetch "$5"
  rc=$?
  clock_ms
  echo "rc=$rc ms=$((CLOCK - a))"
  ;;
sessions)
  clock_ms
  a=$CLOCK
  iteration_fetch
  clock_ms
  echo "fetch=$FETCH ms=$((CLOCK - a)) from=$FETCH_FROM"
  ;;
esac
rm -f "$TMP_SESS"
`;

function kv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)=(\S*)/g)) out[m[1] as string] = m[2] as string;
  return out;
}

async function setUp(
  lab: Lab,
  node: LabNode,
  key: AgentKey,
  workDir: string,
): Promise<{ conf: string; script: string; keyPath: string; kh: string }> {
  authorizeOnScvms(lab, key);
  const dir = installDir(node);
  const hostDir = esxiPath(node, dir);
  fs.mkdirSync(path.join(hostDir, 'keys'), { recursive: true, mode: 0o700 });
  fs.copyFileSync(AGENT_SRC, path.join(hostDir, 'reroute-loop.sh'));
  fs.writeFileSync(path.join(hostDir, 'reroute.conf'), renderConf(lab, node, { interval: 3, failbackDelay: 180, pingTimeout: 1 }, 'rest'), {
    mode: 0o600,
  });
  fs.writeFileSync(path.join(hostDir, 'keys', 'reroute_id_rsa'), key.privateKey, { mode: 0o600 });
  fs.writeFileSync(path.join(hostDir, 'keys', 'known_hosts'), knownHosts(lab), { mode: 0o644 });
  installRusage(node, workDir);
  fs.writeFileSync(hostFile(node, `${HOST_BENCH_DIR}/raw.sh`), RAW_SH, { mode: 0o755 });
  fs.writeFileSync(hostFile(node, `${HOST_BENCH_DIR}/agentfn.sh`), AGENT_SH, { mode: 0o755 });
  return {
    conf: `${dir}/reroute.conf`,
    script: `${dir}/reroute-loop.sh`,
    keyPath: `${dir}/keys/reroute_id_rsa`,
    kh: `${dir}/keys/known_hosts`,
  };
}

function serverCpu(lab: Lab, node: LabNode, source: Source): number {
  const pid = trackedPid(lab, `${node.scvm.target}:${source === 'rest' ? 'meta-sim' : 'sshd'}`);
  const t = pid === undefined ? undefined : procTimes(pid);
  return t ? t.self + t.children : NaN;
}

export const sessionSource: Benchmark = {
  name: 'session-source',
  title: 'Session list: REST (wget) vs ssh + zbs-meta',
  async run(ctx: BenchContext): Promise<BenchBody> {
    const n = ctx.smoke ? 6 : 100;
    const agentN = ctx.smoke ? 5 : 50;
    const hungRuns = ctx.smoke ? 1 : 3;
    const nodes = ctx.smoke ? 2 : 3;
    const labName = benchLabName('zrb-ss', ctx.smoke);
    const lab = await startLab(labName, nodes, ctx.log);
    const key = new AgentKey();
    const notes: string[] = [];
    try {
      const node = lab.nodes[0] as LabNode;
      const ip = node.scvm.storageIp;
      const f = await setUp(lab, node, key, ctx.workDir);
      const t = node.esxi.target;
      // Warm-up: ARP, page cache, sshd's first fork (not recorded).
      await lab.execOk(
        t,
        `${HOST_BENCH_DIR}/raw.sh rest 2 vmk1 ${ip} ${f.keyPath} ${f.kh}; ${HOST_BENCH_DIR}/raw.sh ssh 2 vmk1 ${ip} ${f.keyPath} ${f.kh}; rm -f ${HOST_BENCH_DIR}/ru.* ${HOST_BENCH_DIR}/net.*`,
        { timeoutMs: 60_000 },
      );

      // 1. The client alone, per call, in two alternating halves per source to spread load drift.
      ctx.log(`client calls: ${n} per source`);
      const serverCpuS: Record<Source, number> = { rest: 0, ssh: 0 };
      const half = Math.max(1, Math.floor(n / 2));
      for (const chunk of [half, n - half]) {
        for (const src of SOURCES) {
          if (chunk <= 0) continue;
          const before = serverCpu(lab, node, src);
          await lab.execOk(t, `${HOST_BENCH_DIR}/raw.sh ${src} ${chunk} vmk1 ${ip} ${f.keyPath} ${f.kh}`, {
            timeoutMs: 30_000 + chunk * 5_000,
          });
          serverCpuS[src] += serverCpu(lab, node, src) - before;
        }
      }
      const calls: Record<Source, CallSample[]> = { rest: [], ssh: [] };
      for (const src of SOURCES) {
        calls[src] = parseCallSamples(
          fs.readFileSync(hostFile(node, `${HOST_BENCH_DIR}/ru.${src}`), 'utf8'),
          fs.readFileSync(hostFile(node, `${HOST_BENCH_DIR}/net.${src}`), 'utf8'),
        );
        const failed = calls[src].filter((c) => c.exit !== 0).length;
        if (failed > 0) notes.push(`${src}: ${failed} of ${calls[src].length} client calls exited non-zero`);
      }

      // 2. The agent's whole single fetch (watchdog subshell + temp file + parse), batch CPU.
      ctx.log(`agent fetch batches: ${agentN} per source`);
      const agentBatch: Record<Source, { ok: number; wallS: number; cpuS: number }> = {
        rest: { ok: 0, wallS: 0, cpuS: 0 },
        ssh: { ok: 0, wallS: 0, cpuS: 0 },
      };
      for (const src of SOURCES) {
        const out = await lab.execOk(t, `/bin/sh ${HOST_BENCH_DIR}/agentfn.sh ${f.conf} ${f.script} ${src} batch ${agentN} ${ip}`, {
          timeoutMs: 30_000 + agentN * 8_000,
        });
        const o = kv(out);
        const cpu =
          parseTimes(fs.readFileSync(hostFile(node, `${HOST_BENCH_DIR}/times1`), 'utf8')) -
          parseTimes(fs.readFileSync(hostFile(node, `${HOST_BENCH_DIR}/times0`), 'utf8'));
        agentBatch[src] = { ok: Number(o.ok), wallS: Number(o.up1) - Number(o.up0), cpuS: ms2(cpu) };
        if (Number(o.ok) !== agentN) notes.push(`${src}: only ${o.ok} of ${agentN} agent fetches succeeded (${out.trim()})`);
      }

      // 3. Hung meta: how long until the agent gets control back.
      ctx.log('hung meta');
      const hung: Record<string, Record<Source, number[]>> = {
        localOne: { rest: [], ssh: [] },
        localHungSessions: { rest: [], ssh: [] },
        allHungSessions: { rest: [], ssh: [] },
      };
      const hungDetail: Record<string, string[]> = {};
      const setHung = (names: string[], on: boolean) => {
        for (const s of names) updateScvm(lab.clusterFile, s, { hung: on });
      };
      const runAgent = async (what: string, src: Source, mode: string): Promise<Record<string, string>> => {
        const out = await lab.execOk(t, `/bin/sh ${HOST_BENCH_DIR}/agentfn.sh ${f.conf} ${f.script} ${src} ${mode}`, {
          timeoutMs: 120_000,
        });
        (hungDetail[`${what}/${src}`] ??= []).push(out.trim());
        return kv(out);
      };
      try {
        setHung([node.scvm.target], true);
        for (let i = 0; i < hungRuns; i++) {
          for (const src of SOURCES) {
            const one = await runAgent('localOne', src, `one ${ip}`);
            // rc 1 = the watchdog killed the client (expected); anything else means the driver is broken.
            hung.localOne![src].push(one.rc === '1' ? Number(one.ms) : NaN);
            // Smoke keeps only the single-source case: the whole-iteration cases take ~40 s.
            if (ctx.smoke) continue;
            const s = await runAgent('localHungSessions', src, 'sessions');
            hung.localHungSessions![src].push(s.fetch === 'ok' ? Number(s.ms) : NaN);
          }
        }
        setHung(
          lab.nodes.map((x) => x.scvm.target),
          true,
        );
        for (let i = 0; i < (ctx.smoke ? 0 : hungRuns); i++) {
          for (const src of SOURCES) hung.allHungSessions![src].push(Number((await runAgent('allHungSessions', src, 'sessions')).ms));
        }
      } finally {
        setHung(
          lab.nodes.map((x) => x.scvm.target),
          false,
        );
      }
      // Without the agent's watchdog (full mode only: slow by nature).
      const rawHung: Record<Source, { capS: number; returnedAfterMs: number | null }> = {
        rest: { capS: 0, returnedAfterMs: null },
        ssh: { capS: 0, returnedAfterMs: null },
      };
      if (!ctx.smoke) {
        setHung([node.scvm.target], true);
        try {
          for (const src of SOURCES) {
            const capS = src === 'rest' ? 20 : 45;
            const t0 = Date.now();
            const cmd =
              src === 'rest'
                ? `wget -q -O - http://${ip}:80${REST_PATH} >/dev/null 2>&1`
                : `ssh -i ${f.keyPath} -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${f.kh} smartx@${ip} zbs-meta session list >/dev/null 2>&1`;
            try {
              await lab.exec(t, cmd, { timeoutMs: capS * 1000 });
              rawHung[src] = { capS, returnedAfterMs: Date.now() - t0 };
            } catch {
              rawHung[src] = { capS, returnedAfterMs: null };
            }
          }
        } finally {
          setHung([node.scvm.target], false);
        }
      }

      const sum = (src: Source) => {
        const c = calls[src];
        return {
          wallMs: stats(c.map((x) => x.wallMs)),
          cpuMs: stats(c.map((x) => x.cpuMs)),
          userMs: stats(c.map((x) => x.userMs)),
          sysMs: stats(c.map((x) => x.sysMs)),
          maxRssKb: stats(c.map((x) => x.maxRssKb)),
          wireBytes: stats(c.map((x) => x.wireBytes)),
          wirePackets: stats(c.map((x) => x.wirePackets)),
          responseBytes: stats(c.map((x) => x.responseBytes)),
          serverCpuMsPerCall: ms2((serverCpuS[src] * 1000) / Math.max(1, c.length)),
          agentFetchCpuMsPerCall: ms2((agentBatch[src].cpuS * 1000) / Math.max(1, agentN)),
          agentFetchWallMsPerCall: ms2((agentBatch[src].wallS * 1000) / Math.max(1, agentN)),
          agentFetchOk: `${agentBatch[src].ok}/${agentN}`,
          hungLocalOneMs: stats(hung.localOne![src]),
          hungLocalSessionsMs: stats(hung.localHungSessions![src]),
          hungAllSessionsMs: stats(hung.allHungSessions![src]),
          rawHung: rawHung[src],
        };
      };
      const rest = sum('rest');
      const ssh = sum('ssh');
      const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 10) / 10 : null);
      notes.push(
        'Client figures are the client process alone (wget is a busybox applet, ssh is OpenSSH from the host system copied into the ESXi chroot); ESXi ships its own builds of both, so absolute numbers differ there, ratios less so.',
        'Server-side CPU: REST is the lab meta-sim (a Node.js process), not ZBS meta; SSH is sshd + busybox zbs-meta simulator. Neither matches an SCVM exactly; both are shown for order of magnitude only.',
        "CPU per call comes from wait4() rusage (microseconds); the agent's whole fetch from ash `times` (10 ms ticks over the batch).",
      );
      return {
        lab: { nodes, name: labName },
        parameters: {
          callsPerSource: n,
          agentBatchCalls: agentN,
          hungRuns,
          target: `${node.scvm.target} storage ${ip} via vmk1`,
          fetchTimeoutS: 2,
          sshTimeoutS: 6,
          fetchTries: 3,
          agentDefaultSource: 'rest',
        },
        samples: { calls, agentBatch, serverCpuS, hung, hungDetail, rawHung },
        summary: {
          rest,
          ssh,
          ratioSshOverRest: {
            wall: ratio(ssh.wallMs.p50, rest.wallMs.p50),
            cpu: ratio(ssh.cpuMs.mean, rest.cpuMs.mean),
            maxRss: ratio(ssh.maxRssKb.p50, rest.maxRssKb.p50),
            wireBytes: ratio(ssh.wireBytes.p50, rest.wireBytes.p50),
            agentFetchCpu: ratio(ssh.agentFetchCpuMsPerCall, rest.agentFetchCpuMsPerCall),
            hungLocalSessions: ratio(ssh.hungLocalSessionsMs.p50, rest.hungLocalSessionsMs.p50),
          },
          defaultSource: 'rest',
        },
        notes,
      };
    } finally {
      key.remove();
      await lab.stop();
    }
  },
};
