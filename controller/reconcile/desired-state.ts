/**
 * Merging a manifest load into the worker records. Pure (the caller passes time and uid maker).
 * - Invariant 1: a file with errors changes nothing: its workers keep their last valid spec, and
 *   docs found in it are ignored (a half-written file may hold a half-written spec).
 * - A worker whose file vanished, or whose doc left a valid file, is desired absent.
 * - Invariant 2: if the removals exceed the mass-delete threshold (or would leave no worker at all)
 *   and allowMassDelete is off, ALL removals are held back and reported.
 * - Deletion needs positive evidence (issue 11): a worker is marked for removal only when a file set
 *   that reads cleanly no longer declares it, and has not for `removalSettleMs`. A file that cannot
 *   be read, a dangling symlink (an invalid path also protects what came from under it), a file that
 *   changed while it was read, and an empty file keep their workers on the last spec; a worker
 *   declared again is simply kept (or, already marked, unmarked at once).
 */
import { EMPTY_FILE_CODE, type LoadResult, type WorkerRecord } from '../types.js';
import { sep } from 'node:path';
import type { ControllerSettings, Plan } from './contracts.js';

/** When undeclared workers were first seen undeclared (ms), between merges. */
export type AbsentSince = ReadonlyMap<string, number>;

export interface MergeResult {
  /** Records to save (new, changed, or newly marked for removal / unmarked). */
  save: WorkerRecord[];
  /** Names whose desired state changed (new, spec changed, re-added). */
  changed: string[];
  /** Names newly marked for removal. */
  removed: string[];
  massDeleteBlocked?: Plan['massDeleteBlocked'];
  /** The undeclared workers not marked yet, with when they were first seen undeclared (ms). */
  absentSince: Map<string, number>;
  /** Workers kept on their last spec because their file is empty or unreadable, with the file. */
  kept: { name: string; file: string }[];
}

/** Files whose workers keep their last spec: invalid paths (and what is under them) and empty files. */
function protectedSource(load: LoadResult): (file: string | undefined) => string | undefined {
  const paths = [
    ...load.invalidFiles,
    ...load.diagnostics.filter((d) => d.code === EMPTY_FILE_CODE).map((d) => d.file),
  ];
  const exact = new Set(paths);
  return (file) => {
    if (file === undefined) return undefined;
    if (exact.has(file)) return file;
    return paths.find((p) => file.startsWith(p.endsWith(sep) ? p : p + sep));
  };
}

export function mergeDesired(
  records: readonly WorkerRecord[],
  load: LoadResult,
  settings: Pick<ControllerSettings, 'massDelete' | 'allowMassDelete' | 'removalSettleMs'>,
  now: string,
  newUid: () => string,
  absentSince: AbsentSince = new Map(),
  /**
   * Workers not marked for removal in the whole fleet, when `records` is only part of it (the
   * intake's partial merge); the mass-delete guard weighs removals against the fleet.
   */
  activeInFleet?: number,
): MergeResult {
  const invalid = new Set(load.invalidFiles);
  const shield = protectedSource(load);
  const nowMs = Date.parse(now);
  const byName = new Map(records.map((r) => [r.name, r]));
  const loaded = load.workers.filter((w) => !invalid.has(w.source.file));
  const loadedNames = new Set(loaded.map((w) => w.spec.name));
  const save: WorkerRecord[] = [];
  const changed: string[] = [];
  const revision = load.revision;
  // The commit in history causes, so events and `status` say which revision brought a change.
  const at = revision ? ` @ ${revision.slice(0, 7)}` : '';

  for (const w of loaded) {
    const name = w.spec.name;
    const prev = byName.get(name);
    if (!prev) {
      const added: WorkerRecord = {
        name,
        spec: w.spec,
        specHash: w.specHash,
        generation: 1,
        source: w.source,
        uid: newUid(),
        status: {
          phase: 'Configured',
          conditions: [],
          observedGeneration: 0,
          sessions: [],
          history: [{ time: now, action: 'added', cause: `${w.source.file}:${w.source.line}${at}` }],
        },
      };
      if (revision) added.revision = revision;
      save.push(added);
      changed.push(name);
      continue;
    }
    const specChanged = prev.specHash !== w.specHash;
    const readded = prev.removeRequestedAt !== undefined;
    const moved = prev.source?.file !== w.source.file || prev.source?.line !== w.source.line;
    if (!specChanged && !readded && !moved && prev.uid) continue;
    const next: WorkerRecord = { ...prev, source: w.source, uid: prev.uid ?? newUid() };
    if (specChanged) {
      next.spec = w.spec;
      next.specHash = w.specHash;
      next.generation = prev.generation + 1;
      if (revision) next.revision = revision;
      else delete next.revision;
      next.status = {
        ...prev.status,
        history: [
          ...prev.status.history,
          { time: now, action: 'spec changed', cause: `generation ${next.generation}${at}` },
        ],
      };
    }
    if (readded) delete next.removeRequestedAt;
    save.push(next);
    if (specChanged || readded) changed.push(name);
  }

  // Desired absent: not loaded, and not protected by an invalid or empty file (invariant 1).
  const kept: MergeResult['kept'] = [];
  const undeclared = records.filter((r) => {
    if (loadedNames.has(r.name) || r.removeRequestedAt !== undefined) return false;
    const file = shield(r.source?.file);
    if (file !== undefined) kept.push({ name: r.name, file });
    return file === undefined;
  });
  // ... and undeclared for the settle window: a half-written file is rewritten long before it ends.
  const since = new Map<string, number>();
  const settleMs = settings.removalSettleMs ?? 0;
  const gone = undeclared.filter((r) => {
    const first = absentSince.get(r.name) ?? nowMs;
    const ripe = nowMs - first >= settleMs;
    if (!ripe) since.set(r.name, first);
    return ripe;
  });
  const active = activeInFleet ?? records.filter((r) => r.removeRequestedAt === undefined).length;
  const remaining = active - gone.length;
  const { maxFraction, minCount } = settings.massDelete;
  const tooMany = gone.length >= minCount && gone.length / Math.max(active, 1) > maxFraction;
  const result: MergeResult = { save, changed, removed: [], absentSince: since, kept };
  if (gone.length > 0 && !settings.allowMassDelete && (tooMany || remaining === 0)) {
    result.massDeleteBlocked = {
      wouldDelete: gone.length,
      of: active,
      threshold: `more than ${Math.round(maxFraction * 100)}% and at least ${minCount} workers, or every worker, need allowMassDelete`,
    };
    for (const r of gone) since.set(r.name, absentSince.get(r.name) ?? nowMs);
    return result;
  }
  for (const r of gone) {
    save.push({
      ...r,
      removeRequestedAt: now,
      status: {
        ...r.status,
        history: [
          ...r.status.history,
          { time: now, action: 'removal requested', cause: 'no manifest declares it' },
        ],
      },
    });
    result.removed.push(r.name);
  }
  return result;
}
