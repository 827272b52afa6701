/**
 * Maps a JSON pointer inside a parsed YAML document back to the source text range of its node, so
 * every problem is reported at file:line:col (1-based), whatever the style (block or flow).
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { splitPointer } from './finding.js';

/** A 1-based source range. */
export interface Span {
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

/** Span of the character range [start, end) of a file. */
export function spanOf(lc: LineCounter, start: number, end: number): Span {
  const a = lc.linePos(start);
  const b = lc.linePos(Math.max(start, end));
  return { line: a.line, col: a.col, endLine: b.line, endCol: b.col };
}

/** Finds the nodes of one document. */
export class YamlLocator {
  constructor(
    private readonly doc: Document.Parsed,
    private readonly lc: LineCounter,
  ) {}

  /** Span of the whole document (its first node, or where it starts). */
  documentSpan(): Span {
    const c = this.doc.contents;
    const r = c?.range ?? this.doc.range;
    return spanOf(this.lc, r[0], r[1]);
  }

  /**
   * Span of the node at `pointer`: its value, or (target 'key') the key that holds it. When the
   * path does not exist, the deepest node that does.
   */
  locate(pointer: string, target: 'key' | 'value' = 'value'): Span {
    let node: unknown = this.doc.contents;
    let keyNode: Node | undefined;
    for (const seg of splitPointer(pointer)) {
      node = this.deref(node);
      let next: unknown;
      let nextKey: Node | undefined;
      if (isMap(node)) {
        for (const pair of node.items) {
          if (isPair(pair) && keyText(pair.key) === seg) {
            next = pair.value;
            nextKey = pair.key as Node;
            // `host:` with nothing after it: point at the key.
            if (next === null || (isScalar(next) && next.value === null && rangeEmpty(next as Node))) {
              next = pair.key;
            }
            break;
          }
        }
      } else if (isSeq(node)) {
        next = node.items[Number(seg)];
        nextKey = next as Node | undefined;
      }
      if (next === undefined || next === null) break;
      node = next;
      keyNode = nextKey;
    }
    const chosen = (target === 'key' && keyNode ? keyNode : node) as Node | null | undefined;
    const range = chosen?.range ?? this.doc.contents?.range ?? this.doc.range;
    return spanOf(this.lc, range[0], range[1]);
  }

  private deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function rangeEmpty(n: Node): boolean {
  return !n.range || n.range[0] === n.range[1];
}
