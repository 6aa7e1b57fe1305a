#!/bin/sh
reroute_version=1.0.0
# zbs-reroute agent: keeps NFS_ADDRESS/32 (192.168.33.2) routed to a healthy ZBS access point.
# Runs on ESXi under busybox ash, started by root's crontab every minute as `/bin/sh THIS_FILE &`.
# Design notes and measured figures: esxi/agent/README.md. Allowed applets/options: applets.txt.
#
# The whole program lives in functions and the last line calls main and exits, so ash has parsed
# everything it will ever run before the first iteration: replacing this file on disk (upgrade)
# cannot make a running loop read half of a new script.

SELF=$0
SELF_NAME=${0##*/}
case $0 in
*/*) SELF_DIR=${0%/*} ;;
*) SELF_DIR=. ;;
esac
CONF_FILE=${REROUTE_CONF:-$SELF_DIR/reroute.conf}

# cron's environment may carry a proxy; meta must be reached directly. Its PATH may also lack
# /sbin, where ESXi keeps esxcfg-route and esxcli (appended: a caller's own PATH keeps precedence).
unset http_proxy HTTP_PROXY no_proxy NO_PROXY
PATH=${PATH:+$PATH:}/bin:/sbin:/usr/bin:/usr/sbin
export PATH

# ---------------------------------------------------------------- state
CUR=''             # SCVM address the route serves now: its storage IP ('' = no /32 route)
CUR_GW=''          # gateway the route points at now (CUR, or CUR's access IP)
CUR_KIND=none      # local|remote-storage|remote-management|pin|none
SINCE=0            # epoch s when CUR was chosen or adopted
LOCAL_OK_SINCE=''  # epoch s since the local access has been continuously healthy ('' = not healthy)
LOCAL_FAILED=0     # 1 once the local access was seen unhealthy (or we adopted a remote route)
FETCH=fail         # last session fetch result
FETCH_MS=0
FETCH_FROM=''      # SCVM address that answered the last fetch
LAST_SOURCE=''     # remember a remote fetch source that worked
ROT=0              # rotation index through peer fetch sources
META_STORAGE=' '   # healthy access storage IPs from meta (space padded)
META_MGMT=' '      # their secondary_data_ip (management) addresses
UP=' '             # addresses that answered a ping this iteration
PINGED=' '         # addresses pinged this iteration
PIN=''
NOW=0
ITER=0
RND=0
WD_PID=''
FETCH_PID=''
FETCH_WD=''
FETCH_T0=0
BG_PID=''
SLEEP_PID=''
PING_PIDS=''
IN_ROUTE_CHANGE=0
TERM_PENDING=0
HAVE_LOCK=0
META_DOWN_LOGGED=0
NO_TARGET_LOGGED=0
PIN_BAD_LOGGED=''
ROUTE_TOOL=''
SETSID=0
PREV_MODE=''
REAL_SINCE=0
CONFIRM=' '        # addresses whose miss needs confirming rounds (local access, gateway in use, pin)
UNLISTED=0         # consecutive fresh session lists without the local access
FETCH_FAILS=0      # consecutive iterations without a session list
BLIND=0            # 1 after BLIND_AFTER of them (logged once, shown in the heartbeat)
LIST_T=''          # epoch s of the last good session list ('' = never had one)
PING_ONLY_LOGGED=0
REAL_GW=''         # shadow mode: the gateway the route really has (the agent's own choice is CUR_GW)
SHADOW_CHANGES=0
DISAGREE_SINCE=''
ALIVE_T=0
# Counters and the last decision, in the heartbeat for metrics (issue 16). They survive a restart
# on the same boot (read back from the status file at start); RUN_DIR is a ramdisk, so a reboot
# starts them at 0.
FAILOVERS=0        # route changes from local to a remote or pinned SCVM
FAILBACKS=0        # route changes from a remote or pinned SCVM back to local
ROUTE_CHANGES=0    # every successful route change
FETCH_FAILURES=0   # iterations without a session list
BLIND_ITERS=0      # iterations spent blind
LAST_DECISION=''   # failover|failback|switch|adopt|change-failed
LAST_REASON=''     # one of DECISION_REASONS
LAST_DECISION_AT=''
DECISIONS=' failover failback switch adopt change-failed '
DECISION_REASONS=' local-ping local-unlisted gateway-down gateway-unlisted failback-delay-passed better-tier pin unpin drain no-route foreign-route config route-drift mode-active start '

# ---------------------------------------------------------------- config
conf_defaults() {
  : "${NODE_NAME:=esxi}" "${NFS_ADDRESS:=192.168.33.2}" "${LOCAL_MGMT_IP:=}"
  : "${PEER_STORAGE_IPS:=}" "${PEER_MGMT_IPS:=}" "${LOCAL_ACCESS_IP:=}" "${PEER_ACCESS_IPS:=}"
  : "${INTERVAL:=3}" "${FAILBACK_DELAY:=180}" "${PING_TIMEOUT:=1}"
  : "${FALLBACK_ORDER:=local-storage remote-storage remote-management}"
  : "${SESSION_SOURCE:=rest}" "${REST_PORT:=80}" "${REST_PATH:=/api/v2/zbs_session/session}"
  : "${SSH_USER:=smartx}" "${SSH_KEY:=$SELF_DIR/keys/reroute_id_rsa}"
  : "${SSH_KNOWN_HOSTS:=$SELF_DIR/keys/known_hosts}"
  : "${RUN_DIR:=/var/run/zbs-reroute}" "${LOG_FILE:=/var/log/scvm_failure.log}"
  : "${LOG_MAX_BYTES:=262144}" "${PIN_FILE:=$SELF_DIR/pin}"
  # Optional keys (not rendered by the planner unless the manifest sets them).
  : "${FETCH_TIMEOUT:=2}" "${SSH_TIMEOUT:=6}" "${FETCH_TRIES:=3}" "${PING_PARALLEL:=128}"
  : "${ROUTE_TIMEOUT:=10}" "${HUNG_AFTER:=}"
  : "${MODE:=active}" "${ZONE_PEER_STORAGE_IPS:=}" "${PING_COUNT:=4}" "${PING_ROUNDS:=2}"
  : "${UNLISTED_CONFIRM:=2}" "${BLIND_AFTER:=5}" "${LIST_MAX_AGE:=600}"
  : "${SESSION_MAX_BYTES:=1048576}" "${ALIVE_EVERY:=600}"
  : "${PING_BURST:=8}" "${PEER_BACKOFF:=30}"
}

is_uint() {
  case $1 in
  '' | *[!0-9]*) return 1 ;;
  esac
  return 0
}

# Sourcing the file again every iteration lets the reconciler change peers or timing without
# restarting the loop; an unreadable or invalid file stops the loop (the route is never touched).
load_conf() {
  if [ ! -r "$CONF_FILE" ]; then
    CONF_ERROR="cannot read $CONF_FILE"
    return 1
  fi
  # shellcheck source=/dev/null
  . "$CONF_FILE"
  conf_defaults
  for _v in "$INTERVAL" "$FAILBACK_DELAY" "$PING_TIMEOUT" "$REST_PORT" "$LOG_MAX_BYTES" \
    "$FETCH_TIMEOUT" "$SSH_TIMEOUT" "$FETCH_TRIES" "$PING_PARALLEL" "$ROUTE_TIMEOUT" \
    "$PING_COUNT" "$PING_ROUNDS" "$UNLISTED_CONFIRM" "$BLIND_AFTER" "$LIST_MAX_AGE" \
    "$SESSION_MAX_BYTES" "$ALIVE_EVERY" "$PING_BURST" "$PEER_BACKOFF"; do
    if ! is_uint "$_v"; then
      CONF_ERROR="not a whole number: '$_v'"
      return 1
    fi
  done
  [ "$INTERVAL" -ge 1 ] || INTERVAL=1
  [ "$PING_TIMEOUT" -ge 1 ] || PING_TIMEOUT=1
  [ "$FETCH_TIMEOUT" -ge 1 ] || FETCH_TIMEOUT=1
  [ "$PING_PARALLEL" -ge 1 ] || PING_PARALLEL=1
  [ "$PING_COUNT" -ge 1 ] || PING_COUNT=1
  [ "$PING_BURST" -ge 1 ] || PING_BURST=1
  [ "$PING_ROUNDS" -ge 1 ] || PING_ROUNDS=1
  [ "$UNLISTED_CONFIRM" -ge 1 ] || UNLISTED_CONFIRM=1
  [ "$BLIND_AFTER" -ge 1 ] || BLIND_AFTER=1
  [ "$SESSION_MAX_BYTES" -ge 1024 ] || SESSION_MAX_BYTES=1024
  case $MODE in
  active | shadow) ;;
  *)
    CONF_ERROR="MODE must be active or shadow, not '$MODE'"
    return 1
    ;;
  esac
  if [ -z "$LOCAL_STORAGE_IP" ]; then
    CONF_ERROR="LOCAL_STORAGE_IP is empty"
    return 1
  fi
  case $SESSION_SOURCE in
  rest | ssh) ;;
  *)
    CONF_ERROR="SESSION_SOURCE must be rest or ssh, not '$SESSION_SOURCE'"
    return 1
    ;;
  esac
  case $REST_PATH in
  /*) ;;
  *) REST_PATH=/$REST_PATH ;;
  esac
  access_map || return 1
  # A loop whose heartbeat is this old is hung (every call is bounded, so it should never be).
  if ! is_uint "$HUNG_AFTER" || [ "$HUNG_AFTER" -lt 1 ]; then
    HUNG_AFTER=$((INTERVAL * 10))
    [ "$HUNG_AFTER" -ge 90 ] || HUNG_AFTER=90
  fi
  return 0
}

# is_count VALUE: a counter we can do arithmetic on (no leading zero: ash reads 010 as octal).
is_count() {
  is_uint "$1" || return 1
  case $1 in
  0?* | ???????????????????*) return 1 ;;
  esac
  return 0
}

is_code() { # is_code VALUE " code ... ": one of the codes (a value read back from a file)
  case $1 in
  '' | *[!a-z-]*) return 1 ;;
  esac
  in_list "$1" "$2"
}

is_ipv4() {
  case $1 in
  *[!0-9.]* | .* | *. | *..*) return 1 ;;
  *.*.*.*.*) return 1 ;;
  *.*.*.*) return 0 ;;
  esac
  return 1
}

# RDMA clusters (SmartX deploy) route the NFS address and the SCVM storage IP /32 via the SCVM's
# *access IP*, e.g. `192.168.33.2 255.255.255.255 10.0.85.121 vmk1`. The decisions stay in terms of
# SCVM storage IPs (what meta lists and pins name); only the route and the pings use the address
# an SCVM is reached through. GW_MAP " storage=gateway ..." and T_MAP " gateway=storage ..." hold
# the translation; SCVMs without an access IP (`-` or empty) are their own gateway.
access_map() {
  GW_MAP=' '
  T_MAP=' '
  if [ -n "$LOCAL_ACCESS_IP" ] && [ "$LOCAL_ACCESS_IP" != - ]; then
    if ! is_ipv4 "$LOCAL_ACCESS_IP"; then
      CONF_ERROR="LOCAL_ACCESS_IP is not an IPv4 address: '$LOCAL_ACCESS_IP'"
      return 1
    fi
    GW_MAP=" $LOCAL_STORAGE_IP=$LOCAL_ACCESS_IP "
    T_MAP=" $LOCAL_ACCESS_IP=$LOCAL_STORAGE_IP "
  fi
  [ -n "$PEER_ACCESS_IPS" ] || return 0
  # shellcheck disable=SC2086 # the lists are space separated on purpose
  set -- $PEER_ACCESS_IPS
  _n=0
  for _s in $PEER_STORAGE_IPS; do
    _n=$((_n + 1))
    if [ "$#" -eq 0 ]; then
      CONF_ERROR="PEER_ACCESS_IPS has fewer entries than PEER_STORAGE_IPS (use - for none)"
      return 1
    fi
    if [ "$1" != - ]; then
      if ! is_ipv4 "$1"; then
        CONF_ERROR="PEER_ACCESS_IPS entry $_n is not an IPv4 address or -: '$1'"
        return 1
      fi
      GW_MAP="$GW_MAP$_s=$1 "
      T_MAP="$T_MAP$1=$_s "
    fi
    shift
  done
  if [ "$#" -ne 0 ]; then
    CONF_ERROR="PEER_ACCESS_IPS has more entries than PEER_STORAGE_IPS"
    return 1
  fi
  return 0
}

gw_of() { # gw_of ADDRESS → GW: the address the route and the pings use for that SCVM address
  GW=$1
  case $GW_MAP in
  *" $1="*)
    GW=${GW_MAP#*" $1="}
    GW=${GW%% *}
    ;;
  esac
}

target_of() { # target_of GATEWAY → T: the SCVM storage IP behind an access IP, else GATEWAY
  T=$1
  case $T_MAP in
  *" $1="*)
    T=${T_MAP#*" $1="}
    T=${T%% *}
    ;;
  esac
}

# is_up_via ADDRESS: the address an SCVM is routed through answered this iteration's ping.
is_up_via() {
  gw_of "$1"
  is_up "$GW"
}

# ping_via ADDRESS...: ping the gateway of each address.
ping_via() {
  _pv=''
  for _a in "$@"; do
    gw_of "$_a"
    _pv="$_pv $GW"
  done
  # shellcheck disable=SC2086
  ping_all $_pv
}

# ---------------------------------------------------------------- clock and log
# Milliseconds for fetch_ms: /proc/uptime where it exists, date's %N where it works, else seconds.
CLOCK_MODE=''
clock_init() {
  if [ -r /proc/uptime ]; then
    CLOCK_MODE=proc
    return
  fi
  _d=$(date +%s%N)
  case $_d in
  *[!0-9]* | ?????????? | ???????????) CLOCK_MODE=s ;;
  *) CLOCK_MODE=ns ;;
  esac
}

clock_ms() {
  case $CLOCK_MODE in
  proc)
    read -r _up _rest </proc/uptime
    _cs=${_up#*.}
    _cs=${_cs#0}
    CLOCK=$((${_up%.*} * 1000 + ${_cs:-0} * 10))
    ;;
  ns)
    _d=$(date +%s%N)
    CLOCK=$((_d / 1000000))
    ;;
  *)
    _d=$(date +%s)
    CLOCK=$((_d * 1000))
    ;;
  esac
}

# Truncate-in-place rotation keeps working when LOG_FILE is a symlink to /scratch (as the seed had).
log() {
  if [ -f "$LOG_FILE" ]; then
    _sz=$(wc -c <"$LOG_FILE" 2>/dev/null)
    if is_uint "$_sz" && [ "$_sz" -ge "$LOG_MAX_BYTES" ]; then
      cp "$LOG_FILE" "$LOG_FILE.1" 2>/dev/null
      : >"$LOG_FILE"
    fi
  fi
  echo "$(date '+%Y-%m-%d %H:%M:%S') $NODE_NAME reroute[$$] $*" >>"$LOG_FILE" 2>/dev/null
}

# ---------------------------------------------------------------- bounded execution
# Our own watchdog instead of `timeout`/`wget -T`: ESXi's busybox builds differ in those flags.
# After SECS seconds the given pids get SIGKILL unless stop_watchdog ran first; so does the pid
# in the file named by WD_ALSO (read when the watchdog fires: a pipeline member the shell has no
# pid for writes it there). The watchdog is a process of its own: it still fires when the loop
# itself was killed, so no child of a killed loop outlives its deadline.
start_watchdog() {
  _wsecs=$1
  shift
  _wfile=$WD_ALSO
  WD_ALSO=''
  (
    trap 'kill "$_ws" 2>/dev/null; exit 0' TERM
    sleep "$_wsecs" &
    _ws=$!
    wait "$_ws"
    _wp=''
    if [ -n "$_wfile" ] && [ -r "$_wfile" ]; then
      read -r _wp <"$_wfile"
      is_uint "$_wp" || _wp=''
    fi
    # shellcheck disable=SC2086 # an empty _wp must vanish
    kill -9 "$@" $_wp 2>/dev/null
  ) >/dev/null 2>&1 &
  WD_PID=$!
}

stop_watchdog() {
  if [ -n "$WD_PID" ]; then
    kill "$WD_PID" 2>/dev/null
    wait "$WD_PID" 2>/dev/null
    WD_PID=''
  fi
}

# wait_pid PID: like `wait PID`, but a trapped signal does not cut it short while a route
# change is in progress (the TERM handler only defers during a change).
wait_pid() {
  wait "$1"
  _wr=$?
  while [ "$_wr" -gt 128 ] && kill -0 "$1" 2>/dev/null; do
    wait "$1"
    _wr=$?
  done
  return "$_wr"
}

# run_bounded SECS OUTFILE CMD ARGS...: stdout to OUTFILE, stderr dropped.
run_bounded() {
  _rt=$1
  _ro=$2
  shift 2
  "$@" >"$_ro" 2>/dev/null &
  BG_PID=$!
  start_watchdog "$_rt" "$BG_PID"
  wait_pid "$BG_PID"
  _rrc=$?
  stop_watchdog
  BG_PID=''
  return "$_rrc"
}

# ---------------------------------------------------------------- ping
# One lost packet must not move IO (every move stalls every VM on the host, and a failover costs
# the failback delay of remote IO), yet a real failure must move it within
# INTERVAL + PING_ROUNDS x PING_TIMEOUT (+ the switch): esxi/agent/README.md, "Evidence".
# ping_all IP...: one round for every address not pinged yet this iteration, PING_COUNT probes
# each, all at once; an address answering any probe is up. Addresses in CONFIRM (the local access,
# the gateway in use, the pin) that stayed silent get up to PING_ROUNDS - 1 more rounds, each a
# PING_TIMEOUT later than the last, so "down" means PING_COUNT x PING_ROUNDS probes lost over at
# least (PING_ROUNDS - 1) x PING_TIMEOUT seconds. Adds responders to UP, every address to PINGED.
ping_all() {
  _new=''
  for _ip in "$@"; do
    case $PINGED in
    *" $_ip "*) continue ;;
    esac
    PINGED="$PINGED$_ip "
    _new="$_new $_ip"
  done
  [ -n "$_new" ] || return 0
  ping_round "$_new"
  _round=1
  while [ "$_round" -lt "$PING_ROUNDS" ]; do
    _again=''
    for _ip in $_new; do
      is_up "$_ip" && continue
      case $CONFIRM in
      *" $_ip "*) _again="$_again $_ip" ;;
      esac
    done
    [ -n "$_again" ] || break
    if [ "$PRE_BURST" = 1 ] && { [ -z "$CUR_GW" ] || in_list "$CUR_GW" "$_again"; }; then
      # The gateway IO goes through is silent: a failover may follow, so its first tier burst
      # rides along with the confirming round instead of costing a PING_TIMEOUT after it. (Not
      # while failed over to a live peer with the local access still silent: no move is due.)
      PRE_BURST=0
      pre_burst
      for _ip in $PRE_GWS; do
        case $PINGED in
        *" $_ip "*) continue ;;
        esac
        PINGED="$PINGED$_ip "
        _again="$_again $_ip"
      done
    fi
    ping_round "$_again"
    _round=$((_round + 1))
  done
}

# ping_round "IP ...": PING_COUNT probes per address, at most PING_PARALLEL probes in flight.
ping_round() {
  _batch=''
  _n=0
  for _ip in $1; do
    _batch="$_batch $_ip"
    _n=$((_n + PING_COUNT))
    if [ "$_n" -ge "$PING_PARALLEL" ]; then
      ping_batch "$_batch"
      _batch=''
      _n=0
    fi
  done
  [ -z "$_batch" ] || ping_batch "$_batch"
}

ping_batch() {
  PING_PIDS=''
  _pairs=''
  for _ip in $1; do
    # The local management address only steers the fetch (fetch_sessions): one probe is enough.
    _c=0
    [ "$_ip" != "$LOCAL_MGMT_IP" ] || _c=$((PING_COUNT - 1))
    while [ "$_c" -lt "$PING_COUNT" ]; do
      ping -c 1 -s 16 "$_ip" >/dev/null 2>&1 &
      PING_PIDS="$PING_PIDS $!"
      _pairs="$_pairs $!:$_ip"
      _c=$((_c + 1))
    done
  done
  # shellcheck disable=SC2086 # word splitting of the pid list is intended
  start_watchdog "$PING_TIMEOUT" $PING_PIDS
  for _pp in $_pairs; do
    if wait_pid "${_pp%%:*}"; then
      is_up "${_pp#*:}" || UP="$UP${_pp#*:} "
    fi
  done
  stop_watchdog
  PING_PIDS=''
}

is_up() {
  case $UP in
  *" $1 "*) return 0 ;;
  esac
  return 1
}

in_list() { # in_list WORD LIST
  case " $2 " in
  *" $1 "*) return 0 ;;
  esac
  return 1
}

ping_targets() {
  gw_of "$LOCAL_STORAGE_IP"
  _pl=$GW
  for _a in $CUR $PIN; do
    gw_of "$_a"
    _pl="$_pl $GW"
  done
  # The addresses a decision to move IO stands on get confirming rounds; the management address
  # only steers the fetch.
  CONFIRM=" $_pl $CUR_GW "
  PRE_BURST=1
  # shellcheck disable=SC2086 # empty values must vanish
  ping_all $_pl $LOCAL_MGMT_IP $CUR_GW
  PRE_BURST=0
}

# ---------------------------------------------------------------- session list
TMP_SESS=''

# parse_rest FILE: meta's JSON → META_STORAGE / META_MGMT. Fails unless "ec" is "EOK".
# awk alone (no `tr`: ESXi 6.5's busybox lacks it): the whole reply is joined into one string and
# split at `}`, so each session object is one piece whether meta printed it on one line or many.
# The body is at most SESSION_MAX_BYTES (fetch_start) and the parse is bounded in time like every
# other call (a 52 MB body once kept an unbounded parse busy past the hang detector).
parse_rest() {
  # shellcheck disable=SC2016 # an awk program
  parse_bounded "$1" '
    { buf = buf " " $0 }
    END {
      if (buf !~ /"ec" *: *"EOK"/) exit 1
      n = split(buf, part, "}")
      for (k = 1; k <= n; k++) {
        r = part[k]; ip = ""; sec = ""
        if (match(r, /"ip" *: *"[^"]*"/)) { ip = substr(r, RSTART, RLENGTH); sub(/^"ip" *: *"/, "", ip); sub(/"$/, "", ip) }
        if (match(r, /"secondary_data_ip" *: *"[^"]*"/)) { sec = substr(r, RSTART, RLENGTH); sub(/^"secondary_data_ip" *: *"/, "", sec); sub(/"$/, "", sec) }
        if (ip ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) {
          s = s " " ip
          if (sec ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) m = m " " sec
        }
      }
      print "OK" s ";" m
    }'
}

# parse_ssh FILE: `zbs-meta session list` table (tabulate style; `|` borders tolerated).
parse_ssh() {
  # shellcheck disable=SC2016 # an awk program
  parse_bounded "$1" '
    { gsub(/\|/, " ") }
    /^[-+= ]*$/ { next }
    {
      if (!hdr) {
        for (i = 1; i <= NF; i++) { t = tolower($i); if (t == "ip") ci = i; if (t == "secondary_data_ip") cm = i }
        if (ci) hdr = 1
        next
      }
      ip = $ci; sec = (cm ? $cm : "")
      if (ip ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) {
        s = s " " ip
        if (sec ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) m = m " " sec
      }
    }
    END { if (!hdr) exit 1; print "OK" s ";" m }'
}

# parse_bounded FILE AWK_PROGRAM: run the parser under a watchdog; its one line goes to parse_result.
parse_bounded() {
  run_bounded "$FETCH_TIMEOUT" "$TMP_SESS.out" awk "$2" "$1" || return 1
  _pr=''
  read -r _pr <"$TMP_SESS.out"
  parse_result "$_pr"
}

parse_result() {
  case $1 in
  OK*) ;;
  *) return 1 ;;
  esac
  _r=${1#OK}
  META_STORAGE="${_r%%;*} "
  META_MGMT="${_r#*;} "
}

# fetch_start IP: the session-list call in the background, bounded by its own watchdog, so that
# it can run while the pings wait for their timeout. fetch_finish collects and parses it.
# The answer goes through dd, which stops after SESSION_MAX_BYTES / 1024 reads of at most 1 KiB:
# a huge or endless answer costs neither memory nor time, and is refused. The tool's own pid and
# exit code are written to files from inside the pipeline (the shell knows only dd's pid), so that
# the watchdog kills both and fetch_finish knows whether the answer ended normally.
fetch_start() {
  FETCH_IP=$1
  : >"$TMP_SESS.pid"
  : >"$TMP_SESS.rc"
  FETCH_BLOCKS=$((SESSION_MAX_BYTES / 1024))
  {
    fetch_tool "$1" </dev/null 2>/dev/null &
    echo "$!" >"$TMP_SESS.pid"
    wait "$!"
    echo "$?" >"$TMP_SESS.rc"
  } | dd of="$TMP_SESS" bs=1024 count="$FETCH_BLOCKS" 2>"$TMP_SESS.dd" &
  _fwait=$FETCH_TIMEOUT
  [ "$SESSION_SOURCE" != ssh ] || _fwait=$SSH_TIMEOUT
  FETCH_PID=$!
  WD_ALSO=$TMP_SESS.pid
  start_watchdog "$_fwait" "$FETCH_PID"
  FETCH_WD=$WD_PID
  WD_PID=''
}

# fetch_tool IP: the session list from IP on stdout, by the configured source.
fetch_tool() {
  if [ "$SESSION_SOURCE" = ssh ]; then
    exec ssh -i "$SSH_KEY" -o BatchMode=yes -o ConnectTimeout="$FETCH_TIMEOUT" \
      -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" \
      "$SSH_USER@$1" zbs-meta session list
  fi
  exec wget -q -O - "http://$1:$REST_PORT$REST_PATH"
}

# fetch_abort: give up on the fetch in flight (its address did not answer the ping).
fetch_abort() {
  _fp=''
  read -r _fp <"$TMP_SESS.pid" 2>/dev/null
  is_uint "$_fp" || _fp=''
  # shellcheck disable=SC2086 # an empty _fp must vanish
  kill -9 "$FETCH_PID" $_fp 2>/dev/null
}

fetch_finish() {
  wait_pid "$FETCH_PID"
  kill "$FETCH_WD" 2>/dev/null
  wait "$FETCH_WD" 2>/dev/null
  FETCH_PID=''
  FETCH_WD=''
  # dd's "F+P records in": as many reads as it was allowed means the answer did not fit.
  _recs=''
  read -r _recs _rest <"$TMP_SESS.dd" 2>/dev/null
  _rf=${_recs%%+*}
  _rp=${_recs#*+}
  if is_uint "$_rf" && is_uint "$_rp" && [ $((_rf + _rp)) -ge "$FETCH_BLOCKS" ]; then
    FETCH_WHY="$FETCH_WHY${FETCH_WHY:+, }$FETCH_IP answered more than $SESSION_MAX_BYTES bytes (refused)"
    return 1
  fi
  _fr=''
  read -r _fr <"$TMP_SESS.rc" 2>/dev/null
  if [ "$_fr" != 0 ]; then
    FETCH_WHY="$FETCH_WHY${FETCH_WHY:+, }$FETCH_IP no answer (rc ${_fr:-killed})"
    return 1
  fi
  if [ "$SESSION_SOURCE" = ssh ]; then
    parse_ssh "$TMP_SESS" && return 0
  else
    parse_rest "$TMP_SESS" && return 0
  fi
  FETCH_WHY="$FETCH_WHY${FETCH_WHY:+, }$FETCH_IP answered no session list"
  return 1
}

# fetch_first: the iteration's first source, started in the background before the pings. The local
# SCVM's management address normally (the management network does not share the storage path whose
# failure we are detecting). After an iteration without a list: one address per iteration, in
# rotation over the local SCVM and the peers, and no further tries (fetch_sessions), so that a meta
# outage costs the iteration no time: detection must not slow down while the agent is blind.
fetch_first() {
  FETCH_PID=''
  if [ "$FETCH_FAILS" -eq 0 ]; then
    [ -z "$LOCAL_MGMT_IP" ] || fetch_start "$LOCAL_MGMT_IP"
    return 0
  fi
  # shellcheck disable=SC2086 # the lists are space separated on purpose
  set -- $LOCAL_MGMT_IP $LOCAL_STORAGE_IP $PEER_STORAGE_IPS $PEER_MGMT_IPS
  _k=$((FETCH_FAILS % $# + 1))
  eval "fetch_start \"\${$_k}\""
}

# After the first source: the local storage address if it answered the ping (a dead link costs no
# timeout), the last remote source that worked, and the peers in rotation. At most FETCH_TRIES calls
# in all; none after the first while the previous iteration had no list either.
fetch_sessions() {
  _tries=0
  FETCH=fail
  FETCH_FROM=''
  FETCH_WHY=''
  _seen=' '
  if [ -n "$FETCH_PID" ]; then
    _tries=1
    _seen=" $FETCH_IP "
    # No ping answer from that address (the whole SCVM is down): stop waiting for it.
    gw_of "$FETCH_IP"
    case $PINGED in
    *" $GW "*) is_up "$GW" || fetch_abort ;;
    esac
    if fetch_finish; then
      FETCH=ok
      FETCH_FROM=$FETCH_IP
      if [ "$FETCH_IP" = "$LOCAL_STORAGE_IP" ] || [ "$FETCH_IP" = "$LOCAL_MGMT_IP" ]; then
        LAST_SOURCE=''
      else
        LAST_SOURCE=$FETCH_IP
      fi
    fi
  fi
  [ "$FETCH_FAILS" -eq 0 ] || _tries=$FETCH_TRIES
  if [ "$FETCH" != ok ]; then
    _cands=''
    for _ip in "$LOCAL_STORAGE_IP" "$LOCAL_MGMT_IP"; do
      [ -n "$_ip" ] && is_up_via "$_ip" && _cands="$_cands $_ip"
    done
    [ -z "$LAST_SOURCE" ] || _cands="$_cands $LAST_SOURCE"
    # shellcheck disable=SC2086
    set -- $PEER_STORAGE_IPS $PEER_MGMT_IPS
    _np=$#
    if [ "$_np" -gt 0 ]; then
      _i=0
      while [ "$_i" -lt "$_np" ]; do
        _k=$(((ROT + _i) % _np + 1))
        eval "_cands=\"\$_cands \${$_k}\""
        _i=$((_i + 1))
      done
      ROT=$(((ROT + 1) % _np))
    fi
    for _ip in $_cands; do
      case $_seen in
      *" $_ip "*) continue ;;
      esac
      _seen="$_seen$_ip "
      [ "$_tries" -lt "$FETCH_TRIES" ] || break
      _tries=$((_tries + 1))
      fetch_start "$_ip"
      if fetch_finish; then
        FETCH=ok
        FETCH_FROM=$_ip
        if [ "$_ip" = "$LOCAL_STORAGE_IP" ] || [ "$_ip" = "$LOCAL_MGMT_IP" ]; then
          LAST_SOURCE=''
        else
          LAST_SOURCE=$_ip
        fi
        break
      fi
      [ "$_ip" != "$LAST_SOURCE" ] || LAST_SOURCE=''
    done
  fi
  clock_ms
  FETCH_MS=$((CLOCK - FETCH_T0))
  [ "$FETCH" = ok ]
}

# ---------------------------------------------------------------- routes
route_tool_init() {
  if command -v esxcfg-route >/dev/null 2>&1; then
    ROUTE_TOOL=esxcfg
  elif command -v esxcli >/dev/null 2>&1; then
    ROUTE_TOOL=esxcli
  else
    ROUTE_TOOL=''
  fi
}

# route_get: ROUTE_GW = gateway of NFS_ADDRESS/32 ('' when there is none). Fails when the
# route table could not be read (then nothing is known and nothing may be changed).
route_get() {
  ROUTE_GW=''
  if [ "$ROUTE_TOOL" = esxcfg ]; then
    run_bounded "$ROUTE_TIMEOUT" "$TMP_ROUTES" esxcfg-route -l || return 1
  else
    run_bounded "$ROUTE_TIMEOUT" "$TMP_ROUTES" esxcli network ip route ipv4 list || return 1
  fi
  ROUTE_GW=$(awk -v a="$NFS_ADDRESS" '
    ($1 == a || $1 == a "/32") && ($2 == "255.255.255.255" || $1 == a "/32") { gw = ($1 == a "/32") ? $2 : $3 }
    END { if (gw ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) print gw }' "$TMP_ROUTES")
  return 0
}

# Linux and the vmkernel keep one NFS_ADDRESS/32 per table and have no replace in esxcfg-route,
# so the old route is deleted and the new one added back to back: the gap is the exec time of the
# second command (measured in README.md). The pair is one unit nothing splits: a child of its own
# (in its own session where the host has setsid, so killing the loop's process group spares it)
# that bounds each of its two commands itself and goes on to the add whatever became of the
# delete. A loop killed mid-switch (kill -9 included) therefore still leaves a route, and the loop
# waits for the unit with no watchdog of its own that could kill it between the two.
# shellcheck disable=SC2016 # a script for sh -c, expanded there
ROUTE_UNIT='
step() {
  "$@" &
  _p=$!
  ( trap "kill \$_s 2>/dev/null; exit 0" TERM; sleep "$T" & _s=$!; wait "$_s"; kill -9 "$_p" 2>/dev/null ) &
  _w=$!
  wait "$_p"
  _r=$?
  kill "$_w" 2>/dev/null
  return "$_r"
}
TOOL=$1 NET=$2 NEW=$3 OLD=$4 T=$5
if [ "$TOOL" = esxcfg ]; then
  [ -z "$OLD" ] || step esxcfg-route -d "$NET" "$OLD"
  step esxcfg-route -a "$NET" "$NEW"
else
  [ -z "$OLD" ] || step esxcli network ip route ipv4 remove -n "$NET" -g "$OLD"
  step esxcli network ip route ipv4 add -n "$NET" -g "$NEW"
fi'

route_switch() { # route_switch NEW OLD
  if [ "$SETSID" = 1 ]; then
    setsid sh -c "$ROUTE_UNIT" zbs-reroute-switch "$ROUTE_TOOL" "$NFS_ADDRESS/32" "$1" "$2" \
      "$ROUTE_TIMEOUT" >"$TMP_OUT" 2>&1 &
  else
    sh -c "$ROUTE_UNIT" zbs-reroute-switch "$ROUTE_TOOL" "$NFS_ADDRESS/32" "$1" "$2" \
      "$ROUTE_TIMEOUT" >"$TMP_OUT" 2>&1 &
  fi
  BG_PID=$!
  wait_pid "$BG_PID"
  BG_PID=''
  _rs_out=''
  while IFS= read -r _l; do
    _rs_out="$_rs_out${_rs_out:+ / }$_l"
  done <"$TMP_OUT"
}

kind_of() { # kind_of GW → KIND
  if [ -z "$1" ]; then
    KIND=none
  elif [ -n "$PIN" ] && [ "$1" = "$PIN" ]; then
    KIND=pin
  elif [ "$1" = "$LOCAL_STORAGE_IP" ]; then
    KIND=local
  elif in_list "$1" "$PEER_STORAGE_IPS"; then
    KIND=remote-storage
  elif in_list "$1" "$PEER_MGMT_IPS"; then
    KIND=remote-management
  else
    KIND=foreign
  fi
}

# ---------------------------------------------------------------- status
# `target` is always the route the host really has; in shadow mode the agent's own choice is
# `shadow_target` (what it would have routed through).
write_status() {
  _lage=''
  [ -z "$LIST_T" ] || _lage=$((NOW - LIST_T))
  _st=''
  _sk2=''
  _dis=0
  if [ "$MODE" = shadow ]; then
    target_of "$REAL_GW"
    kind_of "$T"
    _tg=$REAL_GW
    _sk=$KIND
    _ss=$REAL_SINCE
    _st=$CUR_GW
    _sk2=$CUR_KIND
    [ "$_sk2" != foreign ] || _sk2=none
    [ -z "$DISAGREE_SINCE" ] || _dis=1
  else
    _tg=$CUR_GW
    _sk=$CUR_KIND
    _ss=$SINCE
  fi
  [ "$_sk" != foreign ] || _sk=none
  {
    echo "version=$reroute_version"
    echo "pid=$$"
    echo "node=$NODE_NAME"
    echo "target=$_tg"
    echo "target_kind=$_sk"
    echo "since=$_ss"
    echo "updated=$NOW"
    echo "fetch=$FETCH"
    echo "fetch_ms=$FETCH_MS"
    echo "fetch_from=$FETCH_FROM"
    echo "local_ok_since=$LOCAL_OK_SINCE"
    echo "source=$SESSION_SOURCE"
    echo "mode=$MODE"
    echo "blind=$BLIND"
    echo "fetch_fails=$FETCH_FAILS"
    echo "list_age=$_lage"
    echo "shadow_target=$_st"
    echo "shadow_kind=$_sk2"
    echo "shadow_changes=$SHADOW_CHANGES"
    echo "disagree=$_dis"
    echo "disagree_since=$DISAGREE_SINCE"
    echo "failovers=$FAILOVERS"
    echo "failbacks=$FAILBACKS"
    echo "route_changes=$ROUTE_CHANGES"
    echo "fetch_failures=$FETCH_FAILURES"
    echo "blind_iterations=$BLIND_ITERS"
    echo "last_decision=$LAST_DECISION"
    echo "last_reason=$LAST_REASON"
    echo "last_decision_at=$LAST_DECISION_AT"
  } >"$STATUS_FILE.tmp.$$" 2>/dev/null && mv -f "$STATUS_FILE.tmp.$$" "$STATUS_FILE" 2>/dev/null
}

# ---------------------------------------------------------------- singleton lock
is_our_loop() { # is_our_loop PID: ESXi's `ps -c` shows command lines; plain ps where -c is unknown
  _ps=$(ps -c 2>/dev/null) || _ps=$(ps 2>/dev/null) || return 0
  [ -n "$_ps" ] || return 0
  echo "$_ps" | awk -v p="$1" -v f="$SELF_NAME" '($1 == p || $2 == p) && index($0, f) { found = 1 } END { exit !found }'
}

read_lock_pid() {
  LOCK_PID=''
  if [ -r "$LOCK_DIR/pid" ]; then
    read -r LOCK_PID <"$LOCK_DIR/pid" 2>/dev/null
  fi
  is_uint "$LOCK_PID" || LOCK_PID=''
}

# Heartbeat age of PID, from the status file it wrote; empty when the file is not PID's.
heartbeat_age() {
  HB_AGE=''
  [ -r "$STATUS_FILE" ] || return 0
  _hp=''
  _hu=''
  while IFS='=' read -r _k _v; do
    case $_k in
    pid) _hp=$_v ;;
    updated) _hu=$_v ;;
    esac
  done <"$STATUS_FILE"
  if [ "$_hp" = "$1" ] && is_uint "$_hu"; then
    HB_AGE=$((NOW - _hu))
  fi
}

# A directory made with mkdir is the lock (atomic on every file system); a stale one is first
# renamed away so that of two starters taking it over, only one can succeed.
acquire_lock() {
  mkdir -p "$RUN_DIR" 2>/dev/null
  _try=0
  while [ "$_try" -lt 5 ]; do
    _try=$((_try + 1))
    if mkdir "$LOCK_DIR" 2>/dev/null; then
      echo "$$" >"$LOCK_DIR/pid.tmp" && mv -f "$LOCK_DIR/pid.tmp" "$LOCK_DIR/pid"
      HAVE_LOCK=1
      return 0
    fi
    read_lock_pid
    if [ -z "$LOCK_PID" ]; then
      # Its owner may be between mkdir and writing the pid: look again before calling it stale.
      sleep 1
      read_lock_pid
    fi
    _stale=''
    if [ -z "$LOCK_PID" ]; then
      [ -d "$LOCK_DIR" ] || continue
      _stale='no pid'
    elif ! kill -0 "$LOCK_PID" 2>/dev/null; then
      _stale="pid $LOCK_PID is gone"
    elif ! is_our_loop "$LOCK_PID"; then
      _stale="pid $LOCK_PID is not $SELF_NAME"
    else
      heartbeat_age "$LOCK_PID"
      if [ -n "$HB_AGE" ] && [ "$HB_AGE" -gt "$HUNG_AFTER" ]; then
        log "loop pid $LOCK_PID silent for ${HB_AGE}s (hung); killing it and taking over"
        kill "$LOCK_PID" 2>/dev/null
        sleep 1
        kill -9 "$LOCK_PID" 2>/dev/null
        _stale="pid $LOCK_PID was hung"
      else
        return 1 # a healthy loop runs: the normal case under cron
      fi
    fi
    _old=$LOCK_PID
    if mv "$LOCK_DIR" "$LOCK_DIR.stale.$$" 2>/dev/null; then
      _moved=''
      [ -r "$LOCK_DIR.stale.$$/pid" ] && read -r _moved <"$LOCK_DIR.stale.$$/pid"
      if [ "$_moved" != "$_old" ] && [ -n "$_moved" ]; then
        # We raced another starter and took its fresh lock: give it back and leave.
        mv "$LOCK_DIR.stale.$$" "$LOCK_DIR" 2>/dev/null || rm -rf "$LOCK_DIR.stale.$$"
        return 1
      fi
      rm -rf "$LOCK_DIR.stale.$$"
      log "took over stale lock ($_stale)"
    fi
  done
  return 1
}

still_own_lock() {
  read_lock_pid
  [ "$LOCK_PID" = "$$" ]
}

release_lock() {
  if [ "$HAVE_LOCK" = 1 ] && still_own_lock; then
    rm -rf "$LOCK_DIR"
  fi
  HAVE_LOCK=0
}

cleanup_tmp() {
  rm -f "$TMP_SESS" "$TMP_SESS.pid" "$TMP_SESS.rc" "$TMP_SESS.dd" "$TMP_SESS.out" "$TMP_ROUTES" \
    "$TMP_OUT" "$STATUS_FILE.tmp.$$" 2>/dev/null
}

on_term() {
  if [ "$IN_ROUTE_CHANGE" = 1 ]; then
    TERM_PENDING=1
    return
  fi
  [ -z "$FETCH_PID" ] || fetch_abort
  # shellcheck disable=SC2086
  kill $PING_PIDS $BG_PID $WD_PID $SLEEP_PID $FETCH_WD 2>/dev/null
  log "SIGTERM: exiting; route left via ${CUR_GW:-none} ($CUR_KIND)"
  release_lock
  cleanup_tmp
  exit 0
}

# ---------------------------------------------------------------- decision
rand_pick() { # rand_pick LIST → PICK (one word, uniformly at random)
  # shellcheck disable=SC2086
  set -- $1
  PICK=''
  [ "$#" -gt 0 ] || return 1
  RND=$(((RND * 1103515245 + 12345) % 2147483648))
  _k=$(((RND / 65536) % $# + 1))
  eval "PICK=\${$_k}"
}

# Remote candidates of a tier: configured peers that meta lists as healthy.
tier_candidates() { # tier_candidates remote-storage|remote-management → CANDS
  CANDS=''
  if [ "$1" = remote-storage ]; then
    for _ip in $PEER_STORAGE_IPS; do
      in_list "$_ip" "$META_STORAGE" && CANDS="$CANDS $_ip"
    done
  else
    for _ip in $PEER_MGMT_IPS; do
      in_list "$_ip" "$META_MGMT" && CANDS="$CANDS $_ip"
    done
  fi
}

# zone_split TIER → NEAR / FAR: CANDS split by zone (remote-storage with zones configured: our own
# zone's SCVMs are NEAR, the other zone's FAR; otherwise every candidate is NEAR).
zone_split() {
  NEAR=$CANDS
  FAR=''
  if [ "$1" = remote-storage ] && [ -n "$ZONE_PEER_STORAGE_IPS" ]; then
    NEAR=''
    for _ip in $CANDS; do
      if in_list "$_ip" "$ZONE_PEER_STORAGE_IPS"; then
        NEAR="$NEAR $_ip"
      else
        FAR="$FAR $_ip"
      fi
    done
  fi
}

healthy() { # healthy IP: listed by meta and answering ping (at the address it is routed through)
  { in_list "$1" "$META_STORAGE" || in_list "$1" "$META_MGMT"; } && is_up_via "$1"
}

# ---------------------------------------------------------------- tier bursts (issue 14)
# A 64-node cluster lists 63 peers per tier: pinging them all at once forks 252 probes, and on a
# loaded host the forks alone took 21-30 s. So a tier is probed in bursts of PING_BURST peers in
# random order, and the first burst with an answer ends it. Each burst is an ordinary ping round:
# its watchdog starts after its last fork (a few dozen), so every probe still gets its whole
# PING_TIMEOUT; an earlier attempt that started the deadline before the forks read live peers as
# silent on a loaded host (docs/design.md §10). The list is worked through before giving up, so a
# tier, or the near zone, is never left while one of its peers answers. A peer silent through a
# burst goes to the back of the order for PEER_BACKOFF seconds; it is never skipped.
PEER_SILENT=' ' # " IP=UNTIL ": silent peers and when they come back to the front
BURST_N=0       # tier bursts so far (the agent-iteration benchmark reports it)
PRE_BURST=0     # 1 while ping_targets runs: a confirming round also pings pre_burst's peers
PRE_GWS=

# pick_up "IP ...": PICK = one of the answering candidates, at random; fails when none answers.
pick_up() {
  burst_order "$1"
  # Peers already pinged this iteration (pre_burst) make up the first burst: ping_all does not
  # ping them again, so that burst costs no wait.
  _order=''
  _rest=''
  for _ip in $ORDER; do
    gw_of "$_ip"
    case $PINGED in
    *" $GW "*) _order="$_order $_ip" ;;
    *) _rest="$_rest $_ip" ;;
    esac
  done
  _order="$_order $_rest"
  _burst=''
  _n=0
  for _ip in $_order; do
    _burst="$_burst $_ip"
    _n=$((_n + 1))
    if [ "$_n" -ge "$PING_BURST" ]; then
      pick_burst "$_burst" && return 0
      _burst=''
      _n=0
    fi
  done
  [ -n "$_burst" ] || return 1
  pick_burst "$_burst"
}

burst_order() { # burst_order "IP ..." → ORDER: peers not backed off first, each part shuffled
  _fresh=''
  _off=''
  for _ip in $1; do
    if backed_off "$_ip"; then
      _off="$_off $_ip"
    else
      _fresh="$_fresh $_ip"
    fi
  done
  shuffle "$_fresh"
  ORDER=$SHUFFLED
  shuffle "$_off"
  ORDER="$ORDER $SHUFFLED"
}

# pre_burst → PRE_GWS: the first burst choose would ping in the first remote tier (its own zone's
# peers first), at the addresses the pings use, from the session list choose will most likely
# see (the last one). Only called once a confirming round is due, so a quiet iteration forks
# nothing for it.
pre_burst() {
  PRE_GWS=''
  _pt=''
  for _pt in $FALLBACK_ORDER; do
    case $_pt in
    remote-storage | remote-management) break ;;
    esac
    _pt=''
  done
  [ -n "$_pt" ] || return 0
  tier_candidates "$_pt"
  zone_split "$_pt"
  burst_order "$NEAR"
  _pn=0
  for _ip in $ORDER; do
    [ "$_pn" -lt "$PING_BURST" ] || break
    gw_of "$_ip"
    PRE_GWS="$PRE_GWS $GW"
    _pn=$((_pn + 1))
  done
}

pick_burst() { # pick_burst "IP ...": one ping round over the burst → PICK
  BURST_N=$((BURST_N + 1))
  # shellcheck disable=SC2086
  ping_via $1
  _ok=''
  for _ip in $1; do
    unsilence "$_ip"
    if is_up_via "$_ip"; then
      _ok="$_ok $_ip"
    else
      PEER_SILENT="$PEER_SILENT$_ip=$((NOW + PEER_BACKOFF)) "
    fi
  done
  rand_pick "$_ok"
}

backed_off() { # backed_off IP: IP was silent less than PEER_BACKOFF seconds ago
  case $PEER_SILENT in
  *" $1="*) ;;
  *) return 1 ;;
  esac
  _until=${PEER_SILENT#*" $1="}
  _until=${_until%% *}
  is_uint "$_until" && [ "$NOW" -lt "$_until" ]
}

unsilence() { # unsilence IP
  case $PEER_SILENT in
  *" $1="*)
    _post=${PEER_SILENT#*" $1="}
    PEER_SILENT="${PEER_SILENT%%" $1="*} ${_post#* }"
    ;;
  esac
}

shuffle() { # shuffle "WORD ..." → SHUFFLED, in random order
  # shellcheck disable=SC2086
  set -- $1
  SHUFFLED=$*
  [ "$#" -gt 1 ] || return 0
  _nw=$#
  RND=$(((RND * 1103515245 + 12345) % 2147483648))
  # shellcheck disable=SC2016 # an awk program
  _sh=$(echo "$*" | awk -v s="$RND" '{ srand(s); for (i = NF; i > 1; i--) { j = int(rand() * i) + 1; t = $i; $i = $j; $j = t } print }')
  # An awk that failed leaves the list in its own order: a lost word would skip a peer.
  # shellcheck disable=SC2086
  set -- $_sh
  [ "$#" -ne "$_nw" ] || SHUFFLED=$_sh
}

# choose → WANT / WANT_KIND ('' when nothing healthy is known).
choose() {
  WANT=''
  WANT_KIND=none
  DRAIN=0
  if [ -n "$PIN" ]; then
    if healthy "$PIN" && { in_list "$PIN" "$LOCAL_STORAGE_IP $PEER_STORAGE_IPS $PEER_MGMT_IPS"; }; then
      WANT=$PIN
      WANT_KIND=pin
      PIN_BAD_LOGGED=''
      return
    fi
    # A pin away from the local SCVM is a drain (that SCVM is under maintenance): its target
    # failing must send IO to another remote, not back to the SCVM being worked on.
    [ "$PIN" = "$LOCAL_STORAGE_IP" ] || DRAIN=1
    if [ "$PIN_BAD_LOGGED" != "$PIN" ]; then
      if [ "$DRAIN" = 1 ]; then
        log "drain: pin $PIN unhealthy; choosing another remote, not the SCVM under maintenance ($LOCAL_STORAGE_IP)"
      else
        log "pin $PIN is not a healthy cluster access point; normal selection"
      fi
      PIN_BAD_LOGGED=$PIN
    fi
  fi
  _deferred=0
  for _tier in $FALLBACK_ORDER; do
    case $_tier in
    local-storage)
      [ "$DRAIN" = 0 ] || continue
      if [ "$LOCAL_OK" = 1 ]; then
        if [ "$CUR" = "$LOCAL_STORAGE_IP" ] || [ "$LOCAL_FAILED" = 0 ] ||
          [ $((NOW - LOCAL_OK_SINCE)) -ge "$FAILBACK_DELAY" ]; then
          WANT=$LOCAL_STORAGE_IP
          WANT_KIND=local
          return
        fi
        _deferred=1
      fi
      ;;
    remote-storage | remote-management)
      if [ "$_tier" = remote-management ] && [ "$_deferred" = 1 ]; then
        # A recovering local access beats changing the NFS client address to a management one.
        WANT=$LOCAL_STORAGE_IP
        WANT_KIND=local
        return
      fi
      tier_candidates "$_tier"
      if [ -n "$CUR" ] && in_list "$CUR" "$CANDS" && is_up_via "$CUR"; then
        WANT=$CUR
        WANT_KIND=$_tier
        return
      fi
      # Stretched clusters: the SCVMs of our own zone first, the other zone's only when none answers.
      zone_split "$_tier"
      _far=$FAR # kept apart: pick_up runs ping rounds, and a pre-burst there would split again
      if pick_up "$NEAR" || { [ -n "$_far" ] && pick_up "$_far"; }; then
        WANT=$PICK
        WANT_KIND=$_tier
        return
      fi
      ;;
    esac
  done
  if [ "$_deferred" = 1 ]; then
    WANT=$LOCAL_STORAGE_IP
    WANT_KIND=local
  elif [ "$DRAIN" = 1 ] && [ "$LOCAL_OK" = 1 ]; then
    WANT=$LOCAL_STORAGE_IP
    WANT_KIND=local
    if [ "$CUR" != "$LOCAL_STORAGE_IP" ]; then
      log "drain: nothing else answers; back to the SCVM under maintenance ($LOCAL_STORAGE_IP)"
    fi
  fi
}

# ---------------------------------------------------------------- one iteration
read_pin() {
  PIN=''
  if [ -r "$PIN_FILE" ]; then
    read -r PIN <"$PIN_FILE" 2>/dev/null
    PIN=${PIN%% *}
    case $PIN in
    *[!0-9.]*) PIN='' ;;
    esac
    # A pin naming an SCVM's access IP means that SCVM (decisions use storage IPs).
    target_of "$PIN"
    PIN=$T
  fi
}

check_self() {
  if ! load_conf; then
    log "config error: $CONF_ERROR; exiting (route untouched)"
    release_lock
    cleanup_tmp
    exit 1
  fi
  if ! still_own_lock; then
    log "lock now held by pid ${LOCK_PID:-none}; exiting (route untouched)"
    HAVE_LOCK=0
    cleanup_tmp
    exit 0
  fi
  _l2=''
  if [ -r "$SELF" ]; then
    { read -r _l1 && read -r _l2; } <"$SELF"
  fi
  case $_l2 in
  reroute_version=*)
    if [ "${_l2#reroute_version=}" != "$reroute_version" ]; then
      log "script on disk is ${_l2#reroute_version=} (running $reroute_version); exiting so cron starts it (route untouched)"
      release_lock
      cleanup_tmp
      exit 0
    fi
    ;;
  *)
    log "script $SELF is gone or not ours; exiting (route untouched)"
    release_lock
    cleanup_tmp
    exit 0
    ;;
  esac
}

iterate() {
  ITER=$((ITER + 1))
  NOW=$(date +%s)
  check_self
  read_pin
  mode_follow
  if [ "$MODE" = shadow ]; then
    # The route is someone else's to move: read it every iteration, to compare with our choice.
    if route_get && [ "$ROUTE_GW" != "$REAL_GW" ]; then
      REAL_GW=$ROUTE_GW
      REAL_SINCE=$NOW
    fi
  elif [ $((ITER % 10)) = 0 ] && route_get && [ "$ROUTE_GW" != "$CUR_GW" ]; then
    # Re-read the route now and then: a link going down can flush it, and an operator may touch it.
    log "route drift: 33.2 route is via ${ROUTE_GW:-nothing}, expected ${CUR_GW:-nothing}; adopting"
    adopt "$ROUTE_GW"
    decided adopt route-drift
  fi
  UP=' '
  PINGED=' '
  clock_ms
  FETCH_T0=$CLOCK
  fetch_first
  # Always: the local access (the decision's first question) and whatever we route through now,
  # each at the address it is routed through (its access IP where it has one), in one burst.
  ping_targets
  session_list
  LOCAL_OK=0
  if [ "$UNLISTED" -lt "$UNLISTED_CONFIRM" ] && is_up_via "$LOCAL_STORAGE_IP"; then
    LOCAL_OK=1
  fi
  if [ "$LOCAL_OK" = 1 ]; then
    [ -n "$LOCAL_OK_SINCE" ] || LOCAL_OK_SINCE=$NOW
  else
    if [ -n "$LOCAL_OK_SINCE" ] || [ "$LOCAL_FAILED" = 0 ]; then
      if [ "$UNLISTED" -lt "$UNLISTED_CONFIRM" ]; then
        log "local access $LOCAL_STORAGE_IP does not answer ping ($PING_ROUNDS rounds of $PING_COUNT)"
      else
        log "local access $LOCAL_STORAGE_IP is not in the meta session list ($UNLISTED lists in a row)"
      fi
    fi
    LOCAL_OK_SINCE=''
    LOCAL_FAILED=1
  fi
  choose
  if [ -z "$WANT" ]; then
    if [ "$NO_TARGET_LOGGED" = 0 ]; then
      log "no healthy access point reachable; keeping route via ${CUR_GW:-none}"
      NO_TARGET_LOGGED=1
    fi
  else
    NO_TARGET_LOGGED=0
    gw_of "$WANT"
    if [ "$WANT" != "$CUR" ] || [ "$GW" != "$CUR_GW" ]; then
      if [ "$MODE" = shadow ]; then
        shadow_change "$WANT" "$WANT_KIND"
      else
        move_reason
        change_route "$WANT" "$WANT_KIND" "$REASON"
      fi
    elif [ "$WANT_KIND" != "$CUR_KIND" ]; then
      CUR_KIND=$WANT_KIND
    fi
  fi
  if [ "$MODE" = shadow ] && [ "$REAL_GW" != "$CUR_GW" ]; then
    [ -n "$DISAGREE_SINCE" ] || DISAGREE_SINCE=$NOW
  else
    DISAGREE_SINCE=''
  fi
  write_status
  alive_line
}

# session_list: this iteration's list into META_STORAGE / META_MGMT, and what the agent knows when
# there is none. One missing list keeps the last one (seconds old). BLIND_AFTER iterations without
# one make the agent `blind` (heartbeat, one log line, `reroute status` degraded); it still decides,
# by ping alone, among the SCVMs of the last list while that is younger than LIST_MAX_AGE, then
# among the SCVMs of its configuration: never an address outside the manifest, and never a dead
# gateway kept because meta is out (the local SCVM can die during a meta outage).
session_list() {
  if fetch_sessions; then
    if [ "$BLIND" = 1 ]; then
      log "sight back: session list from $FETCH_FROM after $FETCH_FAILS iterations"
    elif [ "$META_DOWN_LOGGED" != 0 ]; then
      log "session list available again (from $FETCH_FROM)"
    fi
    META_DOWN_LOGGED=0
    BLIND=0
    FETCH_FAILS=0
    PING_ONLY_LOGGED=0
    LIST_T=$NOW
    if in_list "$LOCAL_STORAGE_IP" "$META_STORAGE"; then
      UNLISTED=0
    else
      UNLISTED=$((UNLISTED + 1))
    fi
    return 0
  fi
  FETCH_FAILS=$((FETCH_FAILS + 1))
  FETCH_FAILURES=$((FETCH_FAILURES + 1))
  if [ "$BLIND" = 0 ] && [ "$FETCH_FAILS" -ge "$BLIND_AFTER" ]; then
    BLIND=1
    log "blind: no session list for $FETCH_FAILS iterations ($FETCH_WHY); deciding by ping alone"
    META_DOWN_LOGGED=$NOW
  elif [ "$META_DOWN_LOGGED" = 0 ] || [ $((NOW - META_DOWN_LOGGED)) -ge 60 ]; then
    log "session list unavailable (${FETCH_WHY:-no address to ask}); deciding on the last list and ping"
    META_DOWN_LOGGED=$NOW
  fi
  [ "$BLIND" = 0 ] || BLIND_ITERS=$((BLIND_ITERS + 1))
  if [ -z "$LIST_T" ] || [ $((NOW - LIST_T)) -gt "$LIST_MAX_AGE" ]; then
    META_STORAGE=" $LOCAL_STORAGE_IP $PEER_STORAGE_IPS "
    META_MGMT=" $PEER_MGMT_IPS "
    UNLISTED=0
    if [ "$PING_ONLY_LOGGED" = 0 ]; then
      log "no session list younger than ${LIST_MAX_AGE}s: choosing by ping among the configured SCVMs"
      PING_ONLY_LOGGED=1
    fi
  fi
  return 1
}

# mode_follow: MODE comes from the conf, re-read every iteration. Going active adopts the route the
# host has, as a restarted loop would (0 changes when it is the one the agent would choose).
mode_follow() {
  [ "$MODE" != "$PREV_MODE" ] || return 0
  if [ -n "$PREV_MODE" ]; then
    if [ "$MODE" = active ]; then
      if route_get; then
        adopt "$ROUTE_GW"
        decided adopt mode-active
      fi
      log "mode active: the agent now moves routes; adopted the route via ${CUR_GW:-none} ($CUR_KIND)"
    else
      REAL_GW=$CUR_GW
      REAL_SINCE=$SINCE
      log "mode shadow: deciding without moving routes (route via ${CUR_GW:-none})"
    fi
  fi
  PREV_MODE=$MODE
}

# shadow_change NEW KIND: what change_route would have done, logged and counted, never done.
shadow_change() {
  gw_of "$1"
  log "shadow: would route 33.2 ${CUR_GW:-none} -> $GW ($2); the route is via ${REAL_GW:-nothing}"
  SHADOW_CHANGES=$((SHADOW_CHANGES + 1))
  CUR=$1
  CUR_GW=$GW
  CUR_KIND=$2
  SINCE=$NOW
}

# alive_line: operators watch the log (`tail -f`); at rest it says nothing for hours, so once per
# ALIVE_EVERY a one-line summary proves the loop is there and what it stands on.
alive_line() {
  [ "$ALIVE_EVERY" -gt 0 ] || return 0
  if [ "$ALIVE_T" = 0 ]; then
    ALIVE_T=$NOW
    return 0
  fi
  [ $((NOW - ALIVE_T)) -ge "$ALIVE_EVERY" ] || return 0
  ALIVE_T=$NOW
  _fs=$FETCH
  [ "$BLIND" = 0 ] || _fs=blind
  if [ "$MODE" = shadow ]; then
    target_of "$REAL_GW"
    kind_of "$T"
    log "alive: route via ${REAL_GW:-none} ($KIND) since $REAL_SINCE, fetch $_fs, list age ${LIST_T:+$((NOW - LIST_T))}s, shadow: would route via ${CUR_GW:-none} ($CUR_KIND), $SHADOW_CHANGES would-be changes"
  else
    log "alive: route via ${CUR_GW:-none} ($CUR_KIND) since $SINCE, fetch $_fs, list age ${LIST_T:+$((NOW - LIST_T))}s"
  fi
}

change_route() { # change_route NEW KIND REASON
  # SIGTERM waits until the switch is done and recorded (see on_term).
  IN_ROUTE_CHANGE=1
  _from=$CUR_GW
  gw_of "$1"
  _to=$GW
  _why=''
  [ -z "$CUR_GW" ] || is_up "$CUR_GW" || _why=" (old gateway does not answer ping)"
  [ "$_to" = "$1" ] || _why=" via access IP of $1$_why"
  # The switch goes first (no route read before it: that would lengthen the outage); if what we
  # remembered was not what the table held, read it and switch once more from what is really there.
  route_switch "$_to" "$_from"
  if route_get && [ "$ROUTE_GW" != "$_to" ] && [ "$ROUTE_GW" != "$_from" ]; then
    _from=$ROUTE_GW
    route_switch "$_to" "$_from"
    route_get
  fi
  if [ "$ROUTE_GW" = "$_to" ]; then
    # failover: local -> another SCVM (or a pin); failback: the way back; anything else is a switch
    # (remote to remote, or from no route or a route we do not know).
    _dec=switch
    case $CUR_KIND:$2 in
    local:local) ;;
    local:*)
      _dec=failover
      FAILOVERS=$((FAILOVERS + 1))
      ;;
    remote-storage:local | remote-management:local | pin:local)
      _dec=failback
      FAILBACKS=$((FAILBACKS + 1))
      ;;
    esac
    ROUTE_CHANGES=$((ROUTE_CHANGES + 1))
    decided "$_dec" "$3"
    # The bracketed suffix is for machines (`reroute events`); the text before it is unchanged.
    log "route 33.2: ${_from:-none} -> $_to ($2)$_why [decision=$_dec reason=$3]"
    CUR=$1
    CUR_GW=$_to
    CUR_KIND=$2
    SINCE=$NOW
    NO_TARGET_LOGGED=0
  else
    log "route change ${_from:-none} -> $_to failed (now via ${ROUTE_GW:-nothing}): $_rs_out"
    adopt "$ROUTE_GW"
    decided change-failed "$3"
  fi
  IN_ROUTE_CHANGE=0
  if [ "$TERM_PENDING" = 1 ]; then
    on_term
  fi
}

# decided DECISION REASON: the route decision just taken, for the heartbeat (last_decision*).
decided() {
  LAST_DECISION=$1
  LAST_REASON=$2
  LAST_DECISION_AT=$NOW
}

# move_reason → REASON: why choose wants another route than the one in use, judged on the facts
# choose used, before the route moves. One of DECISION_REASONS (esxi/agent/README.md, "Status file").
move_reason() {
  if [ "$WANT_KIND" = pin ]; then
    REASON=pin
  elif [ "$DRAIN" = 1 ]; then
    REASON=drain
  elif [ -z "$CUR_GW" ]; then
    REASON=no-route
  elif [ "$CUR_KIND" = foreign ]; then
    REASON=foreign-route
  elif [ "$CUR_KIND" = pin ] && [ "$PIN" != "$CUR" ]; then
    REASON=unpin
  elif [ "$CUR" = "$LOCAL_STORAGE_IP" ] && [ "$LOCAL_OK" = 0 ]; then
    if [ "$UNLISTED" -ge "$UNLISTED_CONFIRM" ]; then
      REASON=local-unlisted
    else
      REASON=local-ping
    fi
  elif ! is_up "$CUR_GW"; then
    REASON=gateway-down
  elif ! healthy "$CUR"; then
    REASON=gateway-unlisted
  elif [ "$WANT_KIND" = local ]; then
    # Local again after its delay, or (delay still running) rather than a management address.
    REASON=better-tier
    if [ "$LOCAL_FAILED" = 0 ] ||
      { [ -n "$LOCAL_OK_SINCE" ] && [ $((NOW - LOCAL_OK_SINCE)) -ge "$FAILBACK_DELAY" ]; }; then
      REASON=failback-delay-passed
    fi
  elif [ "$CUR_KIND" = remote-management ] && [ "$WANT_KIND" != remote-management ]; then
    REASON=better-tier
  else
    # The SCVM in use is healthy but no longer a candidate: the peer list or its gateway changed.
    REASON=config
  fi
}

adopt() { # adopt GW: make GW our idea of the current route
  CUR_GW=$1
  target_of "$1"
  CUR=$T
  kind_of "$CUR"
  CUR_KIND=$KIND
  SINCE=$NOW
  # Routed to another SCVM: the local access has to earn the failback delay as after a failure.
  # (A pin is a deliberate drain and a missing or foreign route says nothing about local health.)
  case $CUR_KIND in
  remote-storage | remote-management) LOCAL_FAILED=1 ;;
  esac
}

# A restarted loop (cron after kill, upgrade, reboot with the persistent route) keeps the route
# it finds when that is still a healthy choice; the first iteration decides that.
adopt_on_start() {
  if ! route_get; then
    log "cannot read the route table ($ROUTE_TOOL); exiting (route untouched)"
    release_lock
    cleanup_tmp
    exit 1
  fi
  read_pin
  adopt "$ROUTE_GW"
  # Keep `since` and the failback clock across restarts when the previous loop left them, and the
  # counters (a reboot empties RUN_DIR: they start at 0 there).
  _pt=''
  if [ -r "$STATUS_FILE" ]; then
    _ps=''
    _pl=''
    _pd=''
    _pr=''
    _pa=''
    while IFS='=' read -r _k _v; do
      case $_k in
      target) _pt=$_v ;;
      since) _ps=$_v ;;
      local_ok_since) _pl=$_v ;;
      failovers) is_count "$_v" && FAILOVERS=$_v ;;
      failbacks) is_count "$_v" && FAILBACKS=$_v ;;
      route_changes) is_count "$_v" && ROUTE_CHANGES=$_v ;;
      fetch_failures) is_count "$_v" && FETCH_FAILURES=$_v ;;
      blind_iterations) is_count "$_v" && BLIND_ITERS=$_v ;;
      last_decision) _pd=$_v ;;
      last_reason) _pr=$_v ;;
      last_decision_at) _pa=$_v ;;
      esac
    done <"$STATUS_FILE"
    if [ -n "$CUR_GW" ] && [ "$_pt" = "$CUR_GW" ] && is_uint "$_ps"; then
      SINCE=$_ps
      if is_uint "$_pl"; then
        LOCAL_OK_SINCE=$_pl
      fi
    fi
    if is_code "$_pd" "$DECISIONS" && is_code "$_pr" "$DECISION_REASONS" && is_count "$_pa"; then
      LAST_DECISION=$_pd
      LAST_REASON=$_pr
      LAST_DECISION_AT=$_pa
    fi
  fi
  # A route other than the one the last loop left (or the first one found this boot) is adopted.
  if [ "$MODE" = active ] && [ -n "$CUR_GW" ] && [ "$CUR_GW" != "$_pt" ]; then
    decided adopt start
  fi
  REAL_GW=$CUR_GW
  REAL_SINCE=$SINCE
  PREV_MODE=$MODE
  log "start v$reroute_version (mode $MODE, source $SESSION_SOURCE, interval ${INTERVAL}s, failback ${FAILBACK_DELAY}s, ping ${PING_ROUNDS}x${PING_COUNT}): found route via ${CUR_GW:-none} ($CUR_KIND)"
}

# --fetch-once CONF: one session-list fetch with the loop's own fetch and parse code, for
# `reroute preflight` (run from the ESXi host itself, so its firewall, busybox and routes count).
# Prints `session <storage-ip>` per listed access point then `fetch ok`, or `fetch fail <reason>`
# and exits 3. CONF may be /dev/null when the keys were prepended to this script on stdin.
# Touches no route, lock, heartbeat or log: only a temp file under /tmp, removed on exit.
fetch_once() {
  # Read from stdin, the rest of this script must not reach wget/ssh/ping (already parsed).
  exec </dev/null
  CONF_FILE=$1
  if [ -z "$CONF_FILE" ] || ! load_conf; then
    echo "fetch fail config error: ${CONF_ERROR:-no CONF given}"
    return 3
  fi
  LOG_FILE=/dev/null
  if [ "$SESSION_SOURCE" = ssh ]; then _tool=ssh; else _tool=wget; fi
  if ! command -v "$_tool" >/dev/null 2>&1; then
    echo "fetch fail $_tool not found on this host"
    return 3
  fi
  TMP_SESS=/tmp/zbs-reroute-fetch.$$
  trap 'rm -f "$TMP_SESS" "$TMP_SESS".*' EXIT
  trap 'rm -f "$TMP_SESS" "$TMP_SESS".*; exit 3' INT TERM HUP
  clock_init
  clock_ms
  FETCH_T0=$CLOCK
  FETCH_PID=''
  [ -z "$LOCAL_MGMT_IP" ] || fetch_start "$LOCAL_MGMT_IP"
  gw_of "$LOCAL_STORAGE_IP"
  # shellcheck disable=SC2086
  ping_all "$GW" $LOCAL_MGMT_IP
  if fetch_sessions; then
    for _ip in $META_STORAGE; do
      echo "session $_ip"
    done
    echo "fetch ok"
    return 0
  fi
  echo "fetch fail ${FETCH_WHY:-no address to ask (local SCVM silent, no peers configured)}"
  return 3
}

main() {
  if [ "${1:-}" = "--fetch-once" ]; then
    fetch_once "${2:-}"
    exit $?
  fi
  if ! load_conf; then
    echo "reroute-loop: config error: $CONF_ERROR" >&2
    exit 1
  fi
  LOCK_DIR=$RUN_DIR/lock
  STATUS_FILE=$RUN_DIR/status
  NOW=$(date +%s)
  if ! acquire_lock; then
    exit 0
  fi
  # Started by cron with `&`: anything printed would end up in cron's mail/syslog. Decisions go to
  # LOG_FILE, state to the status file.
  exec >/dev/null 2>&1
  trap on_term TERM INT
  trap '' HUP
  # Temp files of loops that were killed -9; we hold the lock, nobody else writes here.
  rm -f "$RUN_DIR"/sessions.* "$RUN_DIR"/routes.* "$RUN_DIR"/route-out.* "$RUN_DIR"/status.tmp.* 2>/dev/null
  TMP_SESS=$RUN_DIR/sessions.$$
  TMP_ROUTES=$RUN_DIR/routes.$$
  TMP_OUT=$RUN_DIR/route-out.$$
  RND=$(($$ + NOW))
  clock_init
  FRAC_SLEEP=0
  if sleep 0.01 2>/dev/null; then
    FRAC_SLEEP=1
  fi
  route_tool_init
  SETSID=0
  if command -v setsid >/dev/null 2>&1; then
    SETSID=1
  fi
  if [ -z "$ROUTE_TOOL" ]; then
    log "neither esxcfg-route nor esxcli found; exiting"
    release_lock
    exit 1
  fi
  adopt_on_start
  while :; do
    clock_ms
    _it0=$CLOCK
    iterate
    clock_ms
    _left=$((INTERVAL * 1000 - (CLOCK - _it0)))
    if [ "$FRAC_SLEEP" = 1 ] && [ "$CLOCK_MODE" != s ]; then
      # Sub-second sleeps keep the period at INTERVAL: detection time counts against failover.
      [ "$_left" -gt 0 ] && _left=$((_left / 1000)).$(printf '%03d' $((_left % 1000)))
    else
      _left=$(((_left + 500) / 1000))
    fi
    case $_left in
    0 | -* | '') ;;
    *)
      sleep "$_left" &
      SLEEP_PID=$!
      wait "$SLEEP_PID"
      SLEEP_PID=''
      ;;
    esac
  done
}

# REROUTE_LIB=1 only loads the functions (tests time ping_all on a lab host); never set on ESXi.
[ -n "${REROUTE_LIB:-}" ] || { main "$@"; exit $?; }
