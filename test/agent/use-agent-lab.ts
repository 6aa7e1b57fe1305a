/**
 * The setup the agent suites share: a lab of their own (test/support/use-lab.ts) and a reroute key
 * whose public half is authorised on every SCVM, as the reconciler would leave it. Installing the
 * agent stays in each suite (which hosts, which session source, which timing): they prove the agent
 * alone, without the CLI.
 */
import type { LabNode } from '../../lab/lab';
import { useLab, type LabHandle, type UseLabOptions } from '../support/use-lab';
import { AgentKey, authorizeOnScvms } from './agent-lab';

export interface AgentLab extends LabHandle {
  readonly key: AgentKey;
  /** Storage IPs of every SCVM but n's own, in node order (the agent's PEER_STORAGE_IPS). */
  peersStorage(n: LabNode): string[];
}

export function useAgentLab(tag: string, opts: Pick<UseLabOptions, 'lab' | 'beforeStop' | 'healOnStop'> = {}): AgentLab {
  let key: AgentKey | undefined;
  const handle = useLab(tag, {
    ...opts,
    ready: (lab) => {
      key = new AgentKey();
      authorizeOnScvms(lab, key);
    },
    afterStop: () => key?.remove(),
    kept: () => key?.dir ?? '',
  });
  return {
    get lab() {
      return handle.lab;
    },
    node: (i) => handle.node(i),
    get key() {
      if (key === undefined) throw new Error(`useAgentLab(${tag}): the key is read before beforeAll ran`);
      return key;
    },
    peersStorage: (n) => handle.lab.nodes.filter((m) => m !== n).map((m) => m.scvm.storageIp),
  };
}
