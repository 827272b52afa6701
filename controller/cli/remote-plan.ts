/**
 * `workerctl plan -f DIR --controller URL`: the manifest files under each -f directory are posted
 * to the running controller (POST /v1/plan, api/plan-request.ts), keyed by their path relative to
 * that directory, and planned there against the controller's state and a fresh observation. The
 * CI job needs no state directory and no Proxmox credentials, only the controller's API token. The
 * files are picked as every command picks them (manifest/walk.ts) and read within the same size
 * limit (manifest/read.ts); what comes back is shown with the paths as given here.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import type { ControllerClient } from '../api/client.js';
import type { PlanPreviewResponse } from '../api/plan-request.js';
import { UsageError } from '../errors.js';
import { displayPath } from '../manifest/finding.js';
import { pathDiagnostics } from '../manifest/load.js';
import { readManifestFile } from '../manifest/read.js';
import { collectManifestFiles } from '../manifest/walk.js';
import type { Diagnostic, GitRevision, SourceRef } from '../types.js';

/** The files to post: key (relative to its -f root, '/'-separated) -> absolute path. */
export interface PostSet {
  files: Map<string, string>;
  /** Paths that could not be walked, and files that could not be read: reported here, not posted. */
  problems: Diagnostic[];
}

/** Picks and keys the manifest files under `paths`; two files with one key is a usage error. */
export async function collectPostSet(paths: readonly string[]): Promise<PostSet> {
  const files = new Map<string, string>();
  const problems: Diagnostic[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    const st = await stat(abs).catch(() => undefined);
    const root = st?.isDirectory() ? abs : dirname(abs);
    const found = await collectManifestFiles([p]);
    problems.push(...pathDiagnostics(found.problems));
    for (const file of found.files) {
      const key = st?.isDirectory() ? relative(root, file).split(sep).join('/') : basename(file);
      const other = files.get(key);
      if (other !== undefined && other !== file)
        throw new UsageError(
          `--controller: ${displayPath(other)} and ${displayPath(file)} would both be ${key} on the controller; give one -f directory`,
        );
      files.set(key, file);
    }
  }
  return { files, problems };
}

/** What the controller answered, with its paths mapped back to the ones given on this side. */
export interface RemotePlan {
  response: PlanPreviewResponse;
  diagnostics: Diagnostic[];
  sources: Record<string, SourceRef>;
}

/** Reads the set, posts it, and maps the answer's paths back. */
export async function planRemotely(
  client: ControllerClient,
  set: PostSet,
  opts: { allowMassDelete: boolean; selector?: string; revision?: GitRevision; signal?: AbortSignal },
): Promise<RemotePlan> {
  const posted: Record<string, unknown>[] = [];
  for (const [key, file] of set.files) {
    const read = await readManifestFile(file);
    // Unread is invalid on the controller too: its workers keep their spec (invariant 1).
    if ('problem' in read)
      posted.push({ path: key, unreadable: { code: read.problem.code, message: read.problem.message } });
    else posted.push({ path: key, content: Buffer.from(read.bytes).toString('base64') });
  }
  const body: Record<string, unknown> = { files: posted, allowMassDelete: opts.allowMassDelete };
  if (opts.selector) body.selector = opts.selector;
  if (opts.revision) body.revision = opts.revision;
  const response = await client.plan(body, opts.signal);
  const shown = (key: string): string => {
    const file = set.files.get(key);
    return file ? displayPath(file) : key;
  };
  const sources: Record<string, SourceRef> = {};
  for (const [name, src] of Object.entries(response.sources))
    sources[name] = { ...src, file: shown(src.file) };
  const diagnostics = response.diagnostics.map((d) => ({ ...d, file: shown(d.file) }));
  return { response, diagnostics, sources };
}
