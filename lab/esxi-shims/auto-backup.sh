#!/bin/sh
# Lab stand-in for ESXi's /sbin/auto-backup.sh: saves the backed-up /etc
# files into /bootbank/state.tgz, which boot restores. An /etc edit made
# after the last run is lost by a crash, as on ESXi.
files=""
for f in /etc/rc.local.d/local.sh /etc/ssh/keys-root/authorized_keys /etc/passwd /etc/shadow /etc/group \
  /etc/hosts /etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_rsa_key.pub /etc/ssh/ssh_host_ecdsa_key \
  /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub; do
  [ -e "$f" ] && files="$files ${f#/}"
done
mkdir -p /bootbank
# shellcheck disable=SC2086
if ! tar czf /bootbank/state.tgz.new -C / $files || ! mv /bootbank/state.tgz.new /bootbank/state.tgz; then
  echo "auto-backup: failed to write /bootbank/state.tgz" >&2
  exit 1
fi
echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') auto-backup: saved$files" >> /var/log/syslog.log
