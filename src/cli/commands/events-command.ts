import * as fs from 'node:fs';
import { Reconciler } from '../../engine/reconciler';
import type { EventsReport } from '../../engine/cluster-events';
import { RerouteError } from '../../errors/reroute-error';
import { renderTimelineSvg } from '../../timeline/timeline-svg';
import { EXIT_OK, EXIT_UNKNOWN } from '../exit-codes';
import type { IoHost } from '../io-host';
import { engineIo } from '../progress';
import { eventsText } from './events-render';

export interface EventsCommandOptions {
  file: string;
  stateDir: string;
  since?: string;
  node?: string[];
  svg?: string;
  acceptNewHostKey?: string[];
}

/** The SVG's window: --since, or the first thing the logs say when it is `all`. */
function svgFor(report: EventsReport): string {
  const untilMs = Date.parse(report.until);
  const first = [...report.segments.map((s) => s.fromMs), ...report.events.map((e) => e.atMs)].reduce(
    (a, b) => Math.min(a, b),
    untilMs - 60_000,
  );
  return renderTimelineSvg({
    title: `zbs-reroute cluster ${report.cluster}: where each host's IO was served`,
    hosts: report.nodes,
    fromMs: report.since === null ? first : Date.parse(report.since),
    toMs: untilMs,
    segments: report.segments,
    episodes: report.episodes,
    events: report.events,
    unreadable: report.hosts.filter((h) => !h.read).map((h) => ({ host: h.node, reason: h.reason ?? 'unknown' })),
  });
}

/**
 * `reroute events`: the timeline is the engine's (src/engine/cluster-events.ts); this prints it,
 * and draws it with --svg. Exit 0 when every host's log was read, 3 when one could not be (its
 * decisions are missing), 1 when the command could not run.
 */
export async function runEvents(io: IoHost, opts: EventsCommandOptions): Promise<number> {
  const report = await new Reconciler(engineIo(io), opts.stateDir).events({ ...opts, nodes: opts.node });
  if (opts.svg !== undefined) {
    try {
      fs.writeFileSync(opts.svg, svgFor(report));
    } catch (err) {
      throw new RerouteError(
        'USAGE',
        `cannot write the SVG to ${opts.svg}: ${(err as Error).message}`,
        'Choose a writable path for --svg.',
      );
    }
    io.info(`Timeline drawn to ${opts.svg}.`);
  }
  io.result(eventsText(report), report);
  return report.hosts.every((h) => h.read) ? EXIT_OK : EXIT_UNKNOWN;
}
