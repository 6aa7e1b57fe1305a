#!/bin/sh
# Shared by the ESXi shims (sourced, not run): reads the namespace's real
# routing table and prints one row per IPv4 route, ESXi-ordered as
# `esxcfg-route -l` prints it (static routes, /32s included, then connected
# subnets, then the default route):
#   NETWORK NETMASK GATEWAY INTERFACE
# GATEWAY is "-" for a connected route.
# The shims stand for VMware's tools, not busybox: they may use every applet.
PATH=/usr/lib/vmware/lab/bin:/bin:/sbin:/usr/bin:/usr/sbin
export PATH

LAB_CONF=/etc/vmware/esx.conf
# shellcheck disable=SC2034 # used by lab-firewall.sh, sourced after this file
LAB_IP=/usr/lib/vmware/lab/ip
LAB_FAULTS=/usr/lib/vmware/lab/faults

# Fault route-tool-hang: VMware's route tools can hang for seconds on a real
# host (SmartX saw esxcfg-route killed after 2 s). Hangs while the fault is
# on, then carries on; bounded at one hour.
lab_route_tool_hang() {
  lab_i=0
  while [ -e "$LAB_FAULTS/route-tool-hang" ] && [ "$lab_i" -lt 18000 ]; do
    sleep 0.2
    lab_i=$((lab_i + 1))
  done
}

# The host's ESXi release (lab option esxiVersion): sets LAB_ESXI_FULL,
# LAB_ESXI_BUILD, LAB_ESXI_UPDATE, LAB_ESXI_PATCH and LAB_ESXI_LEVEL.
# shellcheck disable=SC2034 # read by the sourcing shim
lab_esxi_release() {
  lab_v=$(cat /usr/lib/vmware/lab/esxi-version 2>/dev/null)
  case "$lab_v" in
    6.7) LAB_ESXI_FULL=6.7.0; LAB_ESXI_BUILD=17700523; LAB_ESXI_UPDATE=3; LAB_ESXI_PATCH=135; LAB_ESXI_LEVEL="VMware ESXi 6.7.0 Update 3" ;;
    8.0) LAB_ESXI_FULL=8.0.2; LAB_ESXI_BUILD=22380479; LAB_ESXI_UPDATE=2; LAB_ESXI_PATCH=0; LAB_ESXI_LEVEL="VMware ESXi 8.0 Update 2" ;;
    *) LAB_ESXI_FULL=7.0.3; LAB_ESXI_BUILD=19193900; LAB_ESXI_UPDATE=3; LAB_ESXI_PATCH=20; LAB_ESXI_LEVEL="VMware ESXi 7.0 Update 3" ;;
  esac
}

lab_route_rows() {
  ip -4 route show table main | awk '
    # busybox awk here has no math library (no ^): mask bytes come from a table.
    BEGIN { split("0 128 192 224 240 248 252 254 255", byte, " ") }
    function mask(len,   m, i, b) {
      m = ""
      for (i = 0; i < 4; i++) {
        if (len >= 8) b = 255; else if (len <= 0) b = 0; else b = byte[len + 1]
        len -= 8
        m = m (i ? "." : "") b
      }
      return m
    }
    {
      dst = $1; gw = "-"; dev = "-"
      for (i = 2; i < NF; i++) {
        if ($i == "via") gw = $(i + 1)
        if ($i == "dev") dev = $(i + 1)
      }
      if (dst == "default") { net = "default"; len = 0 }
      else if (index(dst, "/")) { split(dst, p, "/"); net = p[1]; len = p[2] + 0 }
      else { net = dst; len = 32 }
      row = net " " mask(len) " " gw " " dev
      if (net == "default") d[++nd] = row
      else if (gw == "-") c[++nc] = row
      else s[++ns] = row
    }
    END {
      for (i = 1; i <= ns; i++) print s[i]
      for (i = 1; i <= nc; i++) print c[i]
      for (i = 1; i <= nd; i++) print d[i]
    }'
}

# NET/LEN or NET MASK -> NET/LEN on stdout; returns 1 when malformed.
lab_prefix() {
  case "$1" in
    default) echo "0.0.0.0/0"; return 0 ;;
  esac
  if [ -n "$2" ]; then
    lab_len=$(echo "$2" | awk -F. '
      BEGIN { split("0 128 192 224 240 248 252 254 255", byte, " "); for (k = 1; k <= 9; k++) bits[byte[k]] = k - 1 }
      NF != 4 { exit 1 }
      {
        n = 0; partial = 0
        for (i = 1; i <= 4; i++) {
          if ($i !~ /^[0-9]+$/ || !(($i + 0) in bits)) exit 1
          b = bits[$i + 0]
          if (partial && b > 0) exit 1
          if (b < 8) partial = 1
          n += b
        }
        print n
      }') || return 1
    set -- "$1/$lab_len"
  fi
  echo "$1" | awk -F/ '
    NF != 2 { exit 1 }
    $2 !~ /^[0-9]+$/ || $2 + 0 > 32 { exit 1 }
    {
      n = split($1, o, ".")
      if (n != 4) exit 1
      for (i = 1; i <= 4; i++) if (o[i] !~ /^[0-9]+$/ || o[i] + 0 > 255) exit 1
      print $1 "/" ($2 + 0)
    }'
}

lab_is_ipv4() {
  echo "$1" | awk -F. 'NF != 4 { exit 1 } { for (i = 1; i <= 4; i++) if ($i !~ /^[0-9]+$/ || $i + 0 > 255) exit 1 }'
}

# Persist a static route the way ESXi does (esx.conf), so boot re-adds it.
lab_conf_add_route() {
  lab_conf_del_route "$1"
  mkdir -p /etc/vmware
  echo "/net/route/ipv4[$1]/gateway = \"$2\"" >> "$LAB_CONF"
}

lab_conf_del_route() {
  [ -f "$LAB_CONF" ] || return 0
  lab_key="/net/route/ipv4[$1]/"
  awk -v k="$lab_key" 'index($0, k) != 1' "$LAB_CONF" > "$LAB_CONF.new" && mv "$LAB_CONF.new" "$LAB_CONF"
}

lab_conf_get() {
  [ -f "$LAB_CONF" ] || return 0
  awk -v k="$1 = " 'index($0, k) == 1 { v = substr($0, length(k) + 1); gsub(/"/, "", v); print v }' "$LAB_CONF"
}

lab_conf_set() {
  mkdir -p /etc/vmware
  touch "$LAB_CONF"
  awk -v k="$1 = " 'index($0, k) != 1' "$LAB_CONF" > "$LAB_CONF.new" && mv "$LAB_CONF.new" "$LAB_CONF"
  echo "$1 = \"$2\"" >> "$LAB_CONF"
}

# Who changed a route: one line in ESXi's /var/log/vmkernel.log (ramdisk, as
# on ESXi) and one in the lab's audit file, which survives reboots so tests
# can prove that only the agent moved a route. $1 add|del, $2 NET/LEN, $3 GW,
# $4 tool name.
LAB_AUDIT=/var/lib/vmware/lab/route-audit.log

lab_cmdline() {
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\000\t\n' '   ' < "/proc/$1/cmdline" | sed 's/ *$//'
}

lab_audit() {
  lab_parent=$(lab_cmdline "$PPID")
  lab_gpid=$(awk '{ print $4 }' "/proc/$PPID/stat" 2>/dev/null)
  lab_grand=""
  [ -n "$lab_gpid" ] && lab_grand=$(lab_cmdline "$lab_gpid")
  mkdir -p /var/lib/vmware/lab /var/log
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date +%s)" "$1" "$2" "$3" "$4" "$lab_parent" "$lab_grand" >> "$LAB_AUDIT"
  printf '%s cpu0:%s)Net: route %s %s via %s (%s; by: %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$1" "$2" "$3" "$4" "$lab_parent" >> /var/log/vmkernel.log
}
