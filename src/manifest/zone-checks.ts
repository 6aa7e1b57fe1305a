/**
 * Stretched-cluster zones (`nodes[].zone`): the agent's fallback order is local → same-zone
 * storage → other-zone storage → management, so a zone on some nodes only would silently put
 * the unzoned ones in a zone of their own. All nodes carry a zone or none do.
 */
import type { SourceProblem } from '../errors/reroute-error';
import { pathLabel, problemAt, type ProblemContext } from './problem';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

export function zoneProblems(nodes: (Obj | undefined)[], ctx: ProblemContext): SourceProblem[] {
  // A zone of the wrong type is the schema's to report; it still counts as "given" here.
  const given = nodes.map((n) => obj(n) !== undefined && n?.zone !== undefined);
  const first = given.indexOf(true);
  if (first < 0 || given.every(Boolean)) return [];
  const firstPath = ['spec', 'nodes', first, 'zone'];
  const firstLine = ctx.locate.at(firstPath).line;
  const out: SourceProblem[] = [];
  given.forEach((has, i) => {
    if (has || obj(nodes[i]) === undefined) return;
    const path = ['spec', 'nodes', i];
    out.push(
      problemAt(
        ctx,
        path,
        'semantic.zone-missing',
        `${pathLabel(path)} has no zone, but ${pathLabel(firstPath)} (line ${firstLine}) gives one: zones are all or none`,
        'Give every node its `zone:` (the site its ESXi host and SCVM are in), or remove `zone:` from every node.',
      ),
    );
  });
  return out;
}
