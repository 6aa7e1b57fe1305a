import { ClusterSession } from '../../engine/cluster-session';
import { describePin } from '../../state/known-hosts-store';
import type { IoHost } from '../io-host';

/** Open a session for an online command, showing every host key pinned on first contact. */
export async function openSession(io: IoHost, opts: { file: string; stateDir: string; acceptNewHostKey?: string[]; anyVersion?: boolean }): Promise<ClusterSession> {
  return ClusterSession.open({
    manifestPath: opts.file,
    stateDir: opts.stateDir,
    anyVersion: opts.anyVersion === true,
    acceptNewHostKeyFor: opts.acceptNewHostKey,
    ...(io.askSecret ? { prompt: (question: string) => (io.askSecret as (q: string) => Promise<string>)(question) } : {}),
    onPin: (r) => {
      if (r.status !== 'match') io.info(`  ${describePin(r)}`);
    },
  });
}
