/**
 * The database file's text, kept whole but built cheaply: every write is the complete file
 * (`JSON.stringify(data, null, 2)`, byte for byte), but each worker's part of it is serialised only
 * when that worker changed since the last write. At 1,000 workers the file is ~2.6 MiB and a full
 * stringify costs ~25-30 ms of the event loop on every write (status updates included); with the parts
 * kept, a write serialises the few workers that changed and joins the rest.
 *
 * The store tells it which workers changed (`changed`) before each write; a new data object (open,
 * reload) starts from nothing.
 */
import type { StoreData } from './store.js';

export class DatabaseText {
  /** Each worker's entry as it appears in the file (indented for its place), by name. */
  #parts = new Map<string, string>();
  /** The data object the parts were made from. */
  #of: StoreData | undefined;

  /** Forgets the parts of these workers (changed or deleted). */
  changed(names: Iterable<string | undefined>): void {
    for (const name of names) if (name !== undefined) this.#parts.delete(name);
  }

  /** Forgets every part. */
  reset(): void {
    this.#parts.clear();
    this.#of = undefined;
  }

  /** The whole file: equal to `JSON.stringify(data, null, 2) + '\n'`. */
  of(data: StoreData): string {
    if (data !== this.#of) {
      this.#parts.clear();
      this.#of = data;
    }
    const fields = Object.entries(data).filter(([, v]) => v !== undefined && typeof v !== 'function');
    const out = fields.map(([key, value]) =>
      key === 'workers' && isPlainObject(value)
        ? `  ${JSON.stringify(key)}: ${this.#workers(value)}`
        : `  ${JSON.stringify(key)}: ${indented(value, '  ')}`,
    );
    return out.length === 0 ? '{}\n' : `{\n${out.join(',\n')}\n}\n`;
  }

  #workers(workers: Record<string, unknown>): string {
    const names = Object.keys(workers).filter((n) => workers[n] !== undefined);
    if (names.length === 0) return '{}';
    const seen = new Set(names);
    for (const name of this.#parts.keys()) if (!seen.has(name)) this.#parts.delete(name);
    const entries = names.map((name) => {
      let part = this.#parts.get(name);
      if (part === undefined) {
        part = `    ${JSON.stringify(name)}: ${indented(workers[name], '    ')}`;
        this.#parts.set(name, part);
      }
      return part;
    });
    return `{\n${entries.join(',\n')}\n  }`;
  }
}

/** JSON.stringify(value, null, 2) as it appears nested at `indent`. */
function indented(value: unknown, indent: string): string {
  return JSON.stringify(value, null, 2).replaceAll('\n', `\n${indent}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
