#!/bin/sh
# Lab stand-in for ESXi's /sbin/auto-backup.sh: saves into /bootbank/state.tgz,
# which boot restores, exactly the /etc files that carry the sticky bit. That
# is VisorFS's rule: the image marks the files it backs up (local.sh,
# authorized_keys, passwd...) sticky; an edit in place keeps the mark, a file
# renamed over one does not and is not saved (see lab/README.md, Persistence).
# An /etc edit made after the last run is lost by a crash, as on ESXi.
# VMware tools are not busybox on ESXi: the lab's stand-ins may use every applet
# (private dir first in PATH), whatever the host's applet profile offers its users.
PATH=/usr/lib/vmware/lab/bin:/bin:/sbin:/usr/bin:/usr/sbin
export PATH
files=$(cd / && find etc -type f -perm -1000 | sort | tr '\n' ' ')
mkdir -p /bootbank
# shellcheck disable=SC2086
if ! tar czf /bootbank/state.tgz.new -C / $files || ! mv /bootbank/state.tgz.new /bootbank/state.tgz; then
  echo "auto-backup: failed to write /bootbank/state.tgz" >&2
  exit 1
fi
echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') auto-backup: saved $files" >> /var/log/syslog.log
