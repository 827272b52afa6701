/**
 * The fast path of the loader. js-yaml 4 parses plain manifests several times faster than the `yaml`
 * package's document model, but gives no node positions. So it is only used to accept files that
 * turn out to be entirely valid; it declines (returns undefined) on anything unusual: syntax errors,
 * duplicate keys, aliases of collections, unknown tags, binary integers (0b..., the one core-schema
 * difference to `yaml`). Every declined or invalid file goes through the full `yaml` path, which
 * locates each problem. A test checks that the two paths agree on valid files.
 */
import jsYaml from 'js-yaml';

/** One non-empty document: its value and the offset of its first character. */
export interface FastDocument {
  value: unknown;
  start: number;
}

const BINARY_INT = /[\s:,[{+-]0b[01]/;

/** Parses every non-empty document of `text`, or returns undefined when the full parser should be used. */
export function fastParseDocuments(text: string): FastDocument[] | undefined {
  if (BINARY_INT.test(text)) return undefined;
  let values: unknown[];
  try {
    values = jsYaml.loadAll(text, null, { schema: jsYaml.CORE_SCHEMA });
  } catch {
    return undefined;
  }
  const present = values.filter((v) => v !== null && v !== undefined);
  const starts = documentStarts(text);
  // An explicit null document (`~`) or anything the line scan reads differently: let `yaml` decide.
  if (present.length !== starts.length || present.some(sharesReferences)) return undefined;
  return present.map((value, i) => ({ value, start: starts[i]! }));
}

/**
 * Offsets of the first content character of each document with content. A line starting with
 * `---` or `...` (then a space or the end of the line) always separates documents in YAML, even
 * inside block scalars; comments, blank lines and directives are not content.
 */
export function documentStarts(text: string): number[] {
  const starts: number[] = [];
  let hasContent = false;
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end);
    let contentFrom = -1;
    const marker = /^(---|\.\.\.)(?=[ \t\r]|$)/.exec(line);
    if (marker) {
      hasContent = false;
      if (marker[1] === '---') {
        const rest = /^---[ \t]+(?=[^ \t\r#])/.exec(line);
        if (rest) contentFrom = rest[0].length;
      }
    } else if (!hasContent) {
      const m = /^[ \t]*(?=[^ \t\r#%])/.exec(line);
      if (m && !(line.startsWith('%') && starts.length === 0)) contentFrom = m[0].length;
    }
    if (contentFrom >= 0 && !hasContent) {
      starts.push(pos + contentFrom);
      hasContent = true;
    }
    pos = end + 1;
  }
  return starts;
}

/** Whether an object or array is reachable twice (an alias of a collection): the `yaml` path bounds those. */
function sharesReferences(root: unknown): boolean {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (seen.has(v)) return true;
    seen.add(v);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push(child);
  }
  return false;
}
