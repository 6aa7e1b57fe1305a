#!/bin/sh
# zbs-reroute probe: a read-only snapshot of one ESXi host, printed as
# length-framed sections so hostile file content cannot forge the framing.
#
# Sent by the reconciler on stdin:   /bin/sh -s -- INSTALL_DIR RUN_DIR NFS_ADDRESS [CLUSTER_IP...]
# Parsed by src/observe/parse-probe-output.ts.
#
# Output:
#   @@zbs-reroute-probe v1
#   @@section NAME BYTES STATUS\n<exactly BYTES raw bytes>\n      (repeated)
#   @@end COUNT
# STATUS: ok | truncated | missing | unreadable | rc=N (command exit status, output still framed).
# Every section is capped (CAP bytes); a capped section says `truncated`.
#
# This script changes nothing on the host except its own temp dir under /tmp (removed on exit).
# Commands: ash builtins (printf echo command kill cd pwd set shift trap umask test), the busybox
# basics every ESXi release has (cat dd ls mkdir rm sed wc date, sha256sum or else openssl), and
# VMware's own esxcfg-route, esxcfg-vmknic, vmware, esxcli (the firewall listings and the
# filesystem list, the latter under a watchdog: sleep, kill, wait) and ps (-c; plain `ps` where
# -c is unknown).
# No head -c, stat, find, od or base64: their presence and options vary between ESXi builds.
# ZBS_PROBE_ROOT prefixes the fixed system paths; only the local script test sets it.

CAP=262144
SMALL=4096
MAX_ENTRIES=200
MAX_LEASE_FILES=16
# Seconds `esxcli storage filesystem list` may take (it lists NFS mounts, and one whose server is
# gone can stall it): past that it is killed and the datastore type stays unknown.
BOUND=${ZBS_PROBE_BOUND:-10}

main() {
  INSTALL_DIR=$1
  RUN_DIR=$2
  NFS_ADDRESS=$3
  if [ "$#" -lt 3 ] || [ -z "$INSTALL_DIR" ] || [ -z "$RUN_DIR" ]; then
    echo "usage: sh -s -- INSTALL_DIR RUN_DIR NFS_ADDRESS [CLUSTER_IP...]" >&2
    return 64
  fi
  shift 3
  CLUSTER_IPS=$*
  R=${ZBS_PROBE_ROOT:-}

  umask 077
  T=/tmp/zbs-reroute-probe.$$
  rm -rf "$T" 2>/dev/null
  if ! mkdir "$T" 2>/dev/null; then
    echo "probe: cannot create temp dir $T" >&2
    return 70
  fi
  trap 'rm -rf "$T"' EXIT
  trap 'rm -rf "$T"; exit 130' INT TERM HUP

  COUNT=0
  echo "@@zbs-reroute-probe v1"

  { printf 'install=%s\nrun=%s\nnfs=%s\nips=%s\n' "$INSTALL_DIR" "$RUN_DIR" "$NFS_ADDRESS" "$CLUSTER_IPS"; } >"$T/raw"
  emit_capped args "$T/raw" ok

  run_section now date +%s
  run_section esxi_version vmware -v

  list_install_dir >"$T/raw"
  emit_capped files "$T/raw" ok

  head_line2 "$INSTALL_DIR/reroute-loop.sh" loop_line2
  file_section pin "$INSTALL_DIR/pin" "$SMALL"
  file_section pubkey "$INSTALL_DIR/keys/reroute_id_rsa.pub" "$SMALL"
  file_section crontab "$R/var/spool/cron/crontabs/root" "$CAP"
  file_section local_sh "$R/etc/rc.local.d/local.sh" "$CAP"
  file_section heartbeat "$RUN_DIR/status" "$SMALL"

  run_section routes esxcfg-route -l
  run_section vmknics esxcfg-vmknic -l
  ps_section
  crond_section
  legacy_sections
  lease_sections
  # The firewall rulesets the agent's session source needs (httpClient, sshClient) and our
  # record of how they were before we changed them.
  run_section fw_rulesets esxcli network firewall ruleset list
  run_section fw_allowedip esxcli network firewall ruleset allowedip list
  file_section fw_prior "$INSTALL_DIR/firewall.prior" "$SMALL"
  # Every volume the host mounts with its type (VMFS-6, NFS, NFS41, ...): the planner refuses an
  # install dir on NFS, whose files would vanish in the very outage the agent is for.
  bounded_section filesystems esxcli storage filesystem list

  echo "@@end $COUNT"
  return 0
}

# emit_capped NAME FILE STATUS [LIMIT]: frame FILE (a private copy) as one section of at
# most LIMIT bytes (a multiple of 1024; default CAP). The header carries the exact byte count.
emit_capped() {
  _limit=${4:-$CAP}
  _status=$3
  # shellcheck disable=SC2046
  set -- "$1" "$2" $(wc -c <"$2")
  _n=${3:-0}
  if [ "$_n" -gt "$_limit" ]; then
    printf '@@section %s %s truncated\n' "$1" "$_limit"
    dd if="$2" bs=1024 count=$((_limit / 1024)) 2>/dev/null
  else
    printf '@@section %s %s %s\n' "$1" "$_n" "$_status"
    cat "$2"
  fi
  printf '\n'
  COUNT=$((COUNT + 1))
}

# file_section NAME PATH LIMIT: a regular file's bytes (capped), or an empty `missing` section.
# Only LIMIT+1 KiB is copied, so a huge file costs no more than a small one.
file_section() {
  : >"$T/raw"
  if [ -f "$2" ] && [ -r "$2" ]; then
    if dd if="$2" of="$T/raw" bs=1024 count=$(($3 / 1024 + 1)) 2>/dev/null; then
      _st=ok
    else
      _st=unreadable
    fi
  elif [ -e "$2" ]; then
    _st=unreadable
  else
    _st=missing
  fi
  emit_capped "$1" "$T/raw" "$_st" "$3"
}

# run_section NAME CMD...: a command's stdout (stderr dropped) and its exit status.
run_section() {
  capture_section "" "$@"
}

# bounded_section NAME CMD...: the same, but a command that outlives BOUND seconds is killed
# (rc=137): for commands that can hang on a dead storage server (esxcli storage ...).
bounded_section() {
  capture_section "$BOUND" "$@"
}

# capture_section LIMIT NAME CMD...: LIMIT empty runs CMD in the foreground; otherwise a watchdog
# kills it after LIMIT seconds. The watchdog's output goes to /dev/null so its sleep never holds
# the probe's stdout open.
capture_section() {
  _limit_s=$1
  _name=$2
  shift 2
  : >"$T/raw"
  if ! command -v "$1" >/dev/null 2>&1; then
    emit_capped "$_name" "$T/raw" missing
    return 0
  fi
  if [ -z "$_limit_s" ]; then
    "$@" </dev/null >"$T/raw" 2>/dev/null
    _rc=$?
  else
    "$@" </dev/null >"$T/raw" 2>/dev/null &
    _bp=$!
    (
      trap 'kill "$_ws" 2>/dev/null; exit 0' TERM
      sleep "$_limit_s" &
      _ws=$!
      wait "$_ws"
      kill -9 "$_bp" 2>/dev/null
    ) >/dev/null 2>&1 &
    _wd=$!
    wait "$_bp"
    _rc=$?
    kill "$_wd" 2>/dev/null
    wait "$_wd" 2>/dev/null
  fi
  if [ "$_rc" -eq 0 ]; then
    emit_capped "$_name" "$T/raw" ok
  else
    emit_capped "$_name" "$T/raw" "rc=$_rc"
  fi
}

# head_line2 FILE NAME: line 2 of FILE (where the agent keeps reroute_version=).
head_line2() {
  if [ -f "$1" ] && [ -r "$1" ]; then
    dd if="$1" bs=1024 count=$((SMALL / 1024)) 2>/dev/null | sed -n '2p' >"$T/raw"
    emit_capped "$2" "$T/raw" ok
  else
    : >"$T/raw"
    emit_capped "$2" "$T/raw" missing
  fi
}

# One line per entry: TYPE_AND_PERMS SIZE SHA256 PATH (SIZE/SHA256 are `-` for non-files).
describe_entry() {
  _l=$(ls -ld -- "$1" 2>/dev/null) || return 0
  _perm=${_l%% *}
  _size=-
  _sha=-
  if [ -f "$1" ] && [ ! -L "$1" ] && [ -r "$1" ]; then
    # shellcheck disable=SC2046
    set -- "$1" $(wc -c <"$1")
    _size=${2:-0}
    if command -v sha256sum >/dev/null 2>&1; then
      _h=$(sha256sum <"$1" 2>/dev/null)
      _sha=${_h%% *}
    elif command -v openssl >/dev/null 2>&1; then
      # "(stdin)= HEX" or "SHA256(stdin)= HEX" depending on the OpenSSL build
      _h=$(openssl dgst -sha256 <"$1" 2>/dev/null)
      _sha=${_h##* }
    fi
    case $_sha in *[!0-9a-f]* | '') _sha=- ;; esac
  fi
  printf '%s %s %s %s\n' "$_perm" "$_size" "$_sha" "$1"
}

list_install_dir() {
  [ -e "$INSTALL_DIR" ] || return 0
  describe_entry "$INSTALL_DIR"
  _count=0
  for _f in "$INSTALL_DIR"/* "$INSTALL_DIR"/.* "$INSTALL_DIR"/keys/* "$INSTALL_DIR"/keys/.*; do
    case ${_f##*/} in . | ..) continue ;; esac
    [ -e "$_f" ] || [ -L "$_f" ] || continue
    _count=$((_count + 1))
    if [ "$_count" -gt "$MAX_ENTRIES" ]; then
      echo "@truncated"
      break
    fi
    describe_entry "$_f"
  done
}

ps_section() {
  # ESXi: `ps -c` adds command lines; plain busybox has no -c, so fall back to `ps`.
  # A busy host lists thousands of worlds; only the header and the lines that can
  # matter (agent loops, legacy loops, crond) are kept, so the cap never hides them.
  _st=ok
  if ! { ps -c >"$T/all" 2>/dev/null && [ -s "$T/all" ]; }; then
    ps >"$T/all" 2>/dev/null || _st="rc=$?"
  fi
  sed -n -e '1{p;d;}' -e '/reroute-loop\.sh/{p;d;}' -e '/scvm_failure/{p;d;}' -e '/crond/p' "$T/all" >"$T/raw"
  rm -f "$T/all"
  emit_capped ps "$T/raw" "$_st"
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

# Seed tooling installs: /vmfs/volumes/<uuid>/vmware_scvm_failure/. Datastore names are
# symlinks to the UUID folder, so each install is reported once under its physical path.
legacy_sections() {
  _seen='
'
  _count=0
  for _loop in "$R"/vmfs/volumes/*/vmware_scvm_failure/scvm_failure_loop.sh; do
    [ -f "$_loop" ] || continue
    _dir=$(cd -P "${_loop%/*}" 2>/dev/null && pwd -P) || continue
    case $_seen in *"
$_dir
"*) continue ;; esac
    _seen="$_seen$_dir
"
    _count=$((_count + 1))
    [ "$_count" -le 8 ] || break
    _line2=$(dd if="$_loop" bs=1024 count=$((SMALL / 1024)) 2>/dev/null | sed -n '2p')
    _keys=
    [ -d "$_dir/.smartx_key" ] && _keys="$_dir/.smartx_key"
    printf 'dir=%s\nkeydir=%s\nline2=%s\n' "$_dir" "$_keys" "$_line2" >"$T/raw"
    emit_capped legacy "$T/raw" ok
  done
}

# Host lease taken by an apply: report the dir and every small file in it.
lease_sections() {
  if [ -d "$INSTALL_DIR/lease" ]; then
    printf 'present\n' >"$T/raw"
  else
    : >"$T/raw"
  fi
  emit_capped lease_dir "$T/raw" ok
  [ -d "$INSTALL_DIR/lease" ] || return 0
  _count=0
  for _f in "$INSTALL_DIR"/lease/*; do
    [ -f "$_f" ] || continue
    _b=${_f##*/}
    case $_b in *[!A-Za-z0-9._-]*) continue ;; esac
    _count=$((_count + 1))
    [ "$_count" -le "$MAX_LEASE_FILES" ] || break
    file_section "lease.$_b" "$_f" "$SMALL"
  done
}

main "$@" </dev/null
