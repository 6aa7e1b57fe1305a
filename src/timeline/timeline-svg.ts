/**
 * `reroute events --svg FILE`: the timeline as one standalone SVG. One lane per host, coloured by
 * where its IO was served (local / remote-storage / remote-management / pin / none), a tick for each
 * route decision, the failovers' durations, and a legend. Pure: data in, text out; every text that
 * came from a host or the manifest is escaped.
 */
import type { AgentEvent, Episode, RouteKind, ServedSegment } from './timeline-types';

export const KIND_COLORS: Record<RouteKind, string> = {
  local: '#2e7d32',
  'remote-storage': '#f9a825',
  'remote-management': '#ef6c00',
  pin: '#1565c0',
  none: '#c62828',
  foreign: '#8e24aa',
  unknown: '#d0d0d0',
};

export interface TimelineSvgInput {
  title: string;
  hosts: string[];
  fromMs: number;
  toMs: number;
  segments: ServedSegment[];
  episodes: Episode[];
  events: AgentEvent[];
  /** Hosts whose log could not be read, with why. */
  unreadable: { host: string; reason: string }[];
}

/** Text for SVG/XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const WIDTH = 1100;
const LABEL_W = 150;
const PLOT_W = WIDTH - LABEL_W - 30;
const TOP = 56;
const LANE_H = 26;
const LANE_GAP = 14;
const STEPS_S = [1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400];

function tickStep(spanMs: number): number {
  for (const s of STEPS_S) if (spanMs / (s * 1000) <= 8) return s * 1000;
  return (STEPS_S[STEPS_S.length - 1] as number) * 1000;
}

function tickLabel(ms: number, stepMs: number): string {
  const t = new Date(ms).toISOString();
  if (stepMs >= 86_400_000) return t.slice(0, 10);
  return stepMs >= 60_000 ? t.slice(11, 16) : t.slice(11, 19);
}

const fmt = (n: number): string => (Math.round(n * 10) / 10).toString();

/** 42s, 3m04s, 2h05m: how long an episode lasted, short enough for a label or a table cell. */
export function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
}

export function renderTimelineSvg(input: TimelineSvgInput): string {
  const from = input.fromMs;
  const span = Math.max(1000, input.toMs - from);
  const x = (ms: number): number => LABEL_W + (Math.min(Math.max(ms, from), from + span) - from) * (PLOT_W / span);
  const laneY = (i: number): number => TOP + i * (LANE_H + LANE_GAP);
  const height = laneY(input.hosts.length) + 70;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(input.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escapeXml(input.title)}</text>`,
    `<text x="10" y="38" fill="#555">${escapeXml(`${new Date(from).toISOString()} to ${new Date(from + span).toISOString()} (UTC)`)}</text>`,
  );
  const step = tickStep(span);
  const axisBottom = laneY(input.hosts.length) - LANE_GAP + 4;
  for (let t = Math.ceil(from / step) * step; t <= from + span; t += step) {
    out.push(
      `<line class="tick" x1="${fmt(x(t))}" y1="${TOP - 6}" x2="${fmt(x(t))}" y2="${axisBottom}" stroke="#e0e0e0"/>`,
      `<text x="${fmt(x(t))}" y="${axisBottom + 14}" text-anchor="middle" fill="#555">${escapeXml(tickLabel(t, step))}</text>`,
    );
  }
  input.hosts.forEach((host, i) => {
    const y = laneY(i);
    out.push(`<g class="lane" data-host="${escapeXml(host)}">`);
    out.push(`<text x="10" y="${y + LANE_H / 2 + 4}">${escapeXml(host)}</text>`);
    const unreadable = input.unreadable.find((u) => u.host === host);
    if (unreadable) {
      out.push(
        `<rect x="${LABEL_W}" y="${y}" width="${PLOT_W}" height="${LANE_H}" fill="#f5f5f5" stroke="#bbb" stroke-dasharray="4 3"/>`,
        `<text x="${LABEL_W + 8}" y="${y + LANE_H / 2 + 4}" fill="#c62828">${escapeXml(`log not read: ${unreadable.reason}`.slice(0, 160))}</text>`,
      );
    } else {
      out.push(`<rect x="${LABEL_W}" y="${y}" width="${PLOT_W}" height="${LANE_H}" fill="${KIND_COLORS.unknown}" opacity="0.35"/>`);
    }
    for (const s of input.segments.filter((g) => g.host === host)) {
      const w = Math.max(1, x(s.toMs) - x(s.fromMs));
      const tip = `${host}: ${s.kind} via ${s.gateway}, ${new Date(s.fromMs).toISOString()} to ${new Date(s.toMs).toISOString()}`;
      out.push(
        `<rect class="served" data-kind="${s.kind}" x="${fmt(x(s.fromMs))}" y="${y}" width="${fmt(w)}" height="${LANE_H}" fill="${KIND_COLORS[s.kind]}"><title>${escapeXml(tip)}</title></rect>`,
      );
    }
    for (const e of input.events.filter((v) => v.host === host && v.route)) {
      const r = e.route!;
      const tip = `${e.at} ${r.decision} ${r.from} -> ${r.to} (${r.kind}), reason ${r.reason}`;
      out.push(
        `<line class="decision" data-decision="${escapeXml(r.decision)}" x1="${fmt(x(e.atMs))}" y1="${y - 3}" x2="${fmt(x(e.atMs))}" y2="${y + LANE_H + 3}" stroke="#000" stroke-width="1.5"><title>${escapeXml(tip)}</title></line>`,
      );
    }
    for (const p of input.episodes.filter((v) => v.host === host)) {
      const label = `${p.reason}${p.durationSeconds === null ? ', still open' : `, ${durationText(p.durationSeconds)}`}`;
      out.push(`<text class="episode" x="${fmt(x(p.startMs) + 3)}" y="${y - 3}" font-size="10" fill="#333">${escapeXml(label)}</text>`);
    }
    out.push('</g>');
  });
  const legendY = height - 22;
  const kinds: RouteKind[] = ['local', 'remote-storage', 'remote-management', 'pin', 'none', 'unknown'];
  // Each entry as wide as its word (about 7 px a character at 12 px), so a long one never runs into the next.
  let lx = LABEL_W;
  kinds.forEach((k) => {
    out.push(
      `<rect class="legend" data-kind="${k}" x="${lx}" y="${legendY - 10}" width="14" height="12" fill="${KIND_COLORS[k]}"/>`,
      `<text x="${lx + 19}" y="${legendY}">${k}</text>`,
    );
    lx += 19 + k.length * 7 + 24;
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
