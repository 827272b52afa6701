/** Manifest builders for the spec tests. */
import { stringify } from 'yaml';

/** A manifest as a loosely typed object: tests edit any field, including into invalid shapes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDoc = Record<string, any>;

/** A minimal valid Worker document as a plain object; `patch` edits it in place. */
export function workerDoc(name = 'w-01', patch?: (doc: AnyDoc) => void): AnyDoc {
  const doc: AnyDoc = {
    apiVersion: 'workerctl.dev/v1',
    kind: 'Worker',
    metadata: { name },
    spec: {
      host: 'pve1',
      template: 'worker-template',
      storage: 'local-lvm',
      networks: [{ bridge: 'vmbr0', ipv4: 'dhcp' }],
    },
  };
  patch?.(doc);
  return doc;
}

/** YAML text of several documents. */
export function yamlDocs(...docs: unknown[]): string {
  return docs.map((d) => stringify(d)).join('---\n');
}

/** 1-based [line, col] of the first occurrence of `needle` in `text` (after `from`, when given). */
export function positionOf(text: string, needle: string, from = 0): [number, number] {
  const at = text.indexOf(needle, from);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split('\n');
  return [before.length, before[before.length - 1]!.length + 1];
}
