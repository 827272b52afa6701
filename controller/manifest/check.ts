/**
 * The checks of one parsed document, in order: apiVersion and kind, the JSON Schema, then the
 * defaults and the checks the schema cannot express (semantic.ts). The result is the findings and,
 * when there is no error, the worker's complete spec. Both parsers (parse.ts) use it.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { WorkerSpec } from '../types.js';
import { applyDefaults, type WorkerDocument } from './defaults.js';
import { describeType, shownValue, type Finding } from './finding.js';
import { SUPPORTED_API_VERSIONS, SUPPORTED_KINDS, validateWorkerDocument } from './schema.js';
import { schemaFindings } from './schema-findings.js';
import { workerFindings } from './semantic.js';

/** A static address of a worker and where it is in the document (for the checks across files). */
export interface StaticAddress {
  ip: string;
  pointer: string;
}

/** What the checks found in one document. */
export interface DocumentCheck {
  findings: Finding[];
  /** The complete spec, when no finding is an error. */
  spec?: WorkerSpec;
}

/** Checks one parsed document of `file` (relative passwordFile paths are resolved against it). */
export function checkDocument(data: unknown, file: string): DocumentCheck {
  const header = headerFindings(data);
  if (header.length > 0) return { findings: header };
  const schemaErrors = validateWorkerDocument(data);
  if (schemaErrors.length > 0) return { findings: schemaFindings(schemaErrors) };
  const wdoc = data as WorkerDocument;
  const spec = resolvePaths(applyDefaults(wdoc), file);
  const findings = workerFindings(wdoc, spec);
  if (findings.some((f) => f.severity === 'error')) return { findings };
  return { findings, spec };
}

/**
 * A relative passwordFile is relative to the manifest's directory; the spec carries it resolved, so
 * whoever reads it later does not depend on the working directory.
 */
function resolvePaths(spec: WorkerSpec, file: string): WorkerSpec {
  const proxy = spec.updates.proxy;
  if (proxy?.passwordFile !== undefined && !isAbsolute(proxy.passwordFile)) {
    proxy.passwordFile = resolve(dirname(file), proxy.passwordFile);
  }
  return spec;
}

/** The static addresses of a spec, for the checks across files. */
export function staticAddresses(spec: WorkerSpec): StaticAddress[] {
  const out: StaticAddress[] = [];
  spec.networks.forEach((n, i) => {
    if (n.ipv4 !== 'dhcp')
      out.push({ ip: n.ipv4.address.split('/')[0]!, pointer: `/spec/networks/${i}/ipv4/address` });
  });
  return out;
}

/** apiVersion and kind first: a document of another kind gets one clear message, not a flood. */
function headerFindings(data: unknown): Finding[] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return [
      {
        pointer: '',
        severity: 'error',
        code: 'manifest.not-a-mapping',
        message: `a manifest document must be a mapping (apiVersion, kind, metadata, spec), got ${Array.isArray(data) ? 'a list' : typeof data}`,
        hint: 'start the document with apiVersion: workerctl.dev/v1 and kind: Worker',
      },
    ];
  }
  const obj = data as Record<string, unknown>;
  const out: Finding[] = [];
  const check = (field: 'apiVersion' | 'kind', supported: readonly string[]): void => {
    const v = obj[field];
    if (typeof v === 'string' && supported.includes(v)) return;
    const list = supported.join(', ');
    out.push({
      pointer: v === undefined ? '' : `/${field}`,
      severity: 'error',
      code: field === 'apiVersion' ? 'manifest.api-version' : 'manifest.kind',
      message:
        v === undefined
          ? `missing ${field}; supported: ${list}`
          : `unsupported ${field} ${typeof v === 'string' ? `'${shownValue(`/${field}`, v) as string}'` : describeType(v)}; supported: ${list}`,
      value: shownValue(`/${field}`, v),
      hint: `set ${field}: ${supported[0]}`,
    });
  };
  check('apiVersion', SUPPORTED_API_VERSIONS);
  check('kind', SUPPORTED_KINDS);
  return out;
}
