#!/usr/bin/env bash
# The README's first command: set up, then run the main job on the lab.
# deploy → status → fault → failover → failback → join → upgrade → destroy,
# on a 3-node simulated ZBS-on-ESXi cluster, with the reconciler running in the
# lab's controller namespace as it would on an SCVM. Needs root (namespaces).
#
# DEMO_SKIP_SETUP=1 skips apt/npm (already installed); DEMO_KEEP=1 keeps the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=demo

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the lab needs root (network namespaces, chrooted sshd); run with sudo" >&2
  exit 1
fi
if [ "${DEMO_SKIP_SETUP:-0}" != 1 ]; then
  echo "== setup: Debian packages and npm dependencies"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openssh-server openssh-client busybox-static iproute2 iputils-ping procps psmisc gcc libc6-dev util-linux iptables >/dev/null
  npm ci --no-audit --no-fund --loglevel=error
fi

lab() {
  local sub=$1
  shift
  if [ "$sub" = list ]; then node_modules/.bin/tsx lab/cli.ts list; else node_modules/.bin/tsx lab/cli.ts "$sub" --name "$LAB" "$@"; fi
}
# Runs the CLI inside the controller namespace, as an operator on an SCVM would.
reroute() { lab exec ctl -- "NO_COLOR=1 reroute $* --state /var/lib/zbs-reroute-lab/$LAB/demo-state"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# shellcheck disable=SC2016 # the single-quoted text is JavaScript, not shell
served_by() { lab io | node -e 'const io=JSON.parse(require("fs").readFileSync(0,"utf8"));for(const [h,s] of Object.entries(io))console.log(`  ${h}: served by ${s.servedBy}, longest IO gap ${s.longestGapMs} ms, 33.2 route changes ${s.routeChanges.filter(c=>c.dst.startsWith("192.168.33.2")).length}`)'; }

cleanup() { [ "${DEMO_KEEP:-0}" = 1 ] || lab down >/dev/null 2>&1 || true; }
trap cleanup EXIT
if lab list | grep -qw "$LAB"; then lab down; fi

say "start a 3-node lab (ESXi hosts: real sshd chrooted into busybox; SCVMs with a ZBS meta simulator)"
lab up --nodes 3
work=/var/lib/zbs-reroute-lab/$LAB/demo
mkdir -p "$work"
# Short agent timings so failback is visible in a demo (production default: 3 s / 180 s).
lab manifest | sed 's/^spec:$/spec:\n  routing: { intervalSeconds: 1, failbackDelaySeconds: 15 }/' > "$work/cluster-3.yaml"
# Start with nodes 1-2 so node 3 can join later.
node -e '
const Y=require("yaml"),fs=require("fs");
const d=Y.parse(fs.readFileSync(process.argv[1],"utf8"));
d.spec.version="0.9.0"; fs.writeFileSync(process.argv[3],Y.stringify(d));
d.spec.nodes=d.spec.nodes.slice(0,2); fs.writeFileSync(process.argv[2],Y.stringify(d));' "$work/cluster-3.yaml" "$work/cluster-2-old.yaml" "$work/cluster-3-old.yaml"
# An "older release" of the agent (line 2 says 0.9.0), to show the upgrade flow.
old=$work/old-release; rm -rf "$old"; cp -r esxi "$old"
sed -i '2s/.*/reroute_version=0.9.0/' "$old/agent/reroute-loop.sh"

say "validate the manifest"
reroute validate -f "$work/cluster-3.yaml"

say "deploy: one command installs the (older) agent on nodes 1-2"
lab exec ctl -- "NO_COLOR=1 ZBS_REROUTE_ESXI_DIR=$old reroute apply -f $work/cluster-2-old.yaml --auto-approve --state /var/lib/zbs-reroute-lab/$LAB/demo-state"

say "status: every host served by its own SCVM"
reroute status -f "$work/cluster-2-old.yaml"
sleep 2; served_by

say "fault: SCVM 2's storage link goes down"
lab fault storage-down scvm-2
sleep 6
lab exec esxi-2 -- "esxcfg-route -l | grep 192.168.33.2"
served_by

say "heal: scvm-2 back; the agent fails back after the failback delay (15 s here)"
lab heal storage-down scvm-2
sleep 20
lab exec esxi-2 -- "esxcfg-route -l | grep 192.168.33.2"

say "join: node 3 added to the manifest; only node 3 is installed (plus key entries elsewhere)"
lab exec ctl -- "NO_COLOR=1 ZBS_REROUTE_ESXI_DIR=$old reroute apply -f $work/cluster-3-old.yaml --auto-approve --target node-3 --state /var/lib/zbs-reroute-lab/$LAB/demo-state"

say "version check after a ZBS upgrade (exit 2: hosts on the old agent)"
reroute status -f "$work/cluster-3.yaml" --check || echo "  (exit $? : upgrade needed)"

say "upgrade: apply swaps the agent everywhere; no route changes"
reroute apply -f "$work/cluster-3.yaml" --auto-approve
reroute status -f "$work/cluster-3.yaml" --check
served_by

say "teardown: destroy removes everything we own; the seed's post-clear checks print nothing"
reroute destroy -f "$work/cluster-3.yaml" --auto-approve
for h in esxi-1 esxi-2 esxi-3; do
  lab exec "$h" -- "grep reroute-loop /var/spool/cron/crontabs/root; ps -c | grep reroute-loop | grep -v grep; esxcfg-route -l | grep 192.168.33.2" || true
done
say "done"
