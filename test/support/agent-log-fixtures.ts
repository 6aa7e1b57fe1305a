/**
 * Agent log text as hosts hold it, for the unit tests of src/timeline: node-1 across a rotation (the
 * older file without the decision suffix, the newer with it), ending failed over.
 */

/** node-1's LOG_FILE.1: a restart, a local ping failure and its failover, old format (no suffix). */
export const NODE1_ROTATED = [
  '2026-12-01 23:59:58 node-1 reroute[100] start v1.0.0 (mode active, source rest, interval 3s, failback 180s, ping 2x4): found route via 10.20.0.101 (local)',
  '2026-12-02 00:05:00 node-1 reroute[100] alive: route via 10.20.0.101 (local) since 1764633598, fetch ok, list age 1s',
  '2026-12-02 00:10:00 node-1 reroute[100] local access 10.20.0.101 does not answer ping (2 rounds of 4)',
  '2026-12-02 00:10:01 node-1 reroute[100] route 33.2: 10.20.0.101 -> 10.20.0.102 (remote-storage) (old gateway does not answer ping)',
  '',
].join('\n');

/** node-1's LOG_FILE: the failback (old format), then a failover with the suffix and a switch, still open. */
export const NODE1_CURRENT = [
  '2026-12-02 00:13:05 node-1 reroute[100] route 33.2: 10.20.0.102 -> 10.20.0.101 (local)',
  'esxcfg-route: a line of route-tool output the agent logged',
  '2026-12-02 00:20:00 node-1 reroute[100] local access 10.20.0.101 is not in the meta session list (2 lists in a row)',
  '2026-12-02 00:20:00 node-1 reroute[100] route 33.2: 10.20.0.101 -> 10.20.0.103 (remote-storage) [decision=failover reason=local-unlisted]',
  '2026-12-02 00:21:00 node-1 reroute[100] route 33.2: 10.20.0.103 -> 10.10.0.102 (remote-management) (old gateway does not answer ping)',
  '',
].join('\n');

/** node-2's log: a drain to node-3 (a pin) and back, and an agent stopped by SIGTERM. */
export const NODE2_LOG = [
  '2026-12-02 00:00:30 node-2 reroute[200] start v1.0.0 (mode active, source rest, interval 3s, failback 180s, ping 2x4): found route via 10.20.0.102 (local)',
  '2026-12-02 00:11:00 node-2 reroute[200] route 33.2: 10.20.0.102 -> 10.20.0.103 (pin)',
  '2026-12-02 00:15:00 node-2 reroute[200] drain: nothing else answers; back to the SCVM under maintenance (10.20.0.102)',
  '2026-12-02 00:15:00 node-2 reroute[200] route 33.2: 10.20.0.103 -> 10.20.0.102 (local)',
  '2026-12-02 00:30:00 node-2 reroute[200] SIGTERM: exiting; route left via 10.20.0.102 (local)',
  '',
].join('\n');

/** Where each gateway leads from node-1, as the manifest says (src/engine/cluster-events.ts builds it). */
export const NODE1_GATEWAYS = {
  '10.20.0.101': 'local',
  '10.20.0.102': 'remote-storage',
  '10.20.0.103': 'remote-storage',
  '10.10.0.102': 'remote-management',
  '10.10.0.103': 'remote-management',
} as const;
