import { LOCAL_SH_BEGIN, LOCAL_SH_END } from '../agent/bundle-layout';

/**
 * Pure edits of host text files we share with ESXi and operators (root
 * crontab, local.sh, authorized_keys). Every line we do not own is kept byte
 * for byte, including its line ending and the file's last-line newline state.
 */

function splitKeepingEnds(text: string): string[] {
  if (text === '') return [];
  const parts = text.split(/(?<=\n)/);
  return parts;
}

function bare(line: string): string {
  return line.replace(/\r?\n$/, '');
}

/** Remove every line equal to one in `remove`, then append each of `add` not already present. */
export function editLines(text: string, remove: readonly string[], add: readonly string[]): string {
  const drop = new Set(remove);
  const kept = splitKeepingEnds(text).filter((l) => !drop.has(bare(l)));
  const present = new Set(kept.map(bare));
  let out = kept.join('');
  for (const line of add) {
    if (present.has(line)) continue;
    if (out !== '' && !out.endsWith('\n')) out += '\n';
    out += `${line}\n`;
    present.add(line);
  }
  return out;
}

/** Start/end line indexes of our marked block, or undefined when absent. */
function findBlock(lines: string[]): { start: number; end: number } | undefined {
  const start = lines.findIndex((l) => bare(l) === LOCAL_SH_BEGIN);
  if (start < 0) return undefined;
  const rel = lines.slice(start + 1).findIndex((l) => bare(l) === LOCAL_SH_END);
  // A BEGIN without END (hand-edited file): treat only the BEGIN line as ours.
  return { start, end: rel < 0 ? start : start + 1 + rel };
}

/**
 * Replace our local.sh block with `block` (markers included, newline-ended),
 * or remove it when `block` is undefined; also drop `removeLines` (legacy seed
 * lines). A new block goes before the last `exit 0`, as ESXi's template asks.
 */
export function editLocalSh(text: string, block: string | undefined, removeLines: readonly string[]): string {
  const drop = new Set(removeLines);
  let lines = splitKeepingEnds(text).filter((l) => !drop.has(bare(l)));
  const found = findBlock(lines);
  if (found) lines = [...lines.slice(0, found.start), ...lines.slice(found.end + 1)];
  if (block === undefined) return lines.join('');
  let exitAt = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^\s*exit\s+0\s*$/.test(bare(lines[i] ?? ''))) {
      exitAt = i;
      break;
    }
  }
  if (exitAt < 0) {
    let out = lines.join('');
    if (out !== '' && !out.endsWith('\n')) out += '\n';
    return out + block;
  }
  return [...lines.slice(0, exitAt), block, ...lines.slice(exitAt)].join('');
}

/** The text between (and including) our markers, or undefined. */
export function extractLocalShBlock(text: string): string | undefined {
  const lines = splitKeepingEnds(text);
  const found = findBlock(lines);
  if (!found) return undefined;
  const block = lines.slice(found.start, found.end + 1).join('');
  return block.endsWith('\n') ? block : `${block}\n`;
}
