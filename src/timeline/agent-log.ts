/**
 * The agent's log (esxi/agent/reroute-loop.sh `log`), read back as decisions. Pure: text in,
 * events out. Each line is `YYYY-MM-DD HH:MM:SS NODE reroute[PID] MESSAGE`, the time in the host's
 * clock with no zone; ESXi runs in UTC (docs/field-notes.md §14), so it is read as UTC.
 *
 * A route line is `route 33.2: FROM -> TO (KIND)[ via access IP of X][ (old gateway does not answer
 * ping)]`, since issue 16 followed by ` [decision=D reason=R]`. Older lines lack the suffix: the
 * decision is then derived from where IO was before (into a remote kind from local: failover; into
 * local: failback; remote to remote: switch) and the reason from the nearest line before it that
 * says why (local access silent or unlisted, a drain or a pin), since the previous route change.
 */
import { sanitizeForDisplay } from '../observe/sanitize';
import type { AgentEvent, AgentEventType, DecisionKind, RouteDecision, RouteKind } from './timeline-types';
import { ROUTE_KINDS } from './timeline-types';

export interface ParseAgentLogOptions {
  /** The manifest node the log was read from (lines name the agent's NODE_NAME, normally the same). */
  host: string;
  /**
   * What the manifest says each gateway is from this host (local storage/access IP, peers' storage,
   * access and management IPs): for lines that name a gateway but not its kind (route drift, a
   * failed change), when the log itself never named it.
   */
  gatewayKinds?: Record<string, RouteKind>;
}

export interface ParsedAgentLog {
  events: AgentEvent[];
  /** Well-formed agent lines read (including the ones the timeline does not show, like `alive:`). */
  lines: number;
  /** Lines that are not agent lines (a cut first line, route-tool output the agent logged). */
  malformed: number;
}

const LINE_RE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) (\S+) reroute\[(\d+)\] (.*)$/;
const ROUTE_RE = /^route 33\.2: (\S+) -> (\S+) \(([a-z-]+)\)(.*)$/;
const SUFFIX_RE = /\s\[((?:[a-z_]+=[A-Za-z0-9._:-]+)(?:\s+[a-z_]+=[A-Za-z0-9._:-]+)*)\]\s*$/;
const DECISIONS: readonly DecisionKind[] = ['failover', 'failback', 'switch'];

/** Epoch ms of a zone-less agent timestamp read as UTC; undefined for an impossible date. */
export function agentTimeMs(y: number, mo: number, d: number, h: number, mi: number, s: number): number | undefined {
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59)
    return undefined;
  return ms;
}

function kindWord(w: string): RouteKind {
  return (ROUTE_KINDS as readonly string[]).includes(w) ? (w as RouteKind) : 'unknown';
}

const noRoute = (gw: string): boolean => gw === '' || gw === 'none' || gw === 'nothing';

/** `[decision=failover reason=local-ping]` at the end of a route line, as key/value pairs. */
export function routeSuffix(rest: string): Record<string, string> {
  const m = SUFFIX_RE.exec(rest);
  if (!m) return {};
  return Object.fromEntries((m[1] as string).split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

interface Line {
  atMs: number;
  message: string;
}

/** The well-formed lines of a log text, in file order, and how many others there were. */
export function agentLogLines(text: string): { lines: Line[]; malformed: number } {
  const lines: Line[] = [];
  let malformed = 0;
  for (const raw of text.split('\n')) {
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (l === '') continue;
    const m = LINE_RE.exec(l);
    const atMs = m
      ? agentTimeMs(...([1, 2, 3, 4, 5, 6].map((i) => Number(m[i])) as [number, number, number, number, number, number]))
      : undefined;
    if (!m || atMs === undefined) {
      malformed++;
      continue;
    }
    lines.push({ atMs, message: m[9] as string });
  }
  return { lines, malformed };
}

/** Classification of one message: its timeline type and what it says about the route. */
interface Reading {
  type: AgentEventType | 'alive';
  /** The route after this line: gateway, and kind when the line names it. */
  route?: { gateway: string; kind?: RouteKind };
  /** A route line's parts. */
  change?: { from: string; to: string; kind: RouteKind; rest: string };
  /** A reason this line gives to the next route change. */
  why?: string;
}

function read(message: string): Reading | undefined {
  let m = ROUTE_RE.exec(message);
  if (m) {
    const kind = kindWord(m[3] as string);
    return {
      type: 'route',
      change: { from: m[1] as string, to: m[2] as string, kind, rest: m[4] as string },
      route: { gateway: m[2] as string, kind },
    };
  }
  if ((m = /^start v\S+ \(.*\): found route via (\S+) \(([a-z-]+)\)$/.exec(message)))
    return { type: 'start', route: { gateway: m[1] as string, kind: kindWord(m[2] as string) } };
  if ((m = /^route drift: 33\.2 route is via (\S+), expected \S+; adopting$/.exec(message)))
    return { type: 'drift', route: { gateway: m[1] as string } };
  if ((m = /^route change \S+ -> \S+ failed \(now via (\S+)\)/.exec(message)))
    return { type: 'route-failed', route: { gateway: m[1] as string } };
  if ((m = /^mode active: .*adopted the route via (\S+) \(([a-z-]+)\)$/.exec(message)))
    return { type: 'mode-active', route: { gateway: m[1] as string, kind: kindWord(m[2] as string) } };
  if ((m = /^SIGTERM: exiting; route left via (\S+) \(([a-z-]+)\)$/.exec(message)))
    return { type: 'stop', route: { gateway: m[1] as string, kind: kindWord(m[2] as string) } };
  if ((m = /^alive: route via (\S+) \(([a-z-]+)\) since/.exec(message)))
    // In shadow mode this is the real route too (the would-be one follows after "shadow:").
    return { type: 'alive', route: { gateway: m[1] as string, kind: kindWord(m[2] as string) } };
  if (/^local access \S+ does not answer ping/.test(message)) return { type: 'local-down', why: 'local-ping' };
  if (/^local access \S+ is not in the meta session list/.test(message)) return { type: 'local-unlisted', why: 'local-unlisted' };
  if (/^drain: /.test(message)) return { type: 'drain', why: 'drain' };
  if (/^pin \S+ is not a healthy cluster access point/.test(message)) return { type: 'pin', why: 'pin' };
  if (/^blind: /.test(message)) return { type: 'blind' };
  if (/^sight back: /.test(message)) return { type: 'sight-back' };
  if (/^no healthy access point reachable/.test(message)) return { type: 'no-target' };
  if (/^shadow: would route /.test(message)) return { type: 'shadow' };
  if (/; exiting\b|^neither esxcfg-route nor esxcli found; exiting/.test(message)) return { type: 'exit' };
  return undefined;
}

/** The agent's own words where it writes them: a first route (from none) is a `switch` for `no-route`. */
function fromNothing(fromKind: RouteKind, from: string): boolean {
  return fromKind === 'none' || (fromKind === 'unknown' && noRoute(from));
}

function derive(fromKind: RouteKind, from: string, kind: RouteKind): DecisionKind {
  if (fromNothing(fromKind, from)) return 'switch';
  if (kind === 'local') return fromKind === 'local' ? 'switch' : 'failback';
  // Out of local is a failover; a log that starts mid-way (kind unknown) counts it as one too.
  if (fromKind === 'local' || fromKind === 'unknown') return 'failover';
  return 'switch';
}

function deriveReason(
  decision: DecisionKind,
  kind: RouteKind,
  pending: string | undefined,
  oldGatewayDown: boolean,
  first: boolean,
): string {
  if (pending === 'drain') return 'drain';
  if (first) return 'no-route';
  if (decision === 'failback') return 'failback-delay-passed';
  if (kind === 'pin') return 'pin';
  // A local access seen silent while already away says nothing about moving between remotes.
  if (decision === 'switch') return oldGatewayDown ? 'gateway-down' : pending === 'pin' ? 'pin' : 'unknown';
  return pending ?? (oldGatewayDown ? 'gateway-down' : 'unknown');
}

/** One host's log text (the rotated file's text first, then the current one's) as timeline events. */
export function parseAgentLog(text: string, opts: ParseAgentLogOptions): ParsedAgentLog {
  const { lines, malformed } = agentLogLines(text);
  const learned = new Map<string, RouteKind>();
  const kindOf = (gw: string, named?: RouteKind): RouteKind => {
    if (noRoute(gw)) return 'none';
    if (named !== undefined && named !== 'unknown') return named;
    return learned.get(gw) ?? opts.gatewayKinds?.[gw] ?? 'unknown';
  };
  let served: RouteKind = 'unknown';
  let pending: string | undefined;
  const events: AgentEvent[] = [];
  for (const line of lines) {
    const r = read(line.message);
    if (!r) continue;
    if (r.type === 'alive') {
      // Heartbeat lines keep the served state right but are no decisions: not shown.
      if (r.route) served = kindOf(r.route.gateway, r.route.kind);
      continue;
    }
    const event: AgentEvent = {
      at: new Date(line.atMs).toISOString(),
      atMs: line.atMs,
      host: opts.host,
      type: r.type,
      message: sanitizeForDisplay(line.message, { multiline: false, maxLength: 300 }),
    };
    if (r.change) {
      const { from, to, kind, rest } = r.change;
      const tags = routeSuffix(rest);
      const oldGatewayDown = rest.includes('(old gateway does not answer ping)');
      const fromKind = served !== 'unknown' ? served : kindOf(from);
      const logged = tags.decision !== undefined && (DECISIONS as readonly string[]).includes(tags.decision);
      const decision = logged ? (tags.decision as DecisionKind) : derive(fromKind, from, kind);
      const reason = tags.reason ?? deriveReason(decision, kind, pending, oldGatewayDown, fromNothing(fromKind, from));
      const via = / via access IP of (\S+)/.exec(rest)?.[1];
      const route: RouteDecision = { decision, reason, from, to, fromKind, kind, oldGatewayDown, logged };
      if (via !== undefined) route.viaAccessOf = via;
      event.route = route;
      pending = undefined;
    } else if (r.why !== undefined) {
      pending = r.why;
    }
    if (r.route) {
      const kind = kindOf(r.route.gateway, r.route.kind);
      if (r.route.kind !== undefined && r.route.kind !== 'unknown' && !noRoute(r.route.gateway)) learned.set(r.route.gateway, r.route.kind);
      served = kind;
      event.served = { kind, gateway: noRoute(r.route.gateway) ? 'none' : r.route.gateway };
      // A restarted agent starts a new story: what was pending belonged to the old loop.
      if (r.type === 'start') pending = undefined;
    }
    events.push(event);
  }
  return { events, lines: lines.length, malformed };
}
