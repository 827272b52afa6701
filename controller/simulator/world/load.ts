/** Loads and checks a YAML world file; errors name file:line:col. */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { WorldConfig } from './types.js';

const duration = {
  oneOf: [
    { type: 'number', minimum: 0 },
    { type: 'array', items: { type: 'number', minimum: 0 }, minItems: 2, maxItems: 2 },
  ],
};
const vmSpec = {
  type: 'object',
  additionalProperties: false,
  required: ['vmid', 'node'],
  properties: {
    vmid: { type: 'integer', minimum: 100, maximum: 999999999 },
    node: { type: 'string' },
    name: { type: 'string' },
    template: { type: 'boolean' },
    running: { type: 'boolean' },
    tags: { type: 'string' },
    storage: { type: 'string' },
    disk: {
      type: 'object',
      additionalProperties: false,
      required: ['size'],
      properties: { size: { type: 'number', minimum: 0 }, used: { type: 'number', minimum: 0 } },
    },
    config: { type: 'object', additionalProperties: { type: ['string', 'number'] } },
    os: { type: 'string' },
    pool: { type: 'string' },
    haManaged: { type: 'boolean' },
  },
};
const faultSpec = {
  type: 'object',
  additionalProperties: false,
  required: ['kind'],
  properties: {
    id: { type: 'string' },
    kind: {
      enum: [
        'error',
        'status596',
        'drop',
        'lockTimeout',
        'slowTask',
        'failTask',
        'agentNever',
        'shutdownTimeout',
        'warnTask',
      ],
    },
    method: { type: 'string' },
    path: { type: 'string' },
    vmid: { type: 'integer' },
    taskType: { type: 'string' },
    rate: { type: 'number', minimum: 0, maximum: 1 },
    count: { type: 'integer', minimum: 1 },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    message: { type: 'string' },
    factor: { type: 'number', minimum: 0 },
  },
};

/** JSON schema of the world file (exported for the fault control API). */
export const worldSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nodes'],
  properties: {
    clusterName: { type: 'string' },
    nodes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'ip'],
        properties: {
          name: { type: 'string', pattern: '^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$' },
          ip: { type: 'string' },
          cpus: { type: 'integer', minimum: 1 },
          memoryGiB: { type: 'number', minimum: 1 },
          status: { enum: ['online', 'offline'] },
        },
      },
    },
    storages: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'type', 'content'],
        properties: {
          id: { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9\\-_.]*[a-zA-Z0-9]$' },
          type: { type: 'string' },
          content: { type: 'array', items: { type: 'string' } },
          shared: { type: 'boolean' },
          bandwidthGiBps: { type: 'number', exclusiveMinimum: 0 },
          totalGiB: { type: 'number', minimum: 0 },
          nodes: { type: 'array', items: { type: 'string' } },
          enabled: { type: 'boolean' },
        },
      },
    },
    pools: { type: 'array', items: { type: 'string' } },
    templates: { type: 'array', items: vmSpec },
    vms: { type: 'array', items: vmSpec },
    generate: {
      type: 'object',
      additionalProperties: false,
      required: ['vms'],
      properties: {
        vms: { type: 'integer', minimum: 0 },
        startVmid: { type: 'integer', minimum: 100 },
        runningShare: { type: 'number', minimum: 0, maximum: 1 },
      },
    },
    network: {
      type: 'object',
      additionalProperties: false,
      properties: {
        backupServer: { type: 'string' },
        reachable: { type: 'array', items: { type: 'string' } },
        unreachable: { type: 'array', items: { type: 'string' } },
        dhcp: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    latencies: { type: 'object', additionalProperties: duration },
    agentBootMs: duration,
    guestCommands: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['pattern', 'exitCode'],
        properties: {
          pattern: { type: 'string' },
          exitCode: { type: 'integer' },
          stdout: { type: 'string' },
          stderr: { type: 'string' },
          durationMs: { type: 'number', minimum: 0 },
          durationKey: { type: 'string' },
        },
      },
    },
    faults: { type: 'array', items: faultSpec },
    daemon: {
      type: 'object',
      additionalProperties: false,
      properties: {
        workers: { type: 'integer', minimum: 0 },
        proxyTimeoutSeconds: { type: 'number', minimum: 0 },
      },
    },
    resourcesLag: { type: 'boolean' },
    assumptions: { type: 'boolean' },
    capacity: {
      type: 'object',
      additionalProperties: false,
      properties: { maxVms: { type: 'integer', minimum: 0 } },
    },
    macPrefix: { type: 'string', pattern: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){0,4}$' },
  },
};

export const faultSchema = faultSpec;

const ajv = new Ajv({ allErrors: false, strict: false });
const validateWorld = ajv.compile(worldSchema);

/** Error in a world file (message names file:line:col). */
export class WorldFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorldFileError';
  }
}

/** Checks a world object (from a file or code); throws WorldFileError naming the place. */
export function checkWorld(world: unknown, where = 'world'): WorldConfig {
  if (!validateWorld(world)) {
    const e = validateWorld.errors?.[0];
    throw new WorldFileError(`${where}${e?.instancePath ?? ''}: ${e?.message ?? 'invalid'}`);
  }
  return world as unknown as WorldConfig;
}

/** Reads a YAML world file. */
export function loadWorldFile(file: string): WorldConfig {
  const text = readFileSync(file, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    throw new WorldFileError(`${file}:${pos?.line ?? 1}:${pos?.col ?? 1}: ${e.message.split('\n')[0]}`);
  }
  const data: unknown = doc.toJS();
  if (!validateWorld(data)) {
    const e = validateWorld.errors?.[0];
    const segs = (e?.instancePath ?? '')
      .split('/')
      .slice(1)
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    let node: unknown = doc.getIn(segs, true);
    if (e?.keyword === 'additionalProperties' && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === e.params.additionalProperty);
      if (pair) node = pair.key;
    }
    while (!node && segs.length > 0) {
      segs.pop();
      node = doc.getIn(segs, true);
    }
    const range = (node as { range?: [number, number] } | undefined)?.range;
    const pos = range ? lineCounter.linePos(range[0]) : { line: 1, col: 1 };
    const what =
      e?.keyword === 'additionalProperties'
        ? `unknown key '${String(e.params.additionalProperty)}'`
        : e?.message;
    throw new WorldFileError(
      `${file}:${pos.line}:${pos.col}: ${e?.instancePath || '/'}: ${what ?? 'invalid'}`,
    );
  }
  return data as unknown as WorldConfig;
}
