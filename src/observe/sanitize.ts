/**
 * The one sanitizer for anything host-controlled that reaches a terminal, a log
 * or a table: crontab lines, process command lines, versions, reasons, owners.
 * A host we observe may be hostile or merely broken; its bytes must never move
 * the operator's cursor, rewrite earlier lines, set the window title or reorder
 * text (bidi overrides). Offending characters become visible escapes (`\x1b`,
 * `\u202e`) instead of disappearing, so an operator still sees that something odd is there.
 */

export interface SanitizeOptions {
  /** Keep line feeds (default true). When false they become `\n` too, for one-line cells. */
  multiline?: boolean;
  /** Cut the result to this many characters (an ellipsis marks the cut). */
  maxLength?: number;
}

// C0 controls except TAB/LF (LF handled separately), DEL, C1 controls, bidi and
// invisible formatting controls, line/paragraph separators, lone surrogates.
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeChar(ch: string): string {
  const code = ch.charCodeAt(0);
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

export function sanitizeForDisplay(s: string, opts: SanitizeOptions = {}): string {
  const multiline = opts.multiline ?? true;
  let text = typeof s === 'string' ? s : String(s);
  if (opts.maxLength !== undefined && text.length > opts.maxLength) {
    text = `${text.slice(0, Math.max(0, opts.maxLength))}…`;
  }
  return text.replace(UNSAFE, (ch) => (ch === '\n' && multiline ? ch : escapeChar(ch)));
}
