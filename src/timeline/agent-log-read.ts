/**
 * How `reroute events` reads an agent's log on an ESXi host: one read-only command, the log file
 * and its one rotation (LOG_FILE.1, older, first), each cut to its last LOG_READ_CAP bytes and
 * length-framed like the probe's output (src/observe/probe-framing.ts), so a line in the log can
 * never forge the framing. Pure: the command is built from validated values through the one
 * quoting function, and the output is parsed here; src/engine/cluster-events.ts runs it.
 *
 * Only ash builtins and the busybox basics the probe already relies on (wc -c, dd bs count skip):
 * no tail -c or head -c, whose presence varies between ESXi builds. Each file is read once, into
 * the shell's memory, and framed by the size of what was read: a line the agent appends meanwhile,
 * or a rotation, cannot make the header and the bytes disagree.
 */
import { shellCommand } from '../core/shell-quote';
import { readProbeFrames, type SectionStatus } from '../observe/probe-framing';

export const AGENT_LOG_HEADER = '@@zbs-reroute-log v1';
/** Bytes read from the end of each file: the agent rotates at 256 KiB (src/agent/agent-conf.ts LOG_MAX_BYTES). */
export const LOG_READ_CAP = 262144;
/** The command's whole output: two capped files and their framing. */
export const LOG_READ_MAX_OUTPUT = 2 * LOG_READ_CAP + 4096;

/*
 * $1 log file, $2 cap in KiB. Per file: `@@section NAME BYTES STATUS` then exactly BYTES bytes and
 * a newline. STATUS ok, truncated (the start of the file was left out: its first line is cut),
 * missing or unreadable. `$(…; echo .)` keeps trailing newlines, which command substitution drops.
 */
const SCRIPT = `f=$1; k=$2; n=0
echo '@@zbs-reroute-log v1'
for name in rotated current; do
  p=$f; [ "$name" = rotated ] && p=$f.1
  n=$((n + 1))
  if [ ! -e "$p" ]; then printf '@@section %s 0 missing\\n\\n' "$name"; continue; fi
  if [ ! -f "$p" ] || [ ! -r "$p" ]; then printf '@@section %s 0 unreadable\\n\\n' "$name"; continue; fi
  s=$(wc -c <"$p"); s=\${s:-0}; b=$(((s + 1023) / 1024)); skip=0; st=ok
  if [ "$b" -gt "$k" ]; then skip=$((b - k)); st=truncated; fi
  d=$(dd if="$p" bs=1024 skip="$skip" count="$k" 2>/dev/null; echo .); d=\${d%.}
  printf '@@section %s %s %s\\n%s\\n' "$name" "$(printf %s "$d" | wc -c)" "$st" "$d"
done
echo "@@end $n"`;

/** The command that reads LOG_FILE.1 then LOG_FILE on an ESXi host (read-only). */
export function agentLogCommand(logFile: string, capBytes: number = LOG_READ_CAP): string {
  const kib = Math.max(1, Math.floor(capBytes / 1024));
  return shellCommand(['/bin/sh', '-c', SCRIPT, 'zbs-reroute-log', logFile, String(kib)]);
}

export interface AgentLogFile {
  name: 'rotated' | 'current';
  status: SectionStatus;
  text: string;
}

export interface AgentLogRead {
  /** The rotated file's lines, then the current file's: oldest first. */
  text: string;
  files: AgentLogFile[];
  /** Why the output cannot be trusted (empty when it was read whole). */
  problems: string[];
}

/** Drops the first (cut) line of a file whose start was left out. */
function dropCutLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? '' : text.slice(nl + 1);
}

/** The output of agentLogCommand, as the two files' text, oldest first. Never throws. */
export function parseAgentLogRead(output: Buffer | string): AgentLogRead {
  const frames = readProbeFrames(output, AGENT_LOG_HEADER);
  const files: AgentLogFile[] = [];
  for (const s of frames.sections) {
    if (s.name !== 'rotated' && s.name !== 'current') continue;
    const raw = s.bytes.toString('utf8');
    files.push({ name: s.name, status: s.status, text: s.status === 'truncated' ? dropCutLine(raw) : raw });
  }
  const order = (f: AgentLogFile): number => (f.name === 'rotated' ? 0 : 1);
  files.sort((a, b) => order(a) - order(b));
  const text = files.map((f) => (f.text === '' || f.text.endsWith('\n') ? f.text : `${f.text}\n`)).join('');
  return { text, files, problems: frames.problems };
}
