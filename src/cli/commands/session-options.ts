import type { ClusterSession } from '../../engine/cluster-session';
import { Reconciler } from '../../engine/reconciler';
import type { IoHost } from '../io-host';
import { engineIo } from '../progress';

/** Open a session for an online command (status, preflight), showing every host key pinned on first contact. */
export async function openSession(
  io: IoHost,
  opts: { file: string; stateDir: string; acceptNewHostKey?: string[]; anyVersion?: boolean },
): Promise<ClusterSession> {
  return new Reconciler(engineIo(io), opts.stateDir).openSession(opts);
}
