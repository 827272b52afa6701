/**
 * The manifests' health as an operator asks about it: did the last load pass read every file, which
 * files are invalid and where (file:line:col), when did the set last load cleanly, which revision is
 * loaded. Fed by the controller's `loaded` and `load-failed` events; read by the API (GET
 * /v1/manifests, the fleet page) and the metrics.
 */
import { isAbsolute, relative } from 'node:path';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import type { Plan } from '../reconcile/contracts.js';
import type { Diagnostic, LoadResult } from '../types.js';
import type { Controller, LoadedEvent } from './controller.js';
import type { LoadSummary } from './snapshot.js';

/** Diagnostics kept for the view (errors first); the rest are counted. */
export const MAX_DIAGNOSTICS = 200;

export interface ManifestDiagnostic {
  file: string;
  line: number;
  col: number;
  severity: Diagnostic['severity'];
  code: string;
  message: string;
  hint?: string;
}

/** One load pass (the live view's summary of it, with the revision and how long it took). */
export interface ManifestLoad extends Omit<LoadSummary, 'massDeleteBlocked'> {
  /** The loaded revision (a Git commit), when the load result names one. */
  revision?: string;
  durationMs: number;
}

export interface ManifestHealthView {
  /** The manifest paths the controller watches. */
  paths: string[];
  /** The last load pass that read the manifests (none before the first). */
  lastLoad?: ManifestLoad;
  /** ISO time of the last pass in which every file was valid. */
  lastSuccessAt?: string;
  /** The last attempt could not read the manifests at all (a path missing or unreadable). */
  loadError?: { at: string; message: string };
  /** The last pass's diagnostics, errors first, at most MAX_DIAGNOSTICS. */
  diagnostics: ManifestDiagnostic[];
  diagnosticsOmitted: number;
  /** Deletions the mass-delete guard holds back (invariant 2). */
  massDeleteBlocked?: Plan['massDeleteBlocked'];
}

/**
 * The revision a load result names, if any: the GitOps work records the checkout's commit on the
 * load result (as a string, or an object with `commit`); without it there is none.
 */
export function revisionOf(load: LoadResult): string | undefined {
  const r = (load as { revision?: unknown }).revision;
  if (typeof r === 'string' && r) return r;
  if (r && typeof r === 'object' && typeof (r as { commit?: unknown }).commit === 'string')
    return (r as { commit: string }).commit;
  return undefined;
}

/** A path as the operator typed it: relative to the working directory when inside it. */
function shown(file: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export class ManifestHealth {
  readonly #paths: string[];
  readonly #clock: Clock;
  #view: Omit<ManifestHealthView, 'paths'> = { diagnostics: [], diagnosticsOmitted: 0 };
  readonly #listeners = new Set<(view: ManifestHealthView) => void>();

  constructor(paths: string[], clock: Clock = systemClock) {
    this.#paths = paths.map(shown);
    this.#clock = clock;
  }

  /** Follows a controller's load passes from now on; returns the unsubscribe function. */
  follow(controller: Pick<Controller, 'on' | 'off'>): () => void {
    const onLoaded = (e: LoadedEvent) => this.loaded(e);
    const onFailed = (e: { error: string }) => this.failed(e.error);
    controller.on('loaded', onLoaded);
    controller.on('load-failed', onFailed);
    return () => {
      controller.off('loaded', onLoaded);
      controller.off('load-failed', onFailed);
    };
  }

  /** A load pass that read the manifests (some files may be invalid). */
  loaded(e: Pick<LoadedEvent, 'load' | 'plan' | 'durationMs'>): void {
    const { load } = e;
    const at = isoNow(this.#clock);
    const errors = load.diagnostics.filter((d) => d.severity === 'error');
    const ordered = [...errors, ...load.diagnostics.filter((d) => d.severity !== 'error')];
    const revision = revisionOf(load);
    this.#view = {
      lastLoad: {
        at,
        files: load.files.length,
        workers: load.workers.length,
        invalidFiles: load.invalidFiles.map(shown),
        errors: errors.length,
        warnings: load.diagnostics.length - errors.length,
        ...(revision ? { revision } : {}),
        durationMs: e.durationMs,
      },
      lastSuccessAt: load.invalidFiles.length === 0 ? at : this.#view.lastSuccessAt,
      diagnostics: ordered.slice(0, MAX_DIAGNOSTICS).map((d) => ({
        file: shown(d.file),
        line: d.line,
        col: d.col,
        severity: d.severity,
        code: d.code,
        message: d.message,
        ...(d.hint ? { hint: d.hint } : {}),
      })),
      diagnosticsOmitted: Math.max(0, ordered.length - MAX_DIAGNOSTICS),
      ...(e.plan.massDeleteBlocked ? { massDeleteBlocked: e.plan.massDeleteBlocked } : {}),
    };
    this.#changed();
  }

  /** A load pass that could not read the manifests: the last valid specs stay in force. */
  failed(message: string): void {
    this.#view = { ...this.#view, loadError: { at: isoNow(this.#clock), message } };
    this.#changed();
  }

  view(): ManifestHealthView {
    return { paths: this.#paths, ...this.#view };
  }

  /** Called after every pass. */
  onChange(fn: (view: ManifestHealthView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    const view = this.view();
    for (const fn of this.#listeners) fn(view);
  }
}
