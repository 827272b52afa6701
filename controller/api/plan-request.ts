/**
 * `POST /v1/plan`: a CI job (`workerctl plan -f DIR --controller URL`) posts the manifests of a
 * pull request; the controller plans them against its own state and a fresh observation, and
 * changes nothing. The body is JSON:
 *
 *   {"files": [{"path": "pve1.yaml", "content": "<base64>"}, ...],
 *    "allowMassDelete"?: bool, "selector"?: "site=dc1", "revision"?: {"commit", "ref"?}}
 *
 * A file the client could not read (too large, unreadable) is posted as
 * `{"path", "unreadable": {"code", "message"}}`: it is invalid there too, so the workers it held
 * keep their last valid spec instead of looking removed (invariant 1).
 * `path` is relative to the -f directory (`/`-separated, no `..`, a .yaml or .yml name); the files
 * are planned as if they were in the controller's manifest directory, so they replace its whole
 * manifest set, and are checked by the same loader as files on disk (diagnostics at file:line:col,
 * each file within the same size limit). This module reads and checks the body; the composition
 * root (compose/preview.ts) plans.
 */
import { parseSelector, type Selector } from '../selector.js';
import type { Diagnostic, GitRevision, SourceRef } from '../types.js';
import type { Plan } from '../reconcile/contracts.js';
import { HttpError } from './http-errors.js';

/** The largest body accepted (JSON with base64 contents). */
export const PLAN_MAX_BODY = 16 * 1024 * 1024;
/** The most files one request may post. */
export const PLAN_MAX_FILES = 5000;

export interface PostedFile {
  /** Relative to the -f directory, `/`-separated. */
  path: string;
  bytes: Uint8Array;
  /** The client could not read it: the loader's code (file.too-large, file.unreadable) and message. */
  unreadable?: { code: string; message: string };
}

export interface PlanPreviewRequest {
  files: PostedFile[];
  allowMassDelete: boolean;
  selector?: Selector;
  revision?: GitRevision;
}

/** The answer: files in diagnostics and sources are the posted paths. */
export interface PlanPreviewResponse {
  plan: Plan;
  diagnostics: Diagnostic[];
  sources: Record<string, SourceRef>;
  /** The commit the controller's own manifests were last taken in at. */
  controllerRevision?: string;
  /** When the cluster was observed (ISO). */
  observedAt: string;
}

const SAFE_SEGMENT = /^[^/\\\0]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A posted path, or a 400 naming `files[i].path`. */
export function checkPostedPath(path: unknown, i: number): string {
  const param = `files[${i}].path`;
  const bad = (why: string): never => {
    throw new HttpError(400, 'invalid_parameter', `${param}: ${why}`, param);
  };
  if (typeof path !== 'string' || path === '') return bad('must be a non-empty string');
  if (path.length > 1024) bad('is longer than 1024 characters');
  const segments = path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || !SAFE_SEGMENT.test(s)))
    bad(`'${path.slice(0, 80)}' must be relative, '/'-separated, without '.', '..' or empty parts`);
  if (!/\.ya?ml$/i.test(path)) bad(`'${path.slice(0, 80)}' is not a .yaml or .yml file`);
  return path;
}

/** Reads the request body into a PlanPreviewRequest, or throws a 400 naming the parameter. */
export function parsePlanRequest(body: Record<string, unknown>): PlanPreviewRequest {
  const files = body.files;
  if (!Array.isArray(files))
    throw new HttpError(400, 'invalid_parameter', 'files must be an array of {path, content}', 'files');
  if (files.length > PLAN_MAX_FILES)
    throw new HttpError(400, 'invalid_parameter', `files: at most ${PLAN_MAX_FILES} files`, 'files');
  const seen = new Set<string>();
  const posted = files.map((f: unknown, i): PostedFile => {
    if (f === null || typeof f !== 'object' || Array.isArray(f))
      throw new HttpError(400, 'invalid_parameter', `files[${i}] must be an object`, `files[${i}]`);
    const entry = f as Record<string, unknown>;
    const path = checkPostedPath(entry.path, i);
    if (seen.has(path))
      throw new HttpError(400, 'invalid_parameter', `files[${i}].path: '${path}' twice`, `files[${i}].path`);
    seen.add(path);
    const unreadable = entry.unreadable as Record<string, unknown> | undefined;
    if (unreadable !== undefined) {
      const { code, message } = unreadable ?? {};
      if (
        typeof code !== 'string' ||
        !/^(file|path)\.[a-z-]{1,40}$/.test(code) ||
        typeof message !== 'string'
      )
        throw new HttpError(
          400,
          'invalid_parameter',
          `files[${i}].unreadable must be {code: file.*, message}`,
          `files[${i}].unreadable`,
        );
      return { path, bytes: new Uint8Array(), unreadable: { code, message: message.slice(0, 200) } };
    }
    const content = entry.content;
    if (typeof content !== 'string' || !BASE64.test(content))
      throw new HttpError(
        400,
        'invalid_parameter',
        `files[${i}].content must be base64 text`,
        `files[${i}].content`,
      );
    return { path, bytes: Buffer.from(content, 'base64') };
  });
  const allow = body.allowMassDelete;
  if (allow !== undefined && typeof allow !== 'boolean')
    throw new HttpError(400, 'invalid_parameter', 'allowMassDelete must be a boolean', 'allowMassDelete');
  const request: PlanPreviewRequest = { files: posted, allowMassDelete: allow === true };
  if (body.selector !== undefined) {
    if (typeof body.selector !== 'string')
      throw new HttpError(400, 'invalid_parameter', 'selector must be a string like site=dc1', 'selector');
    try {
      const selector = parseSelector(body.selector);
      if (selector) request.selector = selector;
    } catch (err) {
      throw new HttpError(400, 'invalid_parameter', `selector: ${(err as Error).message}`, 'selector');
    }
  }
  const rev = body.revision as Record<string, unknown> | undefined;
  if (rev !== undefined && rev !== null) {
    if (typeof rev.commit !== 'string' || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(rev.commit))
      throw new HttpError(400, 'invalid_parameter', 'revision.commit must be a commit id', 'revision.commit');
    request.revision = { commit: rev.commit };
    if (typeof rev.ref === 'string' && rev.ref.length <= 255) request.revision.ref = rev.ref;
  }
  return request;
}
