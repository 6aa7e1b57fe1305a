import { RerouteError } from '../../errors/reroute-error';
import { ensureStateDir } from '../../state/state-dir';
import { closeLogger, createWatchLogger } from '../../watch/watch-logger';
import { WatchLoop } from '../../watch/watch-loop';
import { defaultWatchConfig, type WatchMode } from '../../watch/watch-reducer';
import { EXIT_OK } from '../exit-codes';
import type { IoHost } from '../io-host';
import { openWatchSinks, type WatchSinks } from '../watch-sinks';

export interface WatchCommandOptions {
  file: string;
  stateDir: string;
  mode?: string;
  prune?: boolean;
  /** Seconds between checks of a host (default 60). */
  interval?: string;
  jitter?: string;
  verbose?: boolean;
  /** IP:PORT to serve Prometheus metrics on (off when absent). */
  metricsListen?: string;
  commandLine: string;
  /** For tests: resolves to stop the loop instead of a signal. */
  stopWhen?: Promise<string>;
}

function positive(name: string, v: string | undefined, fallback: number, opts: { min: number; max: number }): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < opts.min || n > opts.max)
    throw new RerouteError(
      'USAGE',
      `${name} must be a number from ${opts.min} to ${opts.max}, got ${JSON.stringify(v)}`,
      `Give ${name} as a number, e.g. ${name} ${fallback}.`,
    );
  return n;
}

/**
 * `reroute watch`: observe every host periodically and on manifest changes;
 * report drift or correct it. Runs until SIGINT/SIGTERM, then finishes the
 * corrections in flight and exits 0.
 */
export async function runWatch(io: IoHost, opts: WatchCommandOptions): Promise<number> {
  const mode = (opts.mode ?? 'report') as WatchMode;
  if (mode !== 'report' && mode !== 'correct')
    throw new RerouteError(
      'USAGE',
      `--mode must be report or correct, got ${JSON.stringify(opts.mode)}`,
      'Use --mode report (log drift only) or --mode correct (fix it).',
    );
  const intervalS = positive('--interval', opts.interval, 60, { min: 1, max: 86_400 });
  const jitter = positive('--jitter', opts.jitter, 0.1, { min: 0, max: 0.5 });
  const paths = ensureStateDir(opts.stateDir);
  const logger = createWatchLogger({ stateDir: paths.root, color: io.color, level: opts.verbose ? 'debug' : 'info' });
  const config = defaultWatchConfig({ mode, prune: opts.prune === true, intervalMs: intervalS * 1000, jitter });
  const onSignal = (sig: NodeJS.Signals): void => loop?.stop(sig);
  let sinks: WatchSinks | undefined;
  let loop: WatchLoop | undefined;
  try {
    sinks = await openWatchSinks(logger, opts.metricsListen);
    loop = new WatchLoop({ manifestPath: opts.file, stateDir: paths.root, config, io: sinks.sink, commandLine: opts.commandLine });
    await loop.start();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const running = loop;
    void opts.stopWhen?.then((why) => running.stop(why));
    await loop.wait();
    return EXIT_OK;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await sinks?.close();
    await closeLogger(logger);
  }
}
