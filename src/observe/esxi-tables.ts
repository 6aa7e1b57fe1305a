/**
 * Pure parsers for the ESXi command outputs preflight reads. Real formats:
 * esxcli prints a header line, a line of dash groups (one group per column,
 * two spaces apart) and rows aligned to those groups; text columns are
 * left-aligned, numbers and booleans right-aligned, and a value may contain
 * spaces ("Not Supported") or be empty (the volume name of a vfat partition).
 * So columns are cut at the dash groups, never split on whitespace.
 * Sources: https://developer.broadcom.com/xapis/esxcli-command-reference/7.0.0/namespace/esxcli_storage.html
 * and the samples in test/fixtures/real-output/ (each with its URL).
 */

export type TableRow = Record<string, string>;

/** Rows of an esxcli table keyed by header text; [] when there is no dashed line. */
export function parseEsxcliTable(text: string): TableRow[] {
  const lines = text.replace(/\r/g, '').split('\n');
  const dashAt = lines.findIndex((l) => /^-+( +-+)*\s*$/.test(l) && l.trim() !== '');
  if (dashAt < 1) return [];
  const header = lines[dashAt - 1] as string;
  const spans: Array<{ start: number; end: number }> = [];
  const re = /-+/g;
  const dashes = lines[dashAt] as string;
  for (let m = re.exec(dashes); m; m = re.exec(dashes)) spans.push({ start: m.index, end: m.index + m[0].length });
  const cut = (line: string, i: number): string => {
    const s = spans[i] as { start: number };
    const next = spans[i + 1];
    return line.slice(s.start, next ? next.start : undefined).trim();
  };
  const names = spans.map((_, i) => cut(header, i));
  const rows: TableRow[] = [];
  for (const line of lines.slice(dashAt + 1)) {
    if (line.trim() === '') continue;
    const row: TableRow = {};
    names.forEach((n, i) => {
      row[n] = cut(line, i);
    });
    rows.push(row);
  }
  return rows;
}

export interface EsxiVersion {
  major: number;
  minor: number;
  patch?: number;
  build?: string;
  text: string;
}

/** `VMware ESXi 7.0.3 build-19193900` → {7, 0, 3}; undefined when it is not an ESXi version line. */
export function parseVmwareVersion(text: string): EsxiVersion | undefined {
  const line = text
    .split('\n')
    .find((l) => /VMware ESXi/.test(l))
    ?.trim();
  const m = line ? /VMware ESXi (\d+)\.(\d+)(?:\.(\d+))?(?:.*?build-(\d+))?/.exec(line) : null;
  if (!m || !line) return undefined;
  const v: EsxiVersion = { major: Number(m[1]), minor: Number(m[2]), text: line };
  if (m[3] !== undefined) v.patch = Number(m[3]);
  if (m[4] !== undefined) v.build = m[4];
  return v;
}

/** `busybox --list` (one applet a line) or the "Currently defined functions:" text of a bare `busybox`. */
export function parseBusyboxApplets(text: string): Set<string> {
  const at = text.indexOf('Currently defined functions:');
  const body = at >= 0 ? text.slice(at + 'Currently defined functions:'.length) : text;
  return new Set(
    body
      .split(/[,\s]+/)
      .map((s) => s.trim())
      .filter((s) => /^[A-Za-z0-9_.[\]-]+$/.test(s)),
  );
}

/** `esxcli network firewall ruleset list` → ruleset name → enabled. */
export function parseFirewallRulesets(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const r of parseEsxcliTable(text)) {
    const name = r.Name;
    if (name) out.set(name, (r.Enabled ?? '').toLowerCase() === 'true');
  }
  return out;
}

export interface NfsMount {
  volume: string;
  host: string;
  share: string;
  accessible: boolean;
  mounted: boolean;
}

/**
 * `esxcli storage nfs list` (6.7, 7.0 and 8.0 print the same columns), and `esxcli storage nfs41 list`,
 * whose server column is `Host(s)` (a 4.1 mount may name several servers, comma-separated).
 */
export function parseNfsList(text: string): NfsMount[] {
  return parseEsxcliTable(text)
    .filter((r) => r['Volume Name'] !== undefined && (r.Host !== undefined || r['Host(s)'] !== undefined))
    .map((r) => ({
      volume: r['Volume Name'] ?? '',
      host: r.Host ?? r['Host(s)'] ?? '',
      share: r.Share ?? '',
      accessible: (r.Accessible ?? '').toLowerCase() === 'true',
      mounted: (r.Mounted ?? '').toLowerCase() === 'true',
    }));
}

export interface Filesystem {
  mountPoint: string;
  volume: string;
  uuid: string;
  mounted: boolean;
  type: string;
  sizeBytes?: number;
  freeBytes?: number;
}

/** `esxcli storage filesystem list`: Mount Point, Volume Name, UUID, Mounted, Type, Size, Free (bytes). */
export function parseFilesystemList(text: string): Filesystem[] {
  const num = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
  return parseEsxcliTable(text)
    .filter((r) => r['Mount Point'] !== undefined)
    .map((r) => {
      const fs: Filesystem = {
        mountPoint: r['Mount Point'] ?? '',
        volume: r['Volume Name'] ?? '',
        uuid: r.UUID ?? '',
        mounted: (r.Mounted ?? '').toLowerCase() === 'true',
        type: r.Type ?? '',
      };
      const size = num(r.Size);
      const free = num(r.Free);
      if (size !== undefined) fs.sizeBytes = size;
      if (free !== undefined) fs.freeBytes = free;
      return fs;
    });
}

/** `secureBoot.py -s` prints `Enabled` or `Disabled`. */
export function parseSecureBoot(text: string): 'enabled' | 'disabled' | undefined {
  if (/\bdisabled\b/i.test(text)) return 'disabled';
  if (/\benabled\b/i.test(text)) return 'enabled';
  return undefined;
}

/** `/etc/smtxos-release`: `SMTX OS 5.1.2` (name of the file unverified; see docs/field-notes.md). */
export function parseSmtxRelease(text: string): string | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? m[0] : undefined;
}

/** -1, 0, 1 for dotted numeric versions (missing parts are 0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
