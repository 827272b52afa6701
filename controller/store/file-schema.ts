/**
 * The shape of a current-version database file (schema version 2), as a JSON Schema checked with ajv
 * on every open before anything reads the data or copies it to `.bak`: a record with a wrong type is
 * refused at open, naming its JSON pointer, instead of failing later in whatever code reads it first.
 * It checks what the code dereferences (types of every section, the spec's fields); fields it does
 * not know are allowed.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { DEPLOY_PATH_KINDS, DEPLOY_STEPS, INTENT_OPS } from '../types.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const bool = { type: 'boolean' } as const;
const strMap = { type: 'object', additionalProperties: str } as const;

function obj(required: Record<string, unknown>, optional: Record<string, unknown> = {}) {
  return {
    type: 'object',
    required: Object.keys(required),
    properties: { ...required, ...optional },
  };
}

const condition = obj({
  type: { enum: ['Ready', 'Reconciling', 'Degraded'] },
  status: { enum: ['True', 'False', 'Unknown'] },
  reason: str,
  message: str,
  lastTransitionTime: str,
});
const history = { type: 'array', items: obj({ time: str, action: str, cause: str }) };
const testResult = obj(
  { time: str, ok: bool, checks: { type: 'array', items: obj({ name: str, ok: bool }) } },
  { error: str },
);
const network = obj(
  {
    bridge: str,
    ipv4: { oneOf: [{ const: 'dhcp' }, obj({ address: str }, { gateway: str })] },
  },
  { vlan: int },
);
const spec = obj({
  name: str,
  labels: strMap,
  host: str,
  template: { type: ['string', 'integer'] },
  storage: str,
  description: str,
  maxConcurrentTasks: int,
  cpus: int,
  memoryGiB: num,
  diskGiB: num,
  networks: { type: 'array', minItems: 1, items: network },
  dns: { oneOf: [{ const: 'auto' }, obj({ servers: { type: 'array', items: str } })] },
  updates: obj(
    { enabled: bool },
    { proxy: obj({ host: str, port: int }, { username: str, passwordFile: str }) },
  ),
  enabled: bool,
  deploy: { enum: ['OnDemand', 'Eager'] },
  applyChanges: { enum: ['WhenIdle', 'Immediate'] },
  deletionPolicy: { enum: ['Delete', 'Orphan'] },
});
const intent = obj(
  {
    op: { enum: INTENT_OPS },
    node: str,
    vmid: int,
    startedAt: str,
  },
  { upid: str, source: int },
);
const deployPath = obj({
  kind: { enum: DEPLOY_PATH_KINDS },
  template: obj({ vmid: int, node: str }, { name: str }),
  cloneStorage: str,
  cloneNode: str,
  node: str,
  storage: str,
  disk: str,
});
const deployProgress = obj({
  path: deployPath,
  steps: { type: 'array', items: { enum: DEPLOY_STEPS } },
});
const leftover = obj({ vmid: int, node: str, reason: str }, { upid: str });
const worker = obj({
  name: str,
  desired: obj(
    { spec, generation: int },
    {
      specHash: str,
      source: obj({ file: str, line: int, col: int }),
      uid: str,
      removeRequestedAt: str,
      // The commit the spec came from (status and the live view shorten it).
      revision: str,
    },
  ),
  inventory: obj(
    {},
    {
      vmid: int,
      node: str,
      intent,
      deployed: obj({ template: { type: ['string', 'integer'] }, storage: str, host: str }),
      deploy: deployProgress,
      leftover,
    },
  ),
  lifecycle: obj(
    { sessions: { type: 'array', items: str } },
    {
      phase: { enum: ['Testing', 'Updating', 'Working'] },
      lastTest: testResult,
      degraded: condition,
      lastError: str,
      wantDeployed: bool,
    },
  ),
  status: obj(
    { phase: { enum: ['Configured', 'ShutDown'] }, conditions: { type: 'array', items: condition } },
    { observedGeneration: int, lastError: str },
  ),
  history,
});
const session = obj(
  {
    id: str,
    worker: str,
    host: str,
    kind: { enum: ['backup', 'restore'] },
    tasks: int,
    fallback: bool,
    createdAt: str,
    leaseExpiresAt: str,
    leaseMs: num,
  },
  { state: { enum: ['starting', 'ready'] }, address: str, readyAt: str },
);

/** The database file, version 2. */
export const STORE_FILE_SCHEMA = {
  type: 'object',
  required: ['schemaVersion', 'workers', 'sessions', 'meta'],
  properties: {
    schemaVersion: { const: 2 },
    workers: { type: 'object', additionalProperties: worker },
    sessions: { type: 'object', additionalProperties: session },
    // The manifests' commit as last taken in (reconcile/intake.ts): `status` and the page read it.
    meta: { type: 'object', properties: { manifests: obj({ since: str }, { revision: str, ref: str }) } },
  },
};

let validate: ValidateFunction | undefined;

/** One problem of a database file: where (a JSON pointer) and what. */
export interface ShapeProblem {
  pointer: string;
  message: string;
}

/** The problems of parsed file content against the version 2 shape (empty when it fits). */
export function storeShapeProblems(data: unknown): ShapeProblem[] {
  validate ??= new Ajv2020({ strict: false, allErrors: true }).compile(STORE_FILE_SCHEMA);
  if (validate(data)) return [];
  return simplify(validate.errors ?? []);
}

/** The deepest error per place; a oneOf's branch errors collapse into "has the wrong shape". */
function simplify(errors: readonly ErrorObject[]): ShapeProblem[] {
  const out = new Map<string, string>();
  for (const e of errors) {
    if (e.keyword === 'oneOf' || e.keyword === 'if') continue;
    const pointer =
      e.keyword === 'required'
        ? `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`
        : e.instancePath;
    const message =
      e.keyword === 'required'
        ? 'is missing'
        : e.keyword === 'type'
          ? `must be ${(e.params as { type: string | string[] }).type.toString().replace(',', ' or ')}`
          : e.keyword === 'enum'
            ? `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`
            : (e.message ?? 'is invalid');
    if (!out.has(pointer)) out.set(pointer, message);
  }
  // A oneOf whose every branch failed deeper reports those; keep the shortest pointers first.
  return [...out]
    .map(([pointer, message]) => ({ pointer: pointer || '/', message }))
    .sort((a, b) => a.pointer.localeCompare(b.pointer));
}
