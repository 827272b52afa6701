/**
 * Tables that fit the terminal: which columns show and how wide, for a cli-table3 table of `width`
 * characters (each column's width includes its padding; a table of n columns adds n + 1 border
 * characters). Columns are dropped by `drop` order until the minimums fit, then each grows toward
 * its ideal in the order given; a column whose ideal is Infinity takes what is left. Also: paths
 * inside texts shown relative to the working directory.
 */
import { sep } from 'node:path';

export interface ColumnSpec {
  head: string;
  /** Narrowest useful width (padding included). */
  min: number;
  /** Width it grows to when there is room (Infinity: takes the rest). */
  ideal: number;
  /** Dropped when the table is too wide: 1 first, then 2, ...; undefined: never dropped. */
  drop?: number;
}

export interface FittedColumns {
  /** Indexes of the columns shown, in order. */
  shown: number[];
  /** Their widths. */
  widths: number[];
}

/** The columns of `cols` that fit `width`, with their widths. */
export function fitColumns(cols: readonly ColumnSpec[], width: number): FittedColumns {
  let shown = cols.map((_, i) => i);
  const total = (idx: number[]) => idx.reduce((n, i) => n + cols[i]!.min, 0) + idx.length + 1;
  const droppable = cols
    .map((c, i) => ({ i, drop: c.drop }))
    .filter((c): c is { i: number; drop: number } => c.drop !== undefined)
    .sort((a, b) => a.drop - b.drop);
  for (const d of droppable) {
    if (total(shown) <= width) break;
    shown = shown.filter((i) => i !== d.i);
  }
  const widths = shown.map((i) => cols[i]!.min);
  let left = width - total(shown);
  shown.forEach((i, k) => {
    const ideal = cols[i]!.ideal;
    if (!Number.isFinite(ideal) || left <= 0) return;
    const grow = Math.min(left, Math.max(0, ideal - widths[k]!));
    widths[k]! += grow;
    left -= grow;
  });
  const flex = shown.findIndex((i) => !Number.isFinite(cols[i]!.ideal));
  if (flex >= 0 && left > 0) widths[flex]! += left;
  return { shown, widths };
}

/** `text` cut to `width` characters with an ellipsis. */
export function truncate(text: string, width: number): string {
  return text.length > width ? text.slice(0, Math.max(0, width - 1)) + '…' : text;
}

/** Absolute paths under `cwd` inside a text (history causes, errors) made relative. */
export function relativeInText(text: string, cwd = process.cwd()): string {
  return text.split(cwd + sep).join('');
}
