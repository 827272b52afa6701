/**
 * The Worker JSON Schema (schemas/worker.schema.json), compiled once with ajv in strict mode.
 * The schema file is the user reference; this module only loads and compiles it.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemasDir } from '../paths.js';

/** The manifest apiVersion this build understands. */
export const SUPPORTED_API_VERSIONS = ['workerctl.dev/v1'] as const;
/** The manifest kinds this build understands. */
export const SUPPORTED_KINDS = ['Worker'] as const;

/** A JSON Schema node as far as this code reads it. */
export interface SchemaNode {
  description?: string;
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
  enum?: unknown[];
  const?: unknown;
  [key: string]: unknown;
}

/** Path of the Worker schema file. */
export const workerSchemaPath = join(schemasDir, 'worker.schema.json');

let compiled: { validate: ValidateFunction; schema: SchemaNode } | undefined;

// ajv-formats is CommonJS; under nodenext its default import is module.exports (the plugin itself).
const addFormats = addFormatsModule as unknown as FormatsPlugin;

/** The parsed Worker schema (the user reference for every field). */
export function workerSchema(): SchemaNode {
  return compiledValidator().schema;
}

function compiledValidator(): { validate: ValidateFunction; schema: SchemaNode } {
  if (!compiled) {
    const schema = JSON.parse(readFileSync(workerSchemaPath, 'utf8')) as SchemaNode;
    // verbose: errors carry parentSchema, whose description becomes the hint.
    const ajv = new Ajv2020({ strict: true, allErrors: true, verbose: true });
    addFormats(ajv, ['ipv4', 'hostname']);
    compiled = { validate: ajv.compile(schema), schema };
  }
  return compiled;
}

/** Validates one parsed document against the Worker schema; returns ajv's errors (empty when valid). */
export function validateWorkerDocument(doc: unknown): ErrorObject[] {
  const { validate } = compiledValidator();
  return validate(doc) ? [] : [...(validate.errors ?? [])];
}
