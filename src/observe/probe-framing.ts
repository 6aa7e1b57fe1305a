/**
 * Reads the length-framed output of esxi/probe/probe.sh:
 *
 *   @@zbs-reroute-probe v1
 *   @@section NAME BYTES STATUS\n<BYTES raw bytes>\n   (repeated)
 *   @@end COUNT
 *
 * Content is taken by byte count, never by looking for markers, so a crontab
 * that contains `@@section` lines cannot forge a section. Works on bytes
 * (Buffer) because the counts are bytes. Never throws.
 */

export const PROBE_HEADER = '@@zbs-reroute-probe v1';
/** The probe caps every section at 256 KiB; anything larger was not made by it. */
export const PROBE_SECTION_CAP = 262144;
const MAX_SECTIONS = 512;
const MAX_HEADER_SEARCH = 65536;
const MAX_LINE = 256;

export type SectionStatus = 'ok' | 'truncated' | 'missing' | 'unreadable' | { rc: number };

export interface ProbeSection {
  name: string;
  status: SectionStatus;
  bytes: Buffer;
}

export interface ProbeFrames {
  /** Sections in output order (names may repeat: legacy, lease.*). */
  sections: ProbeSection[];
  /** True when the `@@end` trailer was read and its count matched. */
  complete: boolean;
  /** Why the output cannot be trusted as a whole (empty when complete). */
  problems: string[];
  /** Harmless oddities (junk before the header or after the trailer). */
  warnings: string[];
}

const SECTION_RE = /^@@section ([A-Za-z0-9._-]{1,64}) (\d{1,9}) (ok|truncated|missing|unreadable|rc=\d{1,3})$/;
const END_RE = /^@@end (\d{1,6})$/;

function parseStatus(s: string): SectionStatus {
  if (s.startsWith('rc=')) return { rc: Number(s.slice(3)) };
  return s as SectionStatus;
}

function findHeader(buf: Buffer, header: string): number {
  const limit = Math.min(buf.length, MAX_HEADER_SEARCH);
  const needle = Buffer.from(`${header}\n`, 'latin1');
  let from = 0;
  while (from < limit) {
    const at = buf.indexOf(needle, from);
    if (at < 0 || at >= limit) return -1;
    if (at === 0 || buf[at - 1] === 0x0a) return at;
    from = at + 1;
  }
  return -1;
}

function readLine(buf: Buffer, pos: number): { line: string; next: number } | undefined {
  const end = buf.indexOf(0x0a, pos);
  const stop = end < 0 ? buf.length : end;
  if (stop - pos > MAX_LINE) return undefined;
  return { line: buf.toString('latin1', pos, stop), next: end < 0 ? buf.length : end + 1 };
}

/** `header`: the first line the script prints (esxi/preflight/preflight.sh uses the same framing under its own). */
export function readProbeFrames(input: Buffer | string, header: string = PROBE_HEADER): ProbeFrames {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const out: ProbeFrames = { sections: [], complete: false, problems: [], warnings: [] };
  const start = findHeader(buf, header);
  if (start < 0) {
    out.problems.push(`probe output has no "${header}" header (${buf.length} bytes received)`);
    return out;
  }
  if (start > 0) out.warnings.push(`${start} bytes of unexpected output before the probe header were ignored`);
  let pos = start + header.length + 1;
  while (pos < buf.length) {
    const l = readLine(buf, pos);
    if (!l) {
      out.problems.push(`probe framing broken at byte ${pos}: over-long header line`);
      return out;
    }
    const end = END_RE.exec(l.line);
    if (end) {
      const count = Number(end[1]);
      if (count !== out.sections.length) {
        out.problems.push(`probe trailer says ${count} sections but ${out.sections.length} were read`);
        return out;
      }
      if (l.next < buf.length && buf.subarray(l.next).some((b) => b !== 0x0a && b !== 0x0d && b !== 0x20)) {
        out.warnings.push(`${buf.length - l.next} bytes after the probe trailer were ignored`);
      }
      out.complete = true;
      return out;
    }
    const m = SECTION_RE.exec(l.line);
    if (!m) {
      out.problems.push(`probe framing broken at byte ${pos}: expected a section header`);
      return out;
    }
    const name = m[1] as string;
    const size = Number(m[2]);
    if (size > PROBE_SECTION_CAP) {
      out.problems.push(`probe section "${name}" claims ${size} bytes, over the ${PROBE_SECTION_CAP}-byte cap`);
      return out;
    }
    const bodyEnd = l.next + size;
    if (bodyEnd >= buf.length || buf[bodyEnd] !== 0x0a) {
      out.problems.push(`probe output ends inside section "${name}" (incomplete or corrupted)`);
      return out;
    }
    if (out.sections.length >= MAX_SECTIONS) {
      out.problems.push(`probe output has more than ${MAX_SECTIONS} sections`);
      return out;
    }
    out.sections.push({ name, status: parseStatus(m[3] as string), bytes: Buffer.from(buf.subarray(l.next, bodyEnd)) });
    pos = bodyEnd + 1;
  }
  out.problems.push('probe output ended without its "@@end" trailer (connection cut or probe killed)');
  return out;
}
