#!/bin/sh
# zbs-reroute host operations, run by `reroute apply` on ESXi hosts (and, for
# authorized_keys, on SCVMs through sudo). The reconciler sends this file as
# the prelude of one `/bin/sh -c` command followed by one zr_* call whose
# arguments it has shell-quoted; file content arrives on stdin.
#
# POSIX / busybox ash only. Every operation is idempotent and either completes
# or leaves the old state: writes go to a temp file in the same directory and
# are renamed over the target only after their hash checks out.
#
# Exit codes: 0 ok; 10 bad arguments; 11 hash mismatch after write;
# 12 the file changed since it was observed (compare-and-swap lost);
# 13 lease held by someone else; 14 processes would not stop; 15 unsafe path;
# 16 the agent did not come alive in time; 17 a firewall change failed.

zr_die() {
  code=$1
  shift
  echo "zbs-reroute: $*" >&2
  exit "$code"
}

zr_sha() {
  # Prints the sha256 of FILE, or "absent" when there is no such file.
  if [ -f "$1" ]; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    echo absent
  fi
}

# zr_write_file PATH MODE SHA256 < content
zr_write_file() {
  [ $# -eq 3 ] || zr_die 10 "zr_write_file needs PATH MODE SHA256"
  dir=$(dirname "$1")
  [ -d "$dir" ] || zr_die 10 "directory $dir does not exist"
  tmp="$dir/.zr-tmp.$$"
  umask 077
  cat > "$tmp" || { rm -f "$tmp"; zr_die 11 "cannot write $tmp (disk full or read-only?)"; }
  chmod "$2" "$tmp" || { rm -f "$tmp"; zr_die 11 "cannot chmod $tmp"; }
  got=$(zr_sha "$tmp")
  if [ "$got" != "$3" ]; then
    rm -f "$tmp"
    zr_die 11 "upload of $1 arrived with hash $got, expected $3"
  fi
  mv -f "$tmp" "$1" || { rm -f "$tmp"; zr_die 11 "cannot rename $tmp to $1"; }
  [ "$(zr_sha "$1")" = "$3" ] || zr_die 11 "$1 does not hold the expected content after rename"
}

# zr_cas_write PATH EXPECTED_SHA|absent MODE NEW_SHA < new content
# Replaces PATH only if it still holds what was observed, so a concurrent edit
# by ESXi or an operator is never overwritten blindly.
zr_cas_write() {
  [ $# -eq 4 ] || zr_die 10 "zr_cas_write needs PATH EXPECTED MODE NEW_SHA"
  now=$(zr_sha "$1")
  [ "$now" = "$2" ] || zr_die 12 "$1 changed since it was observed (now $now, expected $2); re-run plan"
  zr_write_file "$1" "$3" "$4"
}

# zr_cas_rewrite PATH EXPECTED_SHA|absent MODE NEW_SHA < new content
# For files under /etc on ESXi (local.sh): rewritten in place, keeping the inode, the
# mode and the sticky bit, as every public local.sh recipe does. /sbin/auto-backup.sh
# saves only the /etc files VisorFS marks with the sticky bit, and a file renamed over
# one is a new, unmarked file (on 7.0 root may get "Operation not permitted" there).
# MODE is used only when the file is new. Still compare-and-swap on the hash.
zr_cas_rewrite() {
  [ $# -eq 4 ] || zr_die 10 "zr_cas_rewrite needs PATH EXPECTED MODE NEW_SHA"
  now=$(zr_sha "$1")
  [ "$now" = "$2" ] || zr_die 12 "$1 changed since it was observed (now $now, expected $2); re-run plan"
  tmp=/tmp/.zr-rewrite.$$
  umask 077
  cat > "$tmp" || { rm -f "$tmp"; zr_die 11 "cannot write $tmp (ramdisk full?)"; }
  got=$(zr_sha "$tmp")
  if [ "$got" != "$4" ]; then
    rm -f "$tmp"
    zr_die 11 "upload of $1 arrived with hash $got, expected $4"
  fi
  # A copy of the old content, so a write that fails half-way can be undone.
  if [ "$2" != absent ]; then
    cp "$1" "$tmp.old" || { rm -f "$tmp"; zr_die 11 "cannot copy $1 to $tmp.old"; }
  fi
  if ! cat "$tmp" > "$1"; then
    [ "$2" = absent ] || cat "$tmp.old" > "$1"
    rm -f "$tmp" "$tmp.old"
    zr_die 11 "cannot rewrite $1 in place (read-only or not permitted?)"
  fi
  rm -f "$tmp" "$tmp.old"
  if [ "$2" = absent ]; then
    chmod "$3" "$1" || zr_die 11 "cannot chmod $1"
  fi
  [ "$(zr_sha "$1")" = "$4" ] || zr_die 11 "$1 does not hold the expected content after the rewrite"
}

# zr_cas_delete PATH EXPECTED_SHA
zr_cas_delete() {
  [ $# -eq 2 ] || zr_die 10 "zr_cas_delete needs PATH EXPECTED"
  now=$(zr_sha "$1")
  [ "$now" = absent ] && return 0
  [ "$now" = "$2" ] || zr_die 12 "$1 changed since it was observed; re-run plan"
  rm -f "$1"
}

zr_mkdir() {
  [ $# -eq 2 ] || zr_die 10 "zr_mkdir needs PATH MODE"
  mkdir -p "$1" || zr_die 11 "cannot create $1"
  chmod "$2" "$1" || zr_die 11 "cannot chmod $1"
}

# Only a folder exactly one level below a datastore may be removed
# recursively: /vmfs/volumes/<datastore>/<folder>, never a datastore itself.
zr_safe_dir() {
  case "$1" in
    *..* | */ | *//*) zr_die 15 "refusing to remove $1: not a plain path" ;;
  esac
  rest=${1#/vmfs/volumes/}
  [ "$rest" != "$1" ] || zr_die 15 "refusing to remove $1: not under /vmfs/volumes"
  ds=${rest%%/*}
  folder=${rest#*/}
  if [ -z "$ds" ] || [ "$folder" = "$rest" ] || [ -z "$folder" ]; then
    zr_die 15 "refusing to remove $1: not a folder on a datastore"
  fi
  case "$folder" in
    */*) zr_die 15 "refusing to remove $1: deeper than one level below the datastore" ;;
  esac
}

zr_remove_dir() {
  [ $# -eq 1 ] || zr_die 10 "zr_remove_dir needs PATH"
  zr_safe_dir "$1"
  rm -rf "$1" || zr_die 11 "cannot remove $1"
}

# zr_rmdir PATH : an empty directory only (never a tree).
zr_rmdir() {
  [ $# -eq 1 ] || zr_die 10 "zr_rmdir needs PATH"
  [ -d "$1" ] || return 0
  rmdir "$1" || zr_die 11 "cannot remove $1 (not empty?)"
}

# zr_wait_heartbeat STATUS_FILE VERSION TIMEOUT_SECONDS : wait until the agent
# writes a heartbeat newer than now at VERSION. Used before a legacy folder is
# deleted: until ours is seen alive, the old install is the way back.
zr_wait_heartbeat() {
  [ $# -eq 3 ] || zr_die 10 "zr_wait_heartbeat needs STATUS_FILE VERSION TIMEOUT"
  start=$(date +%s)
  i=0
  while [ "$i" -lt "$3" ]; do
    if [ -r "$1" ]; then
      v=$(sed -n 's/^version=//p' "$1")
      u=$(sed -n 's/^updated=//p' "$1")
      case "$u" in '' | *[!0-9]*) u=0 ;; esac
      if [ "$v" = "$2" ] && [ "$u" -ge "$start" ]; then
        return 0
      fi
    fi
    sleep 1
    i=$((i + 1))
  done
  zr_die 16 "no fresh heartbeat from agent $2 within $3 s"
}

zr_delete_file() {
  [ $# -eq 1 ] || zr_die 10 "zr_delete_file needs PATH"
  rm -f "$1" || zr_die 11 "cannot delete $1"
}

zr_reload_crond() {
  if [ -f /var/run/crond.pid ]; then
    kill "$(cat /var/run/crond.pid)" 2>/dev/null
  fi
  # busybox crond daemonises and writes /var/run/crond.pid itself.
  i=0
  while [ $i -lt 20 ]; do
    /usr/lib/vmware/busybox/bin/busybox crond && return 0
    i=$((i + 1))
    sleep 1
  done
  zr_die 11 "crond did not start"
}

zr_auto_backup() {
  /sbin/auto-backup.sh >/dev/null 2>&1 || zr_die 11 "/sbin/auto-backup.sh failed: the local.sh change will not survive a reboot"
}

# Prints the pids of processes whose command line contains PATTERN, from
# ESXi's `ps -c` (the last field holds the command line).
# Our own `/bin/sh -c` command line contains the pattern too, so lines that
# mention zr_ (this library) are never counted.
zr_pids_matching() {
  # shellcheck disable=SC2009 # ESXi has no pgrep; ps -c is what it offers
  ps -c 2>/dev/null | grep -F -- "$1" | grep -v -e 'grep' -e 'zr_' | awk -v self="$$" '$1 != self {print $1}'
}

# zr_stop_agent PATTERN... : SIGTERM (the agent exits without touching the
# route), then SIGKILL whatever is left after a bounded wait.
zr_stop_agent() {
  for pattern in "$@"; do
    pids=$(zr_pids_matching "$pattern")
    [ -n "$pids" ] || continue
    # shellcheck disable=SC2086 # word splitting of the pid list is intended
    kill -TERM $pids 2>/dev/null
    i=0
    while [ $i -lt 20 ]; do
      left=$(zr_pids_matching "$pattern")
      [ -z "$left" ] && break
      sleep 1
      i=$((i + 1))
    done
    left=$(zr_pids_matching "$pattern")
    if [ -n "$left" ]; then
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null
      sleep 1
      [ -z "$(zr_pids_matching "$pattern")" ] || zr_die 14 "processes matching $pattern would not stop"
    fi
  done
}

# zr_start_agent LOOP_PATH : the agent's own lock keeps it a singleton, so a
# start while cron also starts one is harmless.
zr_start_agent() {
  [ $# -eq 1 ] || zr_die 10 "zr_start_agent needs LOOP_PATH"
  [ -f "$1" ] || zr_die 10 "$1 does not exist"
  /bin/sh "$1" </dev/null >/dev/null 2>&1 &
}

# zr_lease_take DIR OWNER PID TTL_SECONDS : an atomic mkdir on the host, so two
# operators on different SCVMs cannot change the same host at once.
zr_lease_take() {
  [ $# -eq 4 ] || zr_die 10 "zr_lease_take needs DIR OWNER PID TTL"
  now=$(date +%s)
  if ! mkdir "$1" 2>/dev/null; then
    holder=$(cat "$1/owner" 2>/dev/null)
    expires=$(cat "$1/expires" 2>/dev/null)
    case "$expires" in '' | *[!0-9]*) expires=0 ;; esac
    if [ "$holder" != "$2" ] && [ "$expires" -gt "$now" ]; then
      zr_die 13 "host lease held by $holder (pid $(cat "$1/pid" 2>/dev/null)) until $expires"
    fi
  fi
  echo "$2" > "$1/owner"
  echo "$3" > "$1/pid"
  echo $((now + $4)) > "$1/expires"
}

zr_lease_release() {
  [ $# -eq 2 ] || zr_die 10 "zr_lease_release needs DIR OWNER"
  [ -d "$1" ] || return 0
  holder=$(cat "$1/owner" 2>/dev/null)
  [ "$holder" = "$2" ] || return 0
  rm -rf "$1"
}

# zr_delete_route NET/LEN GATEWAY [OTHER_GATEWAY...] : teardown only; the planner
# emits it only for gateways that belong to this cluster. The agent's route switch
# finishes even after the agent was stopped, so the route may have moved since it
# was observed: then the route NET/LEN has now is deleted if it is via one of the
# OTHER_GATEWAYs (this cluster's), and never otherwise.
zr_delete_route() {
  [ $# -ge 2 ] || zr_die 10 "zr_delete_route needs NET/LEN GATEWAY [OTHER_GATEWAY...]"
  zr_dr_net=$1
  zr_dr_gw=$2
  shift 2
  zr_route_del "$zr_dr_net" "$zr_dr_gw" && return 0
  zr_dr_rc=1
  [ $# -gt 0 ] || return "$zr_dr_rc"
  zr_dr_now=$(zr_route_gw "${zr_dr_net%/*}")
  for zr_dr_g in "$@"; do
    if [ -n "$zr_dr_now" ] && [ "$zr_dr_g" = "$zr_dr_now" ]; then
      echo "route $zr_dr_net moved to $zr_dr_g since it was observed; deleting that one" >&2
      zr_route_del "$zr_dr_net" "$zr_dr_g"
      return $?
    fi
  done
  return "$zr_dr_rc"
}

zr_route_del() {
  if command -v esxcfg-route >/dev/null 2>&1; then
    esxcfg-route -d "$1" "$2"
  else
    esxcli network ip route ipv4 remove -n "$1" -g "$2"
  fi
}

# zr_route_gw ADDRESS : the gateway of ADDRESS/32 now ('' when there is none).
zr_route_gw() {
  if command -v esxcfg-route >/dev/null 2>&1; then
    esxcfg-route -l
  else
    esxcli network ip route ipv4 list
  fi | awk -v a="$1" '($1 == a || $1 == a "/32") && ($2 == "255.255.255.255" || $1 == a "/32") { print ($1 == a "/32") ? $2 : $3; exit }'
}

# zr_bounded SECS CMD ARG... : CMD with a watchdog that kills it after SECS seconds
# (ESXi's busybox `timeout` changed syntax between builds, so it is not used).
# Returns CMD's status (137 when it was killed).
zr_bounded() {
  zr_b_secs=$1
  shift
  "$@" &
  zr_b_pid=$!
  (
    trap 'kill "$zr_b_sleep" 2>/dev/null; exit 0' TERM
    sleep "$zr_b_secs" &
    zr_b_sleep=$!
    wait "$zr_b_sleep"
    kill -9 "$zr_b_pid" 2>/dev/null
  ) >/dev/null 2>&1 &
  zr_b_wd=$!
  wait "$zr_b_pid"
  zr_b_rc=$?
  kill "$zr_b_wd" 2>/dev/null
  wait "$zr_b_wd" 2>/dev/null
  return "$zr_b_rc"
}

# esxcli can hang while hostd is busy: every firewall call is bounded.
zr_esxcli() {
  zr_bounded 30 esxcli "$@"
}

# zr_fw_has_ip RULESET IP : is IP in the ruleset's allowed-IP list?
# (`Ruleset  Allowed IP Addresses` rows: `sshClient  10.0.0.1, 10.0.0.0/24`)
zr_fw_has_ip() {
  zr_esxcli network firewall ruleset allowedip list -r "$1" 2>/dev/null |
    awk -v r="$1" -v ip="$2" '$1 == r { for (i = 2; i <= NF; i++) { x = $i; sub(/,$/, "", x); if (x == ip) f = 1 } } END { exit f ? 0 : 1 }'
}

# zr_fw_ruleset RULESET STEP... : change one firewall ruleset, steps in the order given
# (the planner orders them so a ruleset is never open to every address in between):
#   enabled=true|false  allowed-all=true|false  add=IP  remove=IP
# then `esxcli network firewall refresh`. Adding an address that is already listed, or
# removing one that is not, counts as done.
zr_fw_ruleset() {
  [ $# -ge 1 ] || zr_die 10 "zr_fw_ruleset needs RULESET STEP..."
  rs=$1
  shift
  case "$rs" in '' | *[!A-Za-z0-9_-]*) zr_die 10 "bad ruleset name $rs" ;; esac
  for step in "$@"; do
    val=${step#*=}
    case "$step" in
      enabled=true | enabled=false)
        zr_esxcli network firewall ruleset set -r "$rs" -e "$val" || zr_die 17 "cannot set ruleset $rs enabled=$val"
        ;;
      allowed-all=true | allowed-all=false)
        zr_esxcli network firewall ruleset set -r "$rs" --allowed-all "$val" || zr_die 17 "cannot set ruleset $rs allowed-all=$val"
        ;;
      add=* | remove=*)
        case "$val" in '' | *[!0-9./]*) zr_die 10 "bad address in firewall step $step" ;; esac
        if [ "${step%%=*}" = add ]; then
          zr_esxcli network firewall ruleset allowedip add -r "$rs" -i "$val" || zr_fw_has_ip "$rs" "$val" || zr_die 17 "cannot allow $val in ruleset $rs"
        else
          zr_esxcli network firewall ruleset allowedip remove -r "$rs" -i "$val" || ! zr_fw_has_ip "$rs" "$val" || zr_die 17 "cannot remove $val from ruleset $rs"
        fi
        ;;
      *) zr_die 10 "unknown firewall step $step" ;;
    esac
  done
  zr_esxcli network firewall refresh || zr_die 17 "esxcli network firewall refresh failed"
}
