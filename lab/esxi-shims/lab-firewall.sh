#!/bin/sh
# Sourced by the esxcli shim (after lab-routes.sh): the ESXi firewall's
# rulesets, persisted in esx.conf as ESXi's own tools do, and enforced in the
# host's network namespace with policy-routing rules (prefs 100-199, through
# a copy of iproute2's `ip`): a connect the rulesets do not allow fails at
# once ("Permission denied"); ESXi drops the packets instead.
#
# Modelled (https://docs.vmware.com/en/VMware-vSphere/6.7/vspherecli-concepts-examples/GUID-CB2A997E-9B49-4B08-8202-3FB220EADE9D.html):
# outgoing TCP is blocked unless a ruleset allows it; an enabled ruleset with
# allowed-all false allows only its allowed IP addresses. Only the outgoing
# client rulesets the product needs are enforced: sshClient (TCP 22) and
# httpClient (TCP 80, 443). The others are listed with their shipped state.

LAB_IP=${LAB_IP:-/usr/lib/vmware/lab/ip}

# NAME:SHIPPED-STATE:ENFORCED-TCP-PORTS, in ESXi's list order.
LAB_RULESETS="sshServer:true: sshClient:false:22 nfsClient:true: nfs41Client:false: dhcp:true: dns:true: snmp:true: ntpClient:false: CIMHttpServer:true: CIMHttpsServer:true: CIMSLP:true: iSCSI:false: vpxHeartbeats:true: updateManager:true: faultTolerance:true: webAccess:true: vMotion:true: vSphereClient:true: activeDirectoryAll:false: NFC:true: HBR:true: ftpClient:false: httpClient:false:80,443 gdbserver:false: DVFilter:false: DHCPv6:true: DVSSync:true: syslog:false: WOL:true: vSPC:false: remoteSerialPort:false: rdt:true: cmmds:true: ipfam:false: iofiltervp:true: esxupdate:false:"

# Prints the ruleset's spec (NAME:STATE:PORTS) or fails when ESXi has no such ruleset.
lab_fw_spec() {
  for lab_s in $LAB_RULESETS; do
    if [ "${lab_s%%:*}" = "$1" ]; then
      echo "$lab_s"
      return 0
    fi
  done
  return 1
}

# lab_fw_table MODE [ONLY]: every ruleset's row from one pass over esx.conf (a
# lookup per ruleset forked ~70 awks per listing and made the probe slow).
# MODE enabled: NAME<TAB>true|false; MODE allowed: NAME<TAB>All | IP, IP...
lab_fw_table() {
  lab_c=$LAB_CONF
  [ -f "$lab_c" ] || lab_c=/dev/null
  awk -v specs="$LAB_RULESETS" -v mode="$1" -v only="${2:-}" '
    { i = index($0, " = "); if (i > 0) { v = substr($0, i + 3); gsub(/"/, "", v); conf[substr($0, 1, i - 1)] = v } }
    END {
      n = split(specs, s, " ")
      for (j = 1; j <= n; j++) {
        split(s[j], f, ":"); r = f[1]
        if (only != "" && only != r) continue
        k = "/firewall/services/" r "/"
        if (mode == "enabled") { e = conf[k "enabled"]; printf "%s\t%s\n", r, (e != "" ? e : f[2]) }
        else if (conf[k "allowedall"] == "" || conf[k "allowedall"] == "true") printf "%s\tAll\n", r
        else { ips = conf[k "allowedip"]; gsub(/,/, ", ", ips); printf "%s\t%s\n", r, ips }
      }
    }' "$lab_c"
}

lab_fw_enabled() {
  lab_e=$(lab_conf_get "/firewall/services/$1/enabled")
  if [ -z "$lab_e" ]; then
    lab_e=$(lab_fw_spec "$1")
    lab_e=${lab_e#*:}
    lab_e=${lab_e%%:*}
  fi
  echo "$lab_e"
}

lab_fw_allowed_all() {
  lab_a=$(lab_conf_get "/firewall/services/$1/allowedall")
  echo "${lab_a:-true}"
}

# Allowed IPs, comma-separated, in the order they were added.
lab_fw_ips() {
  lab_conf_get "/firewall/services/$1/allowedip"
}

# true|false|1|0|yes|no -> true|false; fails otherwise.
lab_fw_bool() {
  case "$1" in
    true|1|yes) echo true ;;
    false|0|no) echo false ;;
    *) return 1 ;;
  esac
}

lab_firewall_apply() {
  for lab_p in $("$LAB_IP" rule show | awk -F: '$1 + 0 >= 100 && $1 + 0 < 200 { print $1 + 0 }'); do
    "$LAB_IP" rule del pref "$lab_p" 2>/dev/null
  done
  for lab_s in $LAB_RULESETS; do
    lab_name=${lab_s%%:*}
    lab_ports=${lab_s##*:}
    [ -n "$lab_ports" ] || continue
    lab_en=$(lab_fw_enabled "$lab_name")
    lab_all=$(lab_fw_allowed_all "$lab_name")
    [ "$lab_en" = true ] && [ "$lab_all" = true ] && continue
    for lab_port in $(echo "$lab_ports" | tr ',' ' '); do
      if [ "$lab_en" = true ]; then
        for lab_ip in $(lab_fw_ips "$lab_name" | tr ',' ' '); do
          "$LAB_IP" rule add pref 120 to "$lab_ip" ipproto 6 dport "$lab_port" lookup main
        done
      fi
      "$LAB_IP" rule add pref 150 ipproto 6 dport "$lab_port" prohibit
    done
  done
}
