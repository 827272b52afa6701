/** Manifests as documents and as YAML text, for the manifest, end-to-end and lifecycle tests. */
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

/** A Worker manifest's YAML (Eager by default, so a VM is expected), fields of `spec` in flow style. */
export function workerYaml(name: string, spec: Record<string, unknown> = {}): string {
  const s = {
    host: 'pve1',
    template: 'worker-template',
    storage: 'local-lvm',
    deploy: 'Eager',
    networks: [{ bridge: 'vmbr0', ipv4: 'dhcp' }],
    ...spec,
  };
  const lines = ['apiVersion: workerctl.dev/v1', 'kind: Worker', 'metadata:', `  name: ${name}`, 'spec:'];
  for (const [k, v] of Object.entries(s)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  return lines.join('\n') + '\n';
}

/** The same, OnDemand by default (as the guide): the lifecycle tests' workers. */
export function onDemandYaml(name: string, spec: Record<string, unknown> = {}): string {
  return workerYaml(name, { deploy: 'OnDemand', ...spec });
}
