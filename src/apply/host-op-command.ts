import { shellCommand, shellQuote } from '../core/shell-quote';

/**
 * Remote commands for apply are one `/bin/sh -c` each: the shipped library
 * esxi/apply/host-ops.sh as prelude, then one zr_* call with quoted arguments.
 * Pure: the library text is passed in, so tests can check the exact command.
 */
export type HostOp =
  | ['zr_write_file', string, string, string]
  | ['zr_cas_write', string, string, string, string]
  | ['zr_cas_rewrite', string, string, string, string]
  | ['zr_fw_ruleset', string, ...string[]]
  | ['zr_cas_delete', string, string]
  | ['zr_mkdir', string, string]
  | ['zr_remove_dir', string]
  | ['zr_rmdir', string]
  | ['zr_wait_heartbeat', string, string, string]
  | ['zr_delete_file', string]
  | ['zr_reload_crond']
  | ['zr_auto_backup']
  | ['zr_stop_agent', ...string[]]
  | ['zr_start_agent', string]
  | ['zr_lease_take', string, string, string, string]
  | ['zr_lease_release', string, string]
  | ['zr_delete_route', string, string, ...string[]];

export function hostOpCommand(library: string, ops: readonly HostOp[], opts: { sudo?: boolean } = {}): string {
  const body = `${library}\n${ops.map((op) => shellCommand(op)).join(' && ')}\n`;
  const sh = `/bin/sh -c ${shellQuote(body)}`;
  // SCVM edits run as the operator user; `sudo -n` fails fast instead of
  // prompting for a password nobody can type.
  return opts.sudo ? `sudo -n ${sh}` : sh;
}

/** Human names for host-ops.sh exit codes, used in error messages. */
export const HOST_OP_EXIT: Record<number, string> = {
  10: 'bad arguments (a bug in zbs-reroute)',
  11: 'write failed (disk full, read-only file system, or permissions)',
  12: 'the file changed on the host since it was observed',
  13: 'the host lease is held by another operator',
  14: 'agent processes would not stop',
  15: 'refused an unsafe path',
  16: 'the new agent did not report a fresh heartbeat in time',
  17: 'an esxcli firewall change failed',
};
