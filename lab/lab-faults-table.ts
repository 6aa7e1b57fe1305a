/**
 * Host faults (issue 3 and later) as a table: each kind says which hosts it
 * applies to and how it is applied and cleared, so adding a fault is one
 * entry, and the bookkeeping (validation, the registry's active list) is
 * written once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { newSessionId, updateScvm } from './services/cluster-state';
import { alive, LabError } from './proc';
import { execInOk } from './lab-exec';
import { ipBatch, setScvmNics } from './lab-network';
import { bootScvm, powerOff } from './lab-power';
import { stopTracked } from './lab-sim-services';
import { parseTarget, type LabNode } from './lab-topology';
import type { LabState } from './lab-state';

export const FAULTS = [
  'storage-down',
  'access-unhealthy',
  'scvm-down',
  'sshd-hang',
  'ssh-client-blocked',
  'access-restart',
  'route-tool-hang',
] as const;
export type FaultName = (typeof FAULTS)[number];

interface FaultKind {
  /** The host kind the fault applies to; 'any' is an ESXi or an SCVM. */
  on: 'esxi' | 'scvm' | 'any';
  /** One-shot: an event, not a state. Never recorded as active, and healing it does nothing. */
  oneShot?: boolean;
  set(s: LabState, node: LabNode, target: string, on: boolean): Promise<void> | void;
}

/** ESXi ports are s-eN / m-eN on the switch, SCVM ports s-sN / m-sN. */
function portSuffix(target: string, node: LabNode): string {
  return `${parseTarget(target).kind === 'esxi' ? 'e' : 's'}${node.index}`;
}

const KINDS: Record<FaultName, FaultKind> = {
  'storage-down': {
    on: 'any',
    // The switch port goes down, as a pulled cable: the host keeps its routes, its link loses carrier.
    set: async (s, node, target, on) => {
      await ipBatch(s.switchNs, [`link set s-${portSuffix(target, node)} ${on ? 'down' : 'up'}`]);
    },
  },
  'access-unhealthy': {
    on: 'scvm',
    // A down SCVM stays out of the session list whatever its access state.
    set: (s, _node, target, on) => {
      updateScvm(s.clusterFile, target, { healthy: !on && !s.faultActive('scvm-down', target) });
    },
  },
  'scvm-down': {
    on: 'scvm',
    set: async (s, node, target, on) => {
      if (on) {
        await stopTracked(s, [`${target}:meta-sim`, `${target}:nfs-sim`]);
        await powerOff(s, target);
        await setScvmNics(s, node, false);
        updateScvm(s.clusterFile, target, { healthy: false, metaUp: false });
        s.removeFault('sshd-hang', target);
      } else {
        await setScvmNics(s, node, true);
        // A booted SCVM's access service opens a new meta session: new id, no client IPs yet.
        updateScvm(s.clusterFile, target, {
          healthy: !s.faultActive('access-unhealthy', target),
          metaUp: true,
          sessionId: newSessionId(),
          localClientsIps: '',
        });
        if (!alive(s.pid(`${target}:init`))) await bootScvm(s, node);
      }
    },
  },
  'sshd-hang': {
    on: 'any',
    set: (s, _node, target, on) => {
      const pid = s.pid(`${target}:sshd`);
      if (pid === undefined || !alive(pid)) throw new LabError(`sshd of ${target} is not running`);
      // Stopped, not closed: the kernel still completes TCP handshakes into the listen backlog.
      process.kill(pid, on ? 'SIGSTOP' : 'SIGCONT');
    },
  },
  'ssh-client-blocked': {
    on: 'esxi',
    set: async (s, _node, target, on) => {
      await execInOk(s, target, `esxcli network firewall ruleset set --ruleset-id=sshClient --enabled=${on ? 'false' : 'true'}`);
    },
  },
  'access-restart': {
    on: 'scvm',
    // The access service restarted and meta gave it a new session (new id, local_clients_ips
    // empty), as ZBS does (issue 11).
    oneShot: true,
    set: (s, _node, target, on) => {
      if (on) updateScvm(s.clusterFile, target, { sessionId: newSessionId(), localClientsIps: '' });
    },
  },
  'route-tool-hang': {
    on: 'esxi',
    // The route shims sleep while this flag exists (lab-routes.sh lab_route_tool_hang).
    set: (_s, node, _target, on) => {
      const flag = path.join(node.esxi.root, 'usr', 'lib', 'vmware', 'lab', 'faults', 'route-tool-hang');
      if (on) fs.writeFileSync(flag, `${new Date().toISOString()}\n`);
      else fs.rmSync(flag, { force: true });
    },
  },
};

function isFault(name: string): name is FaultName {
  return (FAULTS as readonly string[]).includes(name);
}

/** Applies (on) or clears a host fault and records it in the registry's active list. */
export async function setFault(s: LabState, name: string, target: string, on: boolean): Promise<void> {
  s.reload();
  if (!isFault(name)) throw new LabError(`unknown fault ${JSON.stringify(name)}`, `Use one of: ${FAULTS.join(', ')}.`);
  const t = parseTarget(target);
  if (t.kind === 'ctl') throw new LabError(`fault ${name} does not apply to ctl`, 'Faults target esxi-N or scvm-N.');
  const kind = KINDS[name];
  const node = s.node(target, kind.on === 'any' ? t.kind : kind.on);
  await kind.set(s, node, target, on);
  if (kind.oneShot === true) return;
  if (on) s.addFault(name, target);
  else s.removeFault(name, target);
}
