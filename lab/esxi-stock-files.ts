/**
 * Files a stock ESXi 7 host already has, which every install must leave as they are.
 * One copy, used by the lab's host images and by the unit-test fixtures alike.
 */

/** ESXi's own root crontab lines (ESXi 7), which every test must see survive. */
export const ESXI_CRONTAB = [
  '#min hour day mon dow command',
  '1    1    *   *   *   /sbin/tmpwatch.py',
  '1    *    *   *   *   /sbin/auto-backup.sh ++group=host/vim/vmvisor/backup.sh',
  '0    *    *   *   *   /usr/lib/vmware/vmksummary/log-heartbeat.py',
  '*/5  *    *   *   *   /bin/hostd-probe.sh ++group=host/vim/vmvisor/hostd-probe/stats/sh',
  '00   1    *   *   *   localcli storage core device purge',
  '*/10 *    *   *   *   /bin/crx-cli gc',
  '',
].join('\n');

export const ESXI_LOCAL_SH = `#!/bin/sh

# local configuration options

# Note: modify at your own risk!  If you do/use anything in this
# script that is not part of a stable API (relying on files to be in
# specific places, specific tools, specific output, etc) there is a
# possibility you will end up with a broken system after patching or
# upgrading.  Changes are not supported unless under direction of
# VMware support.

# Note: This script will not be run when UEFI secure boot is enabled.

exit 0
`;
