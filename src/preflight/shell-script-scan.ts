/**
 * A small, strict reader for the POSIX shell we ship to ESXi: it finds every command a script
 * runs (including inside $(...), subshells and trap strings) and the options passed to it. Preflight
 * derives the commands a host must have from it (required-commands.ts); the applet-list tests hold
 * the scripts to esxi/agent/applets.txt with it (test/support/applet-allow-list.ts).
 *
 * It is not a general shell parser. Constructs the agent does not use (here-documents, backquotes)
 * are reported as problems rather than guessed at, so the checker can never silently skip code.
 */

export interface CommandUse {
  name: string;
  options: string[];
  line: number;
}

export interface ScanResult {
  commands: CommandUse[];
  functions: string[];
  problems: string[];
}

type Tok =
  { t: 'word'; v: string; quoted: boolean; line: number } | { t: 'op'; v: string; line: number } | { t: 'redir'; v: string; line: number };

const RESERVED_START = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '{', '!']);
const RESERVED_END = new Set(['fi', 'done', '}', 'esac']);
const SEPARATORS = new Set([';', '&', '&&', '||', '|', '(', ')', ';;', '\n']);

/** Index just past the `)` that closes a `$(` / `(` opened before `start`. */
function skipBalanced(s: string, start: number, open: string, close: string): number {
  let depth = 1;
  let i = start;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) return s.length;
      i = j + 1;
      continue;
    }
    if (c === '"') {
      i = skipDouble(s, i + 1);
      continue;
    }
    if (c === open) depth++;
    else if (c === close) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return s.length;
}

/** Index just past the closing `"` of a double-quoted string whose body starts at `start`. */
function skipDouble(s: string, start: number): number {
  let i = start;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '"') return i + 1;
    if (c === '$' && s[i + 1] === '(') {
      i = skipBalanced(s, i + 2, '(', ')');
      continue;
    }
    if (c === '$' && s[i + 1] === '{') {
      i = skipBalanced(s, i + 2, '{', '}');
      continue;
    }
    i++;
  }
  return s.length;
}

const newlineCache = new Map<string, number[]>();
function lineAt(s: string, i: number): number {
  let nl = newlineCache.get(s);
  if (!nl) {
    nl = [];
    for (let k = 0; k < s.length; k++) if (s[k] === '\n') nl.push(k);
    if (newlineCache.size > 64) newlineCache.clear();
    newlineCache.set(s, nl);
  }
  let lo = 0;
  let hi = nl.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((nl[mid] as number) < i) lo = mid + 1;
    else hi = mid;
  }
  return lo + 1;
}

/** Collect `$(...)` bodies inside a word (outside single quotes) for recursive scanning. */
function substitutions(word: string): string[] {
  const out: string[] = [];
  let i = 0;
  let inDouble = false;
  while (i < word.length) {
    const c = word[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === "'" && !inDouble) {
      const j = word.indexOf("'", i + 1);
      i = j < 0 ? word.length : j + 1;
      continue;
    }
    if (c === '"') {
      inDouble = !inDouble;
      i++;
      continue;
    }
    if (c === '$' && word[i + 1] === '(' && word[i + 2] === '(') {
      i = skipBalanced(word, i + 3, '(', ')') + 1;
      continue;
    }
    if (c === '$' && word[i + 1] === '(') {
      const end = skipBalanced(word, i + 2, '(', ')');
      out.push(word.slice(i + 2, end - 1));
      i = end;
      continue;
    }
    if (c === '$' && word[i + 1] === '{') {
      i = skipBalanced(word, i + 2, '{', '}');
      continue;
    }
    i++;
  }
  return out;
}

function tokenize(s: string, problems: string[], lineBase: number): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let word = '';
  let wordStart = 0;
  let quoted = false;
  const flush = (): void => {
    if (word !== '') toks.push({ t: 'word', v: word, quoted, line: lineBase + lineAt(s, wordStart) - 1 });
    word = '';
    quoted = false;
  };
  const startWord = (): void => {
    if (word === '') wordStart = i;
  };
  while (i < s.length) {
    const c = s[i] as string;
    // Computed only where a token or problem needs it: per character it was most of a CLI run's preflight CPU (issue 14).
    const lineHere = (): number => lineBase + lineAt(s, i) - 1;
    if (c === '#' && word === '') {
      while (i < s.length && s[i] !== '\n') i++;
      continue;
    }
    if (c === '\\' && s[i + 1] === '\n') {
      i += 2;
      continue;
    }
    if (c === ' ' || c === '\t') {
      flush();
      i++;
      continue;
    }
    if (c === '\n') {
      flush();
      toks.push({ t: 'op', v: '\n', line: lineHere() });
      i++;
      continue;
    }
    if (c === '`') {
      problems.push(`line ${lineHere()}: backquote command substitution (use $(...))`);
      i++;
      continue;
    }
    if (c === "'") {
      startWord();
      const j = s.indexOf("'", i + 1);
      const end = j < 0 ? s.length : j + 1;
      word += s.slice(i, end);
      quoted = true;
      i = end;
      continue;
    }
    if (c === '"') {
      startWord();
      const end = skipDouble(s, i + 1);
      word += s.slice(i, end);
      quoted = true;
      i = end;
      continue;
    }
    if (c === '\\') {
      startWord();
      word += s.slice(i, i + 2);
      quoted = true;
      i += 2;
      continue;
    }
    if (c === '$' && (s[i + 1] === '(' || s[i + 1] === '{')) {
      startWord();
      const arith = s[i + 1] === '(' && s[i + 2] === '(';
      const end = arith ? skipBalanced(s, i + 3, '(', ')') + 1 : skipBalanced(s, i + 2, s[i + 1] as string, s[i + 1] === '(' ? ')' : '}');
      word += s.slice(i, end);
      i = end;
      continue;
    }
    if (c === '<' || c === '>') {
      if (s.slice(i, i + 2) === '<<') {
        problems.push(`line ${lineHere()}: here-document (not supported by the checker)`);
      }
      let op = '';
      if (/^[0-9]+$/.test(word)) {
        op = word;
        word = '';
      } else {
        flush();
      }
      op += c;
      i++;
      if (s[i] === '>' || s[i] === '&') {
        op += s[i];
        i++;
      }
      toks.push({ t: 'redir', v: op, line: lineHere() });
      continue;
    }
    if (c === ';' || c === '&' || c === '|' || c === '(' || c === ')') {
      flush();
      const two = s.slice(i, i + 2);
      if (two === '&&' || two === '||' || two === ';;') {
        toks.push({ t: 'op', v: two, line: lineHere() });
        i += 2;
      } else {
        toks.push({ t: 'op', v: c, line: lineHere() });
        i++;
      }
      continue;
    }
    startWord();
    word += c;
    i++;
  }
  flush();
  return toks;
}

function unquote(w: string): string {
  if (w.length >= 2 && w.startsWith("'") && w.endsWith("'")) return w.slice(1, -1);
  return w;
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const FUNC_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * Scan a script. `wrappers` names functions whose arguments after the first N are themselves a
 * command (e.g. `run_bounded SECS OUT CMD ARGS...`).
 */
export function scanScript(src: string, wrappers: Record<string, number> = {}, lineBase = 1): ScanResult {
  const problems: string[] = [];
  const commands: CommandUse[] = [];
  const functions: string[] = [];
  const toks = tokenize(src, problems, lineBase);

  const nested = (text: string, line: number): void => {
    const r = scanScript(text, wrappers, line);
    commands.push(...r.commands);
    functions.push(...r.functions);
    problems.push(...r.problems);
  };
  for (const tk of toks) {
    if (tk.t === 'word') for (const sub of substitutions(tk.v)) nested(sub, tk.line);
  }

  // caseState: stack of 'subject' | 'in' | 'pattern' | 'body'
  const caseStack: string[] = [];
  let atStart = true;
  let skipToSep = false; // inside `for NAME in WORDS`
  let k = 0;
  while (k < toks.length) {
    const tk = toks[k] as Tok;
    const top = caseStack[caseStack.length - 1];
    if (tk.t === 'op' && top === 'pattern') {
      if (tk.v === ')') {
        caseStack[caseStack.length - 1] = 'body';
        atStart = true;
      }
      k++;
      continue;
    }
    if (tk.t === 'word' && top === 'subject') {
      caseStack[caseStack.length - 1] = 'in';
      k++;
      continue;
    }
    if (tk.t === 'word' && top === 'in') {
      if (tk.v !== 'in') problems.push(`line ${tk.line}: expected 'in' after case subject`);
      caseStack[caseStack.length - 1] = 'pattern';
      k++;
      continue;
    }
    if (top === 'pattern' && tk.t === 'word') {
      if (tk.v === 'esac') {
        caseStack.pop();
        atStart = false;
      }
      k++;
      continue;
    }
    if (tk.t === 'op') {
      if (tk.v === ';;' && top === 'body') caseStack[caseStack.length - 1] = 'pattern';
      if (SEPARATORS.has(tk.v)) {
        atStart = true;
        skipToSep = false;
      }
      k++;
      continue;
    }
    if (tk.t === 'redir') {
      k += 2; // the redirection target is not a command
      continue;
    }
    if (skipToSep || !atStart) {
      k++;
      continue;
    }
    // tk is a word at command start
    const w = tk.v;
    if (w === 'esac' && top === 'body') {
      caseStack.pop();
      atStart = false;
      k++;
      continue;
    }
    if (RESERVED_START.has(w)) {
      k++;
      continue;
    }
    if (RESERVED_END.has(w)) {
      atStart = false;
      k++;
      continue;
    }
    if (w === 'case') {
      caseStack.push('subject');
      k++;
      continue;
    }
    if (w === 'for') {
      skipToSep = true;
      k++;
      continue;
    }
    if (ASSIGNMENT.test(w) && !tk.quoted) {
      k++;
      continue;
    }
    if (ASSIGNMENT.test(w)) {
      // quoted value: still an assignment (NAME="...")
      k++;
      continue;
    }
    const n1 = toks[k + 1];
    const n2 = toks[k + 2];
    if (n1?.t === 'op' && n1.v === '(' && n2?.t === 'op' && n2.v === ')' && FUNC_NAME.test(w)) {
      functions.push(w);
      k += 3;
      continue;
    }
    // a simple command: collect its words up to the next separator
    const words: Tok[] = [];
    let j = k;
    while (j < toks.length) {
      const x = toks[j] as Tok;
      if (x.t === 'op') break;
      if (x.t === 'redir') {
        j += 2;
        continue;
      }
      words.push(x);
      j++;
    }
    emit(words);
    atStart = false;
    k = j;
  }

  function emit(words: Tok[]): void {
    const first = words[0];
    if (!first || first.t !== 'word') return;
    const name = unquote(first.v);
    // `"$@"` runs a command given to a wrapper function; its callers are checked via `wrappers`.
    if (first.v === '"$@"') return;
    if (/^["$]/.test(first.v)) {
      problems.push(`line ${first.line}: command name is an expansion (${first.v})`);
      return;
    }
    const options: string[] = [];
    // A wrapper's own options end where the command it runs begins (that one is checked itself).
    const own = wrappers[name] !== undefined ? words.slice(1, 1 + (wrappers[name] as number)) : words.slice(1);
    for (const x of own) {
      if (x.t === 'word' && !x.quoted && x.v.startsWith('-') && x.v !== '-' && x.v !== '--') {
        options.push(x.v);
      }
    }
    commands.push({ name, options, line: first.line });
    if (name === 'trap' && words[1]?.t === 'word' && words[1].v.startsWith("'")) {
      nested(unquote(words[1].v), words[1].line);
    }
    const skip = wrappers[name];
    if (skip !== undefined) {
      const inner = words.slice(1 + skip);
      if (inner.length > 0) emit(inner);
    }
  }

  return { commands, functions, problems };
}
