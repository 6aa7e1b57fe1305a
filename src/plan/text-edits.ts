import { AGENT_LOOP_FILE, LEGACY_LOOP_FILE, LOCAL_SH_BEGIN, LOCAL_SH_END } from '../agent/bundle-layout';

/**
 * Pure edits of the host text files we share with ESXi and operators (root
 * crontab, /etc/rc.local.d/local.sh). The planner uses them to decide what
 * drifted and the plan simulator to prove convergence; apply should run the same
 * functions so what is planned is what happens. Every line we do not own is
 * kept byte for byte, line ending included. Lines are compared without their
 * line ending, so a CRLF copy of our line still counts as ours.
 */

/** Lines with their line endings kept, so joining them gives the text back exactly. */
export function splitKeepingEnds(text: string): string[] {
  return text === '' ? [] : text.split(/(?<=\n)/);
}

/**
 * A line without its `\n` / `\r\n`. A lone `\r` at the very end counts as a
 * line ending too: the file's last line may lack its `\n`, and it must read
 * the same before and after a line is appended behind it.
 */
export function bare(line: string): string {
  return line.replace(/\r?\n$|\r$/, '');
}

function isComment(line: string): boolean {
  return /^\s*(#|$)/.test(line);
}

const OUR_LOOP = new RegExp(`/${AGENT_LOOP_FILE.replace(/[.]/g, '\\.')}(?=$|[\\s&;|])`);
const LEGACY_LOOP = new RegExp(LEGACY_LOOP_FILE.replace(/[.]/g, '\\.'));

/** A crontab entry that runs an agent of ours (any install dir: a moved datastore leaves the old one behind). */
export function isManagedCrontabLine(line: string): boolean {
  const l = bare(line);
  return !isComment(l) && OUR_LOOP.test(l);
}

/** A crontab entry of the seed tooling (scvm_failure_loop.sh), including the `/vmfs/volumes/None/...` one. */
export function isLegacyCrontabLine(line: string): boolean {
  const l = bare(line);
  return !isComment(l) && LEGACY_LOOP.test(l);
}

/** A local.sh line of the seed tooling that names its loop (the probe reports the rest it recognises). */
export function isLegacyLocalShLine(line: string): boolean {
  const l = bare(line);
  return !isComment(l) && LEGACY_LOOP.test(l);
}

/**
 * Remove every line equal (line ending aside) to one in `remove`, then append
 * each `add` line not already present. The last line gains a `\n` only when a
 * line is appended after it.
 */
export function editCrontab(text: string, remove: readonly string[], add: readonly string[]): string {
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

export interface LocalShLayout {
  /** Our blocks: BEGIN line .. the next END line with no other BEGIN between (inclusive indexes). */
  blocks: { start: number; end: number }[];
  /** Marker lines that are not part of a block (a hand-edited or half-written file). */
  strays: number[];
  /** Index of the last `exit 0` line outside our blocks, or -1. */
  exitAt: number;
}

export function scanLocalSh(lines: readonly string[]): LocalShLayout {
  const blocks: { start: number; end: number }[] = [];
  const strays: number[] = [];
  let exitAt = -1;
  for (let i = 0; i < lines.length; i++) {
    const l = bare(lines[i] ?? '');
    if (l === LOCAL_SH_BEGIN) {
      let j = i + 1;
      while (j < lines.length && bare(lines[j] ?? '') !== LOCAL_SH_END && bare(lines[j] ?? '') !== LOCAL_SH_BEGIN) j++;
      if (j < lines.length && bare(lines[j] ?? '') === LOCAL_SH_END) {
        blocks.push({ start: i, end: j });
        i = j;
      } else {
        // A BEGIN with no END before the next BEGIN: only the marker is ours; the
        // lines after it may be the operator's and are never swallowed.
        strays.push(i);
      }
    } else if (l === LOCAL_SH_END) {
      strays.push(i);
    } else if (/^\s*exit\s+0\s*$/.test(l)) {
      exitAt = i;
    }
  }
  return { blocks, strays, exitAt };
}

/** Our block's text as found (markers included), when there is exactly one. */
export function extractLocalShBlock(text: string): string | undefined {
  const lines = splitKeepingEnds(text);
  const { blocks } = scanLocalSh(lines);
  const b = blocks[0];
  if (b === undefined) return undefined;
  return lines.slice(b.start, b.end + 1).join('');
}

/** Why local.sh is not right for `block`, or undefined when it is exactly right. */
export function localShDrift(text: string, block: string): string | undefined {
  const lines = splitKeepingEnds(text);
  const { blocks, strays, exitAt } = scanLocalSh(lines);
  const b = blocks[0];
  if (b === undefined) return strays.length > 0 ? 'local.sh has a broken zbs-reroute block' : 'local.sh block missing';
  if (blocks.length > 1) return 'local.sh has more than one zbs-reroute block';
  if (strays.length > 0) return 'local.sh has stray zbs-reroute markers';
  if (lines.slice(b.start, b.end + 1).join('') !== block) return 'local.sh block differs';
  if (exitAt >= 0 && exitAt < b.start) return 'local.sh block is after `exit 0` (never runs)';
  return undefined;
}

/** Does local.sh hold anything of ours (a block or a stray marker)? */
export function hasLocalShTrace(text: string): boolean {
  const { blocks, strays } = scanLocalSh(splitKeepingEnds(text));
  return blocks.length > 0 || strays.length > 0;
}

/**
 * Remove all our blocks and stray markers and every line equal to one in
 * `removeLines` (legacy seed lines); then, when `block` is given, put it back
 * once, before the last `exit 0` (or at the end when there is none).
 */
export function editLocalSh(text: string, block: string | undefined, removeLines: readonly string[]): string {
  const drop = new Set(removeLines);
  const lines = splitKeepingEnds(text);
  const { blocks, strays } = scanLocalSh(lines);
  const ours = new Set<number>(strays);
  for (const b of blocks) for (let i = b.start; i <= b.end; i++) ours.add(i);
  const kept = lines.filter((l, i) => !ours.has(i) && !drop.has(bare(l)));
  if (block === undefined) return kept.join('');
  const { exitAt } = scanLocalSh(kept);
  if (exitAt < 0) {
    let out = kept.join('');
    if (out !== '' && !out.endsWith('\n')) out += '\n';
    return out + block;
  }
  return [...kept.slice(0, exitAt), block, ...kept.slice(exitAt)].join('');
}
