/**
 * The database file's bytes, kept whole but built cheaply: every write is the complete file
 * (`JSON.stringify(data, null, 2)` and a newline, byte for byte), but each worker's part of it is
 * serialised (and encoded) only when that worker changed since the last write; the file is those
 * parts copied together. At 1,000 workers (~2.6 MiB) serialising and encoding the whole file costs
 * the event loop 10-25 ms on every write, status updates included; the parts cost ~1 ms
 * (`node dist/bench/run.js reconcile` prints both).
 *
 * The store tells it which workers changed (`changed`) before each write; a new data object (open,
 * reload) starts from nothing.
 */
import type { StoreData } from './store.js';

const COMMA = Buffer.from(',\n');

export class DatabaseText {
  /** Each worker's entry as it appears in the file (indented for its place), by name. */
  #parts = new Map<string, Buffer>();
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

  /** The whole file: equal to `JSON.stringify(data, null, 2) + '\n'`, encoded as UTF-8. */
  of(data: StoreData): Buffer {
    if (data !== this.#of) {
      this.#parts.clear();
      this.#of = data;
    }
    const fields = Object.entries(data).filter(([, v]) => v !== undefined && typeof v !== 'function');
    if (fields.length === 0) return Buffer.from('{}\n');
    const out: Buffer[] = [Buffer.from('{\n')];
    fields.forEach(([key, value], i) => {
      if (i > 0) out.push(COMMA);
      if (key === 'workers' && isPlainObject(value)) {
        out.push(Buffer.from(`  ${JSON.stringify(key)}: `), ...this.#workers(value));
      } else {
        out.push(Buffer.from(`  ${JSON.stringify(key)}: ${indented(value, '  ')}`));
      }
    });
    out.push(Buffer.from('\n}\n'));
    return Buffer.concat(out);
  }

  #workers(workers: Record<string, unknown>): Buffer[] {
    const names = Object.keys(workers).filter((n) => workers[n] !== undefined);
    if (names.length === 0) return [Buffer.from('{}')];
    const seen = new Set(names);
    for (const name of this.#parts.keys()) if (!seen.has(name)) this.#parts.delete(name);
    const out: Buffer[] = [Buffer.from('{\n')];
    names.forEach((name, i) => {
      let part = this.#parts.get(name);
      if (part === undefined) {
        part = Buffer.from(`    ${JSON.stringify(name)}: ${indented(workers[name], '    ')}`);
        this.#parts.set(name, part);
      }
      if (i > 0) out.push(COMMA);
      out.push(part);
    });
    out.push(Buffer.from('\n  }'));
    return out;
  }
}

/** JSON.stringify(value, null, 2) as it appears nested at `indent`. */
function indented(value: unknown, indent: string): string {
  return JSON.stringify(value, null, 2).replaceAll('\n', `\n${indent}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
