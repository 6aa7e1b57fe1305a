import type winston from 'winston';
import type { EngineMessage, EngineSink } from '../engine/engine-io';

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
