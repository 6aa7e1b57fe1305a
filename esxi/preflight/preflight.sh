#!/bin/sh
# zbs-reroute preflight: a read-only look at one ESXi host before anything is installed,
# printed as length-framed sections (the framing of esxi/probe/probe.sh) so hostile
# command output cannot forge a section.
#
# Sent by `reroute preflight` on stdin:
#   /bin/sh -s -- DATASTORE KEY_FILE CMD...
# DATASTORE is the manifest's datastore name, KEY_FILE the agent's ssh key path (only
# tested for presence), CMD every command the shipped agent, probe and host-ops run
# (a name, or an absolute path). Parsed by src/preflight/parse-preflight-output.ts.
#
# Output:
#   @@zbs-reroute-preflight v1
#   @@section NAME BYTES STATUS\n<exactly BYTES raw bytes>\n      (repeated)
#   @@end COUNT
# STATUS: ok | truncated | missing | rc=N (rc=137: killed by the time bound).
#
# Changes nothing on the host except its own temp dir under /tmp (removed on exit).
# Every external command runs under a watchdog (BOUND seconds), as the agent's run_bounded
# does: ESXi's busybox builds differ in `timeout`'s syntax, and esxcli can hang.
# Commands: ash builtins, busybox cat dd ls mkdir rm sleep wc date, VMware's vmware, esxcli
# and secureBoot.py, and the host's own busybox binary for its applet list.
# ZBS_PREFLIGHT_ROOT prefixes the fixed system paths; only the local script test sets it.

CAP=65536
BOUND=${ZBS_PREFLIGHT_BOUND:-15}
BUSYBOX_PATHS='/usr/lib/vmware/busybox/bin/busybox /bin/busybox'
SECUREBOOT=/usr/lib/vmware/secureboot/bin/secureBoot.py

main() {
  if [ "$#" -lt 2 ]; then
    echo "usage: sh -s -- DATASTORE KEY_FILE CMD..." >&2
    return 64
  fi
  DATASTORE=$1
  KEY_FILE=$2
  shift 2
  R=${ZBS_PREFLIGHT_ROOT:-}

  umask 077
  T=/tmp/zbs-reroute-preflight.$$
  rm -rf "$T" 2>/dev/null
  if ! mkdir "$T" 2>/dev/null; then
    echo "preflight: cannot create temp dir $T" >&2
    return 70
  fi
  trap 'rm -rf "$T"' EXIT
  trap 'rm -rf "$T"; exit 130' INT TERM HUP

  COUNT=0
  echo "@@zbs-reroute-preflight v1"

  run_section now date +%s
  run_section esxi_version vmware -v
  commands_section "$@"
  busybox_section
  run_section firewall esxcli network firewall ruleset list
  run_section nfs esxcli storage nfs list
  run_section nfs41 esxcli storage nfs41 list
  run_section filesystems esxcli storage filesystem list
  if [ -e "$R$SECUREBOOT" ]; then
    run_section secure_boot "$R$SECUREBOOT" -s
  else
    : >"$T/raw"
    emit_capped secure_boot "$T/raw" missing
  fi
  persistence_section
  crond_section
  run_section now_end date +%s

  echo "@@end $COUNT"
  return 0
}

# emit_capped NAME FILE STATUS: frame FILE as one section of at most CAP bytes.
emit_capped() {
  # shellcheck disable=SC2046
  set -- "$1" "$2" "$3" $(wc -c <"$2")
  _n=${4:-0}
  if [ "$_n" -gt "$CAP" ]; then
    printf '@@section %s %s truncated\n' "$1" "$CAP"
    dd if="$2" bs=1024 count=$((CAP / 1024)) 2>/dev/null
  else
    printf '@@section %s %s %s\n' "$1" "$_n" "$3"
    cat "$2"
  fi
  printf '\n'
  COUNT=$((COUNT + 1))
}

# bounded CMD...: run CMD (stdout to $T/out, stderr dropped) for at most BOUND seconds.
# A command that runs longer is killed and returns 137.
bounded() {
  "$@" </dev/null >"$T/out" 2>/dev/null &
  _bp=$!
  (
    trap 'kill "$_ws" 2>/dev/null; exit 0' TERM
    sleep "$BOUND" &
    _ws=$!
    wait "$_ws"
    kill -9 "$_bp" 2>/dev/null
  ) >/dev/null 2>&1 &
  _wd=$!
  wait "$_bp"
  _brc=$?
  kill "$_wd" 2>/dev/null
  wait "$_wd" 2>/dev/null
  return "$_brc"
}

# run_section NAME CMD...: a command's stdout and exit status; `missing` when not found.
run_section() {
  _name=$1
  shift
  : >"$T/raw"
  case $1 in
    /*) [ -x "$1" ] || { emit_capped "$_name" "$T/raw" missing; return 0; } ;;
    *) command -v "$1" >/dev/null 2>&1 || { emit_capped "$_name" "$T/raw" missing; return 0; } ;;
  esac
  bounded "$@"
  _rc=$?
  cat "$T/out" >"$T/raw"
  if [ "$_rc" -eq 0 ]; then
    emit_capped "$_name" "$T/raw" ok
  else
    emit_capped "$_name" "$T/raw" "rc=$_rc"
  fi
}

# One line per command: NAME<space>WHERE, WHERE = what `command -v` says (a path, or the
# bare name for a builtin or a busybox standalone applet), `-` when the shell cannot find it.
commands_section() {
  : >"$T/raw"
  for _c in "$@"; do
    case $_c in
      /*) if [ -x "$_c" ]; then _w=$_c; else _w=-; fi ;;
      *) _w=$(command -v "$_c" 2>/dev/null) || _w=- ;;
    esac
    printf '%s %s\n' "$_c" "${_w:--}" >>"$T/raw"
  done
  emit_capped commands "$T/raw" ok
}

# The applets the host's own busybox binary offers: `--list` (busybox >= 1.x), else the
# "Currently defined functions" text busybox prints when run without arguments.
busybox_section() {
  _bb=
  for _p in $BUSYBOX_PATHS; do
    if [ -x "$R$_p" ]; then
      _bb=$R$_p
      break
    fi
  done
  if [ -z "$_bb" ]; then
    : >"$T/raw"
    emit_capped busybox "$T/raw" missing
    return 0
  fi
  if bounded "$_bb" --list && [ -s "$T/out" ]; then
    cat "$T/out" >"$T/raw"
    emit_capped busybox "$T/raw" ok
    return 0
  fi
  bounded "$_bb"
  cat "$T/out" >"$T/raw"
  emit_capped busybox_help "$T/raw" ok
}

# local.sh and auto-backup as ESXi keeps them: `ls -l` shows the sticky bit that registers
# a file under /etc for /sbin/auto-backup.sh; the datastore entry and the agent key.
persistence_section() {
  : >"$T/raw"
  for _f in /etc/rc.local.d/local.sh /sbin/auto-backup.sh; do
    _l=$(ls -l "$R$_f" 2>/dev/null) || _l=
    printf 'file %s %s\n' "$_f" "${_l%% *}" >>"$T/raw"
  done
  # The datastore may be a dead NFS mount (a wrong manifest): every look at it is bounded.
  _l=
  if bounded ls -ld "$R/vmfs/volumes/$DATASTORE/"; then
    _l=$(cat "$T/out")
  fi
  printf 'datastore %s\n' "${_l%% *}" >>"$T/raw"
  if bounded test -r "$KEY_FILE"; then
    printf 'key present\n' >>"$T/raw"
  else
    printf 'key absent\n' >>"$T/raw"
  fi
  emit_capped persistence "$T/raw" ok
}

crond_section() {
  _pid=
  if [ -f "$R/var/run/crond.pid" ]; then
    _pid=$(dd if="$R/var/run/crond.pid" bs=64 count=1 2>/dev/null)
  fi
  _pid=${_pid%%[!0-9]*}
  _alive=no
  if [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null; then
    _alive=yes
  fi
  printf 'pid=%s\nalive=%s\n' "$_pid" "$_alive" >"$T/raw"
  emit_capped crond "$T/raw" ok
}

main "$@" </dev/null
