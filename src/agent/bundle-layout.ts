/**
 * Fixed names of what we own on an ESXi host. One place, so the agent
 * renderer, the probe, the planner and the docs cannot disagree.
 */
export const AGENT_LOOP_FILE = 'reroute-loop.sh';
export const AGENT_CONF_FILE = 'reroute.conf';
export const KEY_DIR = 'keys';
export const PRIVATE_KEY_FILE = 'keys/reroute_id_rsa';
export const PUBLIC_KEY_FILE = 'keys/reroute_id_rsa.pub';
export const KNOWN_HOSTS_FILE = 'keys/known_hosts';
export const PIN_FILE = 'pin';
export const LEASE_DIR = 'lease';
/** The cluster key lease: held on every ESXi host by the one apply that changes the cluster key or SCVM entries. */
export const KEY_LEASE_DIR = 'keylease';
/** The firewall rulesets as they were before we changed them (read back by teardown). */
export const FIREWALL_PRIOR_FILE = 'firewall.prior';
export const STATUS_FILE = 'status'; // under install.runDir
export const LOCK_DIR = 'lock'; // under install.runDir
export const LOCAL_SH_PATH = '/etc/rc.local.d/local.sh';
export const CRONTAB_PATH = '/var/spool/cron/crontabs/root';
export const CROND_PID_PATH = '/var/run/crond.pid';
export const BUSYBOX_PATH = '/usr/lib/vmware/busybox/bin/busybox';
export const AUTO_BACKUP_PATH = '/sbin/auto-backup.sh';
export const LOCAL_SH_BEGIN = '# BEGIN zbs-reroute (managed by reroute; do not edit)';
export const LOCAL_SH_END = '# END zbs-reroute';
/** Comment that marks our authorized_keys entry on SCVMs: `zbs-reroute:<cluster>`. */
export const AUTHORIZED_KEY_MARKER = 'zbs-reroute:';
/**
 * Our key's file on SCVMs: the operator user's own authorized_keys (the agent's ssh session source
 * logs in as that user; SMTX OS >= 5.1.2 refuses root). Relative to that user's home, which is the
 * working directory of every command our ssh session runs there; written as the user, no sudo,
 * so the file and ~/.ssh keep the owner sshd requires.
 */
export const SCVM_AUTHORIZED_KEYS = '.ssh/authorized_keys';
/** Where releases before issue 11 put the key (for root): only ever cleaned up now. */
export const SCVM_ROOT_AUTHORIZED_KEYS = '/root/.ssh/authorized_keys';
/** Seed tooling (legacy) names, recognised for takeover. */
export const LEGACY_DIR_NAME = 'vmware_scvm_failure';
export const LEGACY_LOOP_FILE = 'scvm_failure_loop.sh';
export const LEGACY_KEY_DIR = '.smartx_key';
