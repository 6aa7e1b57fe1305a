import { exportState, importState } from '../../state/state-transfer';
import { EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';

/**
 * `reroute state export --out FILE` / `reroute state import FILE`: a second operator takes over
 * the cluster identity (keypair + pinned host keys) instead of creating a rival one.
 */
export function runStateExport(io: IoHost, opts: { stateDir: string; out: string; force?: boolean }): number {
  const r = exportState(opts.stateDir, opts.out, { force: opts.force });
  const key = r.hasKey ? 'the cluster keypair' : 'no keypair (none in this state folder: the REST session source needs none)';
  io.result(
    `Exported ${key} and ${r.pinned} pinned host key(s) to ${opts.out} (mode 0600${r.hasKey ? ': it holds the private key; delete it once imported' : ''}).`,
    { ok: true, file: opts.out, ...r },
  );
  return EXIT_OK;
}

export function runStateImport(io: IoHost, opts: { stateDir: string; file: string; force?: boolean }): number {
  const r = importState(opts.stateDir, opts.file, { force: opts.force });
  const key =
    r.key === 'imported'
      ? 'imported the cluster keypair'
      : r.key === 'same'
        ? 'the cluster keypair is the same already'
        : 'no keypair in the export';
  io.result(
    `State ${opts.stateDir}: ${key}; ${r.pinsWritten} pinned host key(s) written${r.hostsRepinned > 0 ? `, ${r.hostsRepinned} host(s) re-pinned (--force)` : ''}. Run \`reroute plan\` to check.`,
    { ok: true, ...r },
  );
  return EXIT_OK;
}
