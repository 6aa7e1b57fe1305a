/**
 * Maps a path in the parsed data (as ajv and the semantic checks name it) back
 * to a line:col in the YAML text, so every problem points at what to edit.
 */
import { Document, LineCounter, isAlias, isMap, isPair, isScalar, isSeq, type Node } from 'yaml';

export type DataPath = ReadonlyArray<string | number>;
export interface Position {
  line: number;
  col: number;
}

/** `value`: the value at the path; `key`: the map key naming it (for unknown fields). */
export type PositionTarget = 'value' | 'key';

export interface SourceLocator {
  at(path: DataPath, target?: PositionTarget): Position;
  /** The value's text exactly as written (e.g. `1.0` where the data holds the number 1). */
  textAt(path: DataPath): string | undefined;
}

const START: Position = { line: 1, col: 1 };

/** Decodes an ajv instancePath (JSON Pointer) into path segments. */
export function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function yamlLocator(doc: Document, lineCounter: LineCounter, text: string): SourceLocator {
  const pos = (offset: number | undefined): Position => {
    if (offset === undefined) return START;
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const deref = (node: unknown): unknown => (isAlias(node) ? node.resolve(doc) : node);
  const startOf = (node: unknown): number | undefined => {
    const range = (node as Node | null | undefined)?.range;
    return range ? range[0] : undefined;
  };

  /** Walks the path; returns the node found (if the whole path exists) and the deepest offset reached. */
  const walk = (path: DataPath, target: PositionTarget): { node?: unknown; offset: number | undefined } => {
    let node: unknown = doc.contents;
    // Deepest position reached so far: when the path runs past what the YAML
    // holds (a missing key), the problem belongs to the nearest existing node.
    let best = startOf(node);
    for (let i = 0; i < path.length; i++) {
      node = deref(node);
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return { offset: best };
        const keyStart = startOf(pair.key);
        if (last && target === 'key') return { node: pair.key, offset: keyStart };
        const value = pair.value;
        // `key:` with nothing after it: the empty value's range is zero-width
        // and may sit on the next line; the key is what the operator sees.
        const empty = value === null || (isScalar(value) && value.range != null && value.range[0] === value.range[1]);
        if (empty) return { node: value ?? undefined, offset: keyStart };
        node = value;
        best = startOf(value) ?? keyStart;
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)];
        if (item === undefined) return { offset: best };
        node = item;
        best = startOf(item) ?? best;
      } else {
        return { offset: best };
      }
    }
    return { node: deref(node), offset: best };
  };

  return {
    at: (path, target = 'value') => pos(walk(path, target).offset),
    textAt: (path) => {
      const node = walk(path, 'value').node as Node | undefined;
      const range = node?.range;
      return range ? text.slice(range[0], range[1]).trim() : undefined;
    },
  };
}
