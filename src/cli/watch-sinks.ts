import type winston from 'winston';
import type { EngineMessage, EngineSink } from '../engine/engine-io';
import { parseListenAddress, startMetricsServer } from '../metrics/metrics-server';
import { WatchMetrics } from '../metrics/watch-metrics';

/**
 * How `reroute watch` renders the loop's messages: each record is one log line (console and the
 * JSON lines of watch.log), with its stable `event` name as a field. Codes watch does not send are
 * ignored here, as a renderer of a newer engine would ignore codes it does not know.
 */
export function watchLogSink(logger: winston.Logger): EngineSink {
  return {
    emit(m: EngineMessage): void {
      if (m.code === 'WATCH_RECORD') logger.log(m.level, m.message, { event: m.event, ...m.fields });
    },
  };
}

export interface WatchSinks {
  sink: EngineSink;
  close(): Promise<void>;
}

/** The log, and with --metrics-listen the metrics server too (listening before watch starts: a busy port fails the command). */
export async function openWatchSinks(logger: winston.Logger, metricsListen: string | undefined): Promise<WatchSinks> {
  const log = watchLogSink(logger);
  if (metricsListen === undefined) return { sink: log, close: async () => undefined };
  const metrics = new WatchMetrics();
  const server = await startMetricsServer(metrics, parseListenAddress(metricsListen));
  const { host, port } = server.address;
  logger.info(`metrics at http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`, {
    event: 'metrics-listening',
    address: host,
    port,
  });
  return {
    sink: {
      emit(m: EngineMessage): void {
        log.emit(m);
        metrics.emit(m);
      },
    },
    close: () => server.close(),
  };
}
