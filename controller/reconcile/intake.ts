/**
 * Manifest intake: merges a manifest load into the workers' desired state (desired-state.ts, pure)
 * and writes it, with the mass-delete guard's verdict (invariants 1 and 2). The one writer of the
 * desired state; it returns which workers changed, and the fleet's plan as a preview.
 */
import { randomUUID } from 'node:crypto';
import { isoNow } from '../clock.js';
import { matchesSelector, type Selector } from '../selector.js';
import type { DesiredState, LoadResult, WorkerRecord } from '../types.js';
import type { IntakeResult, Plan, ReconcileDeps } from './contracts.js';
import { mergeDesired } from './desired-state.js';
import { changedPaths, covers, digestLoad, type LoadDigest } from './load-digest.js';
import type { Reconciler } from './reconciler.js';
import type { DesiredChange } from '../store/store.js';

/** The store meta key of the mass-delete guard's last verdict. */
export const MASS_DELETE_META = 'massDeleteBlocked';
/** The store meta key of the manifests last taken in: their Git revision (ManifestsMeta). */
export const MANIFESTS_META = 'manifests';

/** What the store remembers of the manifests last taken in. */
export interface ManifestsMeta {
  /** The Git commit, when the manifests are in a Git checkout. */
  revision?: string;
  /** Its branch, when HEAD was on one. */
  ref?: string;
  /** When that revision was first taken in (ISO). */
  since: string;
}

/**
 * The workers a label selector takes in: a worker the manifests declare (in a valid file) by its
 * labels there; any other recorded worker (removed, or in an invalid file) by its recorded labels.
 * So a label changed in the manifests moves the worker in or out of scope as a whole, never halfway
 * (it is not "removed" from a scope it left).
 */
export function selectorScope(
  records: readonly WorkerRecord[],
  load: LoadResult,
  selector: Selector,
): Set<string> {
  const invalid = new Set(load.invalidFiles);
  const loaded = new Map(
    load.workers.filter((w) => !invalid.has(w.source.file)).map((w) => [w.spec.name, w.spec.labels]),
  );
  const scope = new Set<string>();
  for (const [name, labels] of loaded) if (matchesSelector(selector, labels)) scope.add(name);
  for (const r of records) {
    if (!loaded.has(r.name) && matchesSelector(selector, r.spec.labels)) scope.add(r.name);
  }
  return scope;
}

export class Intake {
  #massDeleteBlocked: Plan['massDeleteBlocked'];
  /** The workers in scope of settings.selector at the last intake (undefined: no selector). */
  #scope?: Set<string>;
  readonly #newUid: () => string;
  /** When each undeclared worker was first seen undeclared (memory: a restart waits the window again). */
  #absentSince = new Map<string, number>();
  /** Workers kept on their last spec (empty or unreadable file), with the file. */
  #kept = new Map<string, string>();
  #lastKept = '[]';
  /** What the last saved merge's load said (the baseline of a partial merge). */
  #last: LoadDigest | undefined;

  constructor(
    private readonly deps: ReconcileDeps,
    private readonly reconciler: Reconciler,
    newUid: () => string = () => randomUUID(),
  ) {
    this.#newUid = newUid;
    this.#massDeleteBlocked = deps.store.getMeta<Plan['massDeleteBlocked']>(MASS_DELETE_META);
  }

  /** The last mass-delete guard verdict (undefined when removals went through). */
  get massDeleteBlocked(): Plan['massDeleteBlocked'] {
    return this.#massDeleteBlocked;
  }

  /** False for a worker the label selector leaves out (settings.selector). */
  inScope(name: string): boolean {
    if (this.#scope) return this.#scope.has(name);
    const selector = this.deps.settings.selector;
    if (!selector) return true;
    const rec = this.deps.store.getWorker(name);
    return rec !== undefined && matchesSelector(selector, rec.spec.labels);
  }

  /** The records in scope of the selector, or undefined when there is no selector (all of them). */
  scopedRecords(): WorkerRecord[] | undefined {
    if (!this.#scope && !this.deps.settings.selector) return undefined;
    return this.deps.store.listWorkers().filter((r) => this.inScope(r.name));
  }

  /**
   * Merges `load` into the records and saves them. On a read-only store (a plan while a controller
   * runs) nothing is written: the plan shows the merge all the same. With a label selector, only the
   * workers in its scope are taken in (selectorScope), with `only` only those workers (adopt); the
   * others stay as recorded.
   *
   * `partial`: merge and plan only the workers the load can have changed since the last merge (see
   * #partialScope), not the whole fleet. The outcome is the same as a full merge's; the returned plan
   * then covers only the changed and removed workers. A full merge runs when there is no last merge to
   * compare with (the first, one after a failure, one narrowed by a selector or `only`) or when more
   * than a quarter of the files changed.
   */
  async applyDesired(
    fullLoad: LoadResult,
    only?: ReadonlySet<string>,
    opts: { partial?: boolean; beforeSaved?: boolean } = {},
  ): Promise<IntakeResult> {
    try {
      return await this.#apply(fullLoad, only, opts.partial === true, opts.beforeSaved === true);
    } catch (err) {
      // What was saved is unknown: the next merge compares with nothing and is full.
      this.#last = undefined;
      throw err;
    }
  }

  async #apply(
    fullLoad: LoadResult,
    only: ReadonlySet<string> | undefined,
    partial: boolean,
    beforeSaved: boolean,
  ) {
    const { store, clock, logger } = this.deps;
    const selector = this.deps.settings.selector;
    const digest = digestLoad(fullLoad);
    // A selector or `only` narrows the merge its own way: those merge in full.
    const part =
      partial && !only && !selector && !store.readOnly ? this.#partialScope(digest, fullLoad) : undefined;
    let snapshot: WorkerRecord[];
    let load: LoadResult;
    if (part) {
      this.#scope = undefined;
      snapshot = part.records;
      load = { ...fullLoad, workers: fullLoad.workers.filter((w) => part.names.has(w.spec.name)) };
    } else {
      const all = store.listWorkers();
      this.#scope = only ? new Set(only) : selector ? selectorScope(all, fullLoad, selector) : undefined;
      const scope = this.#scope;
      snapshot = scope ? all.filter((r) => scope.has(r.name)) : all;
      load = scope
        ? { ...fullLoad, workers: fullLoad.workers.filter((w) => scope.has(w.spec.name)) }
        : fullLoad;
    }
    const before = new Map(snapshot.map((r) => [r.name, r]));
    const merged = mergeDesired(
      snapshot,
      load,
      this.deps.settings,
      isoNow(clock),
      this.#newUid,
      this.#absentSince,
      part?.active,
    );
    const settling = settlingOf(merged.absentSince, this.deps.settings.removalSettleMs ?? 0, clock.now());
    if (store.readOnly) {
      return {
        changed: merged.changed,
        removed: merged.removed,
        plan: await this.#preview(merged),
        settling,
      };
    }
    this.#absentSince = merged.absentSince;
    this.#massDeleteBlocked = merged.massDeleteBlocked;
    if (!part) this.#kept.clear();
    for (const name of part?.names ?? []) this.#kept.delete(name);
    for (const k of merged.kept) this.#kept.set(k.name, k.file);
    const kept = [...this.#kept].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const keptKey = JSON.stringify(kept);
    const keptChanged = keptKey !== this.#lastKept;
    this.#lastKept = keptKey;
    for (const [file, names] of keptChanged ? groupBy(kept) : []) {
      logger.warn('workers keep their last spec: their file is empty or cannot be read whole', {
        file,
        workers: names,
      });
    }
    if (settling && !merged.massDeleteBlocked) {
      logger.info('undeclared workers wait out the settle window before removal', {
        workers: settling.workers,
        dueInMs: Math.max(0, settling.dueAt - clock.now()),
      });
    }
    // Only the desired state is written (and the history entries the merge added): an intent or a
    // vmid the executor saved since the snapshot is its own section and stays (invariant 4).
    const changes: DesiredChange[] = merged.save.map((rec) => ({
      name: rec.name,
      desired: desiredOf(rec),
      history: rec.status.history.slice(before.get(rec.name)?.status.history.length ?? 0),
    }));
    // The store takes the records into memory at once; the file write (one durable write for the whole
    // merge) runs while the plan reads Proxmox, so a saved manifest reaches its first Proxmox call without
    // waiting for the disk. It is awaited before returning (unless `beforeSaved`: see IntakeResult.saved).
    const saving = (async () => {
      // Queued together, the desired state and a new revision go out in one durable write.
      await Promise.all([store.saveDesired(changes), this.#saveRevision(load)]);
      if (JSON.stringify(merged.massDeleteBlocked) !== JSON.stringify(store.getMeta(MASS_DELETE_META))) {
        await store.setMeta(MASS_DELETE_META, merged.massDeleteBlocked);
      }
    })().then(
      () => undefined,
      (err: unknown) => ({ failed: err }),
    );
    if (merged.massDeleteBlocked) {
      logger.warn('mass delete held back', { ...merged.massDeleteBlocked });
    }
    // A partial merge plans what it changed; a full one the fleet.
    const touched = part
      ? [...new Set([...merged.changed, ...merged.removed])].sort().flatMap((n) => store.getWorker(n) ?? [])
      : undefined;
    // The plan is a preview: when Proxmox cannot be read now, plan from what was observed last.
    const planned = touched ?? this.scopedRecords();
    const plan = await this.reconciler.plan(this.#massDeleteBlocked, planned).catch((err: unknown) => {
      logger.warn('plan without a fresh observation', { err });
      return this.reconciler.planObserved(this.#massDeleteBlocked, planned);
    });
    const finish = (saved: { failed: unknown } | undefined): void => {
      if (saved) throw saved.failed;
      // A merge narrowed by a selector or `only` left the others as they were: no baseline.
      this.#last = only || selector ? undefined : digest;
    };
    const result: IntakeResult = { changed: merged.changed, removed: merged.removed, plan, settling };
    if (touched) result.planned = touched.map((r) => r.name);
    if (beforeSaved) {
      result.saved = saving.then(finish).catch((err: unknown) => {
        this.#last = undefined;
        throw err;
      });
    } else {
      finish(await saving);
    }
    return result;
  }

  /**
   * The part of the fleet a partial merge must look at, or undefined for a full merge. The records
   * whose merge outcome can differ from the last merge's are those (1) declared by a file whose
   * workers changed, (2) recorded from a path that changed (a file that vanished or no longer
   * declares them, a path that became or stopped being a shield), and (3) undeclared but not yet
   * removed (settle window, mass-delete guard). Every other record is declared, unchanged, by the
   * same file as at the last merge, which saved it as such: a full merge would leave it alone.
   */
  #partialScope(digest: LoadDigest, load: LoadResult): MergeScope | undefined {
    if (!this.#last) return undefined;
    const paths = changedPaths(this.#last, digest);
    // A checkout of a large part of the tree: one pass over everything is as cheap as picking.
    if (paths.size > Math.max(16, digest.files.size / 4)) return undefined;
    const names = new Set<string>(this.#absentSince.keys());
    for (const w of load.workers) if (paths.has(w.source.file)) names.add(w.spec.name);
    let active = 0;
    for (const s of this.deps.store.workerSources()) {
      if (!s.removeRequested) active++;
      if (covers(paths, s.file)) names.add(s.name);
    }
    const records = [...names].sort().flatMap((n) => this.deps.store.getWorker(n) ?? []);
    return { names, records, active };
  }

  /** Remembers the manifests' Git revision when it changed (status and the API show it). */
  async #saveRevision(load: LoadResult): Promise<void> {
    const { store, clock } = this.deps;
    const meta = store.getMeta<ManifestsMeta>(MANIFESTS_META);
    if (meta?.revision === load.revision && meta?.ref === load.revisionRef) return;
    const next: ManifestsMeta = { since: isoNow(clock) };
    if (load.revision) next.revision = load.revision;
    if (load.revisionRef) next.ref = load.revisionRef;
    await store.setMeta(MANIFESTS_META, next);
  }

  async #preview(merged: ReturnType<typeof mergeDesired>): Promise<Plan> {
    const records = new Map<string, WorkerRecord>(
      (this.scopedRecords() ?? this.deps.store.listWorkers()).map((r) => [r.name, r]),
    );
    for (const r of merged.save) records.set(r.name, r);
    return this.reconciler.plan(merged.massDeleteBlocked, [...records.values()]);
  }
}

/** The workers still inside the settle window and when the first leaves it (none: undefined). */
function settlingOf(
  absentSince: ReadonlyMap<string, number>,
  settleMs: number,
  nowMs: number,
): IntakeResult['settling'] {
  const waiting = [...absentSince].filter(([, first]) => first + settleMs > nowMs);
  if (waiting.length === 0) return undefined;
  return {
    workers: waiting.map(([name]) => name).sort(),
    dueAt: Math.min(...waiting.map(([, first]) => first)) + settleMs,
  };
}

function groupBy(kept: readonly [name: string, file: string][]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, file] of kept) out.set(file, [...(out.get(file) ?? []), name]);
  return out;
}

/** The records a partial merge looks at, by name, and the fleet's count of workers not being removed. */
interface MergeScope {
  names: Set<string>;
  records: WorkerRecord[];
  active: number;
}

/** The desired-state fields of a record. */
export function desiredOf(rec: WorkerRecord): DesiredState {
  const d: DesiredState = { spec: rec.spec, specHash: rec.specHash, generation: rec.generation };
  if (rec.source) d.source = rec.source;
  if (rec.uid !== undefined) d.uid = rec.uid;
  if (rec.removeRequestedAt !== undefined) d.removeRequestedAt = rec.removeRequestedAt;
  if (rec.revision !== undefined) d.revision = rec.revision;
  return d;
}
