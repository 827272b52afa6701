/**
 * The real PVE API schema (third_party/pve-api/, see pveSchemaPath), parsed once per process and indexed by
 * path template. Only data is read at run time; nothing of it is copied into the source.
 */
import { readFileSync } from 'node:fs';
import { pveSchemaPath } from '../../paths.js';

/** One parameter (or property-string member) as the schema describes it. */
export interface PveParam {
  type?: string;
  format?: string | Record<string, PveParam>;
  pattern?: string;
  maxLength?: number;
  minLength?: number;
  minimum?: number | string;
  maximum?: number | string;
  enum?: string[];
  optional?: number;
  requires?: string;
  items?: PveParam;
  default?: unknown;
  default_key?: number;
  alias?: string;
  keyAlias?: string;
}

/** The parameters of one API method. */
export interface PveMethodSchema {
  additionalProperties?: number;
  properties?: Record<string, PveParam>;
}

interface TreeNode {
  path: string;
  info?: Record<string, { parameters?: PveMethodSchema; protected?: number }>;
  children?: TreeNode[];
}

let index: Map<string, TreeNode> | undefined;

function load(): Map<string, TreeNode> {
  if (index) return index;
  const tree = JSON.parse(readFileSync(pveSchemaPath(), 'utf8')) as TreeNode[];
  const map = new Map<string, TreeNode>();
  const walk = (n: TreeNode): void => {
    map.set(n.path, n);
    for (const c of n.children ?? []) walk(c);
  };
  for (const n of tree) walk(n);
  index = map;
  return map;
}

/** Parses the schema now (start-up) rather than on the first request. */
export function preloadSchema(): void {
  load();
}

/** The parameter schema of `METHOD path-template`, e.g. ('POST', '/nodes/{node}/qemu/{vmid}/clone'). */
export function methodSchema(method: string, template: string): PveMethodSchema | undefined {
  return load().get(template)?.info?.[method]?.parameters;
}

/** Whether pveproxy forwards the call to pvedaemon (`protected: 1`), where it needs a worker. */
export function isProtected(method: string, template: string): boolean {
  return load().get(template)?.info?.[method]?.protected === 1;
}

/** Whether the schema knows this path template at all. */
export function hasPath(template: string): boolean {
  return load().has(template);
}

let configTypes: Map<string, string> | undefined;

/** The schema type of a VM config key (net0 -> net[n]), used to type GET config output. */
export function configKeyType(key: string): string | undefined {
  if (!configTypes) {
    configTypes = new Map();
    const props = methodSchema('PUT', '/nodes/{node}/qemu/{vmid}/config')?.properties ?? {};
    for (const [k, v] of Object.entries(props)) configTypes.set(k, v.type ?? 'string');
  }
  const direct = configTypes.get(key);
  if (direct) return direct;
  const m = /^([a-z]+)\d+$/.exec(key);
  return m ? configTypes.get(`${m[1]}[n]`) : undefined;
}
