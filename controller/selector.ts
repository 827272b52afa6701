/**
 * Label selectors (`-l site=dc1,rack!=r3`), as kubectl writes them: a comma-separated list of
 * requirements that must all hold; `-l` given twice adds both lists. A requirement is `key=value`
 * (or `key==value`), `key!=value` (the label is absent or has another value), `key` (the label is
 * present) or `!key` (it is absent). Keys follow the manifest's label key rule
 * (schemas/worker.schema.json metadata.labels).
 */
import { UsageError } from './errors.js';

export type Requirement =
  { key: string; op: 'eq' | 'ne'; value: string } | { key: string; op: 'exists' | 'absent' };

/** All requirements must hold. An empty selector matches everything. */
export interface Selector {
  requirements: Requirement[];
  /** The selector as given, for messages and the API. */
  text: string;
}

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const VALUE = /^[^,=!]*$/;

/** Parses one or more `-l` values; a bad one is a UsageError naming `-l` and the requirement. */
export function parseSelector(texts: readonly string[] | string | undefined): Selector | undefined {
  const list = typeof texts === 'string' ? [texts] : (texts ?? []);
  const requirements: Requirement[] = [];
  for (const text of list) {
    for (const raw of text.split(',')) {
      const part = raw.trim();
      if (part === '') throw new UsageError(`-l: empty requirement in '${text}' (e.g. -l site=dc1,rack!=r3)`);
      requirements.push(parseRequirement(part, text));
    }
  }
  if (requirements.length === 0) return undefined;
  return { requirements, text: list.join(',') };
}

function parseRequirement(part: string, whole: string): Requirement {
  const bad = (why: string): never => {
    throw new UsageError(`-l: '${part}' in '${whole}' ${why} (e.g. -l site=dc1, -l 'rack!=r3', -l '!spare')`);
  };
  const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
  if (m) {
    const [, key, op, value] = m as unknown as [string, string, string, string];
    if (!KEY.test(key)) bad('has a key that is not a label key');
    if (!VALUE.test(value) || value.length > 63) bad('has a value that is not a label value');
    return { key, op: op === '!=' ? 'ne' : 'eq', value };
  }
  const absent = part.startsWith('!');
  const key = absent ? part.slice(1).trim() : part;
  if (!KEY.test(key)) bad('is not key=value, key!=value, key or !key');
  return { key, op: absent ? 'absent' : 'exists' };
}

/** True when `labels` meet every requirement. */
export function matchesSelector(
  selector: Selector | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return true;
  return selector.requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'eq':
        return has && labels[r.key] === r.value;
      case 'ne':
        return !has || labels[r.key] !== r.value;
      case 'exists':
        return has;
      case 'absent':
        return !has;
    }
  });
}
