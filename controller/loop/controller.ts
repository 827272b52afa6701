/**
 * The controller loop: ties the manifest loader, the store, the work queue and the reconcile core
 * together.
 *
 *   manifests --(watcher: "something changed")--> load pass --applyDesired--> changed keys --+
 *   resync timer (jittered) --> load pass + one observation --> every recorded key ----------+--> queue
 *   queue --> N workers --> reconciler.reconcile(name, signal) --> Result/error table --> queue
 *
 * Level-triggered throughout: a load pass reads the whole manifest set, a reconcile reads everything
 * it needs for its key, and the queue only ever holds names. The Result/error table lives in
 * queue/work-queue.ts runWorkers and nowhere else; the lifecycle holds a worker against the queue
 * through hold() (reconcile/contracts.ts WorkerHolds).
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import type { Clock } from '../clock.js';
import { systemClock, isoNow } from '../clock.js';
import { TerminalError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type {
  ControllerSettings,
  FleetReconciler,
  HeldWorker,
  Plan,
  PowerOp,
  ReconcileResult,
  WorkerHolds,
} from '../reconcile/contracts.js';
import type { Store } from '../store/store.js';
import type { Diagnostic, LoadResult, WorkerRecord } from '../types.js';
import type { ControllerSnapshot, LoadSummary } from './snapshot.js';
import { isReady } from './snapshot.js';
import { ExponentialBackoff, jitter } from '../queue/rate-limiter.js';
import { WorkQueue, runWorkers, type ItemOutcome } from '../queue/work-queue.js';
import { ManifestWatcher, type ChangeBatch } from '../manifest/watch.js';
import { patchPlan } from '../reconcile/plan.js';
import { manifestRevision } from '../manifest/git-revision.js';
import { findBlockers, isStuck, type Blocker } from './blockers.js';

/** Problems after which the manifest set is not known: nothing changes until they are gone (invariant 2). */
const SET_UNKNOWN = new Set(['path.missing', 'path.unreadable', 'path.limit']);

/** Loads the whole manifest set (manifest/load.ts `loadManifests`, or a cached loader). */
export type LoadFn = (paths: string[]) => Promise<LoadResult>;

export interface ControllerOptions {
  /** Manifest directories or files. */
  manifestPaths: string[];
  load: LoadFn;
  reconciler: FleetReconciler;
  store: Store;
  settings: ControllerSettings;
  logger: Logger;
  clock?: Clock;
  /** Concurrent reconciles (different keys; one key is never reconciled twice at once). Default 32. */
  workers?: number;
  /** Watch the manifest paths (run) or not (apply). Default true. */
  watch?: boolean;
  /** Watcher debounce: quiet period and max wait, ms. */
  debounce?: { quietMs?: number; maxWaitMs?: number };
  /** Periodic full resync (default settings.resyncIntervalMs; 0 disables), ±10% jitter. */
  resyncIntervalMs?: number;
  /**
   * One reconcile may take at most this long before it is aborted (default 30 min: waiting for a clone
   * slot counts, and a big fleet's clones queue behind each other; an aborted wait is resumed later).
   */
  reconcileTimeoutMs?: number;
  /** Per-key retry backoff after an error: base and cap, ms (default 1 s -> 5 min). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Close the store in stop() (default true). */
  closeStore?: boolean;
  /**
   * A reload after a manifest change merges and plans only the workers it can have changed
   * (reconcile/intake.ts); the first load and every resync merge the whole fleet. Default true;
   * false merges the whole fleet on every load (the benchmark's comparison).
   */
  partialLoads?: boolean;
}

/** Why a worker is not converged, for `apply --wait` failures. */
export interface NotConverged {
  worker: string;
  reason: string;
}

export interface ConvergenceResult {
  converged: boolean;
  plan: Plan;
  pending: NotConverged[];
  elapsedMs: number;
  /** Set when the wait ended early because nothing progresses and a person must act (blockers.ts). */
  blocked?: Blocker[];
  /** Set when the wait was aborted (a signal). */
  interrupted?: boolean;
}

export interface ReconciledEvent {
  worker: string;
  durationMs: number;
  requeueAfterMs?: number;
  error?: string;
  terminal?: boolean;
}

export interface LoadedEvent {
  load: LoadResult;
  changed: string[];
  removed: string[];
  /** The plan of the workers this load merged: after a partial merge only those (IntakeResult.planned). */
  plan: Plan;
  durationMs: number;
  /** Set for watcher-triggered passes: when the first file event of the burst was seen. */
  firstEventAt?: number;
}

export interface ControllerEvents {
  loaded: [LoadedEvent];
  'load-failed': [{ error: string }];
  reconciled: [ReconciledEvent];
  resync: [{ workers: number; durationMs: number }];
  idle: [];
  stopped: [];
}

/** The controller: one instance per `run` / `apply`. */
export class Controller extends EventEmitter<ControllerEvents> implements WorkerHolds {
  readonly #o: ControllerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queue: WorkQueue<string>;
  readonly #abort = new AbortController();
  #watcher?: ManifestWatcher;
  #workers?: Promise<void>;
  #inFlight = new Set<string>();
  #started = false;
  #stopping = false;
  #stopped?: Promise<void>;
  #startedAt = '';
  #lastLoad?: LoadSummary;
  #lastPlan?: Plan;
  #reconciles = 0;
  #failures = 0;
  #lastWorkers: WorkerRecord[] = [];
  #storeClosed = false;
  /** Diagnostics already logged (a resync reload does not repeat them). */
  #reported = new Set<string>();
  // Load passes are serialised; a change during a pass schedules exactly one more.
  #loadRunning?: Promise<void>;
  #loadAgain = false;
  #loadAgainEventAt?: number;
  /** The next load pass merges the whole fleet (a resync asked for it). */
  #loadFull = false;
  /** ControllerOptions.partialLoads, switchable while running (the benchmark compares both). */
  partialLoads: boolean;
  #resyncTimer?: NodeJS.Timeout;
  #nextResyncAt?: number;
  /** A load pass scheduled for later (the removal settle window, a file caught mid-write). */
  #laterLoad?: { at: number; timer: NodeJS.Timeout };

  constructor(options: ControllerOptions) {
    super();
    this.#o = options;
    this.partialLoads = options.partialLoads !== false;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
    this.#queue = new WorkQueue<string>({
      clock: this.#clock,
      rateLimiter: new ExponentialBackoff<string>({
        baseMs: options.backoff?.baseMs ?? 1000,
        maxMs: options.backoff?.maxMs ?? 5 * 60_000,
      }),
    });
  }

  /**
   * Initial load pass, one observation, every recorded worker queued; then the watcher, the workers
   * and the resync timer start. Resolves once all of that is running (not when converged).
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('controller already started');
    this.#started = true;
    this.#startedAt = isoNow(this.#clock);
    await this.#loadPass();
    await this.#observeAndEnqueueAll();
    const n = Math.max(1, this.#o.workers ?? 32);
    // One abort listener per reconcile in flight on the shared stop signal.
    setMaxListeners(n + 16, this.#abort.signal);
    this.#workers = runWorkers(this.#queue, (key, signal) => this.#reconcileOne(key, signal), {
      concurrency: n,
      clock: this.#clock,
      logger: this.#log,
      timeoutMs: this.#o.reconcileTimeoutMs ?? 30 * 60_000,
      signal: this.#abort.signal,
      onOutcome: (o) => this.#onOutcome(o),
    });
    if (this.#o.watch !== false) {
      this.#watcher = new ManifestWatcher({
        paths: this.#o.manifestPaths,
        logger: this.#log,
        quietMs: this.#o.debounce?.quietMs,
        maxWaitMs: this.#o.debounce?.maxWaitMs,
        onChange: (batch) => this.#onManifestChange(batch),
      });
      await this.#watcher.start();
    }
    this.#scheduleResync();
    this.#log.info('controller started', {
      paths: this.#o.manifestPaths,
      concurrency: n,
      watch: this.#o.watch !== false,
      resyncMs: this.#resyncMs(),
    });
  }

  /** A consistent view for the live view and the HTTP API. */
  snapshot(): ControllerSnapshot {
    // After stop() the store is closed: show the last records seen.
    if (!this.#storeClosed) this.#lastWorkers = this.#o.store.listWorkers();
    return {
      startedAt: this.#startedAt,
      workers: this.#lastWorkers,
      queue: { ready: this.#queue.len(), processing: [...this.#inFlight] },
      lastLoad: this.#lastLoad,
      nextResyncAt: this.#nextResyncAt,
      reconciles: this.#reconciles,
      failures: this.#failures,
      stopping: this.#stopping,
    };
  }

  /** Changes the watcher's debounce while running (the benchmark compares settings in one run). */
  setDebounce(debounce: { quietMs?: number; maxWaitMs?: number }): void {
    this.#watcher?.setDebounce(debounce);
  }

  /** The plan computed by the last load pass or convergence check. */
  get lastPlan(): Plan | undefined {
    return this.#lastPlan;
  }

  /** Queue a worker now (e.g. the HTTP API after a test request). */
  enqueue(name: string): void {
    if (!this.#stopping) this.#queue.add(name);
  }

  /**
   * Holds a worker for the lifecycle (WorkerHolds): waits for a reconcile of it in flight, then keeps
   * the queue from handing it out until fn ends; a change meanwhile is reconciled right after.
   * Within, the lifecycle reconciles the worker itself (an OnDemand deploy) and powers it.
   */
  async hold<T>(name: string, fn: (held: HeldWorker) => Promise<T>): Promise<T> {
    await this.#queue.take(name);
    const fallback = this.#abort.signal;
    try {
      return await fn({
        name,
        reconcile: (signal) => this.#reconcileHeld(name, signal ?? fallback),
        power: (op: PowerOp, cause: string, signal?: AbortSignal) =>
          this.#o.reconciler.power(name, op, cause, signal ?? fallback),
      });
    } finally {
      this.#queue.done(name);
      this.#maybeIdle();
    }
  }

  /** A reconcile asked for by a hold's owner: counted and reported like the queue's. */
  async #reconcileHeld(name: string, signal: AbortSignal): Promise<ReconcileResult> {
    const t0 = this.#clock.now();
    this.#inFlight.add(name);
    try {
      const res = await this.#o.reconciler.reconcile(name, signal);
      this.#reconciles++;
      const event: ReconciledEvent = { worker: name, durationMs: this.#clock.now() - t0 };
      if (res.requeueAfterMs !== undefined) event.requeueAfterMs = res.requeueAfterMs;
      this.emit('reconciled', event);
      return res;
    } catch (err) {
      this.#reconciles++;
      this.#failures++;
      const terminal = err instanceof TerminalError;
      this.emit('reconciled', {
        worker: name,
        durationMs: this.#clock.now() - t0,
        error: errorMessage(err),
        terminal,
      });
      throw err;
    } finally {
      this.#inFlight.delete(name);
    }
  }

  /** Re-reads the manifests now (what the watcher triggers), serialised with other passes. */
  async reload(): Promise<void> {
    await this.#requestLoad();
  }

  /** A full resync now: reload, one observation, every worker queued. */
  async resync(): Promise<void> {
    const t0 = this.#clock.now();
    await this.#requestLoad(undefined, true);
    const n = await this.#observeAndEnqueueAll();
    this.emit('resync', { workers: n, durationMs: this.#clock.now() - t0 });
  }

  /**
   * Resolves when nothing is queued or being reconciled (delayed requeues - tasks being polled - do
   * not count). What `apply` without --wait waits for.
   */
  async waitForIdle(signal?: AbortSignal): Promise<void> {
    while (!this.#isIdle() && !this.#stopping) {
      if (signal?.aborted) throw signal.reason;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.off('idle', done);
          this.off('stopped', done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.once('idle', done);
        this.once('stopped', done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * Waits until a fresh observation plans nothing (`apply --wait`), checking each time the queue goes
   * idle and at least every `pollMs`. Ends early when nothing progresses any more and what is left
   * waits for a person (a conflict, the mass-delete guard, a terminal error: blockers.ts), and at
   * once when `signal` aborts. On timeout, says for each worker why it has not converged.
   */
  async waitForConvergence(
    timeoutMs: number,
    opts: { pollMs?: number; signal?: AbortSignal } = {},
  ): Promise<ConvergenceResult> {
    const t0 = this.#clock.now();
    const deadline = t0 + timeoutMs;
    const pollMs = opts.pollMs ?? 1000;
    let plan: Plan | undefined;
    const result = (p: Plan, extra: Partial<ConvergenceResult> = {}): ConvergenceResult => ({
      converged: p.converged,
      plan: p,
      pending: p.converged ? [] : this.#pendingReasons(p),
      elapsedMs: this.#clock.now() - t0,
      ...extra,
    });
    for (;;) {
      if (opts.signal?.aborted || this.#stopping) {
        return result(plan ?? this.#lastPlan ?? { actions: [], converged: false }, { interrupted: true });
      }
      // Only look when the queue has nothing ready: the fleet cannot be converged while work is queued.
      if (this.#isIdle()) {
        plan = await this.#checkPlan();
        if (plan?.converged) return result(plan);
        if (plan) {
          const report = findBlockers(plan, {
            records: this.#o.store.listWorkers().filter((w) => this.#inScope(w.name)),
            useStatus: true,
          });
          if (isStuck(report)) return result(plan, { blocked: report.blocked });
        }
      }
      const left = deadline - this.#clock.now();
      if (left <= 0) break;
      await this.#sleepUntilIdleOr(Math.min(pollMs, left), opts.signal);
    }
    plan = (await this.#checkPlan()) ?? plan ?? { actions: [], converged: false };
    return result(plan);
  }

  /**
   * Clean stop: the watcher and the resync timer stop, no new work is taken, in-flight reconciles get
   * `graceMs` to finish (then they are aborted, and their keys simply stay unreconciled - level
   * triggering means the next start picks them up from the store), then the store is flushed and
   * closed. Safe to call twice.
   */
  stop(graceMs = 10_000): Promise<void> {
    this.#stopped ??= this.#stop(graceMs);
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.#log.info('controller stopping', { inFlight: [...this.#inFlight], graceMs });
    if (this.#resyncTimer) clearTimeout(this.#resyncTimer);
    if (this.#laterLoad) clearTimeout(this.#laterLoad.timer);
    this.#nextResyncAt = undefined;
    await this.#watcher?.close();
    this.#queue.shutDown();
    const allDone = this.#workers ?? Promise.resolve();
    const inTime = await Promise.race([allDone.then(() => true), sleepReal(graceMs).then(() => false)]);
    if (!inTime) {
      // Handed back, not lost: the intent in the store lets the next start resume (invariant 4).
      this.#log.warn('aborting in-flight reconciles after grace period', { workers: [...this.#inFlight] });
      this.#abort.abort(new Error('controller stopping'));
      await Promise.race([allDone, sleepReal(5_000)]);
    }
    try {
      await this.#loadRunning;
    } catch {
      // already reported by the load pass
    }
    await this.#o.store.flush();
    this.#lastWorkers = this.#o.store.listWorkers();
    this.#storeClosed = this.#o.closeStore !== false;
    if (this.#storeClosed) await this.#o.store.close();
    this.#log.info('controller stopped', { reconciles: this.#reconciles, failures: this.#failures });
    this.emit('stopped');
  }

  // ---------- load passes ----------

  #onManifestChange(batch: ChangeBatch): void {
    this.#log.debug('manifests changed', { files: batch.files.length, events: batch.events });
    void this.#requestLoad(batch.firstEventAt);
  }

  /**
   * Runs a load pass, or marks one more to run after the current one (coalescing bursts). `full`: the
   * pass merges the whole fleet, not only what changed.
   */
  #requestLoad(firstEventAt?: number, full = false): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    if (full) this.#loadFull = true;
    if (this.#loadRunning) {
      this.#loadAgain = true;
      this.#loadAgainEventAt ??= firstEventAt;
      return this.#loadRunning;
    }
    const run = async () => {
      let eventAt = firstEventAt;
      do {
        this.#loadAgain = false;
        const partial = !this.#loadFull && this.partialLoads;
        this.#loadFull = false;
        await this.#loadPass(eventAt, partial);
        eventAt = this.#loadAgainEventAt;
        this.#loadAgainEventAt = undefined;
      } while (this.#loadAgain && !this.#stopping);
    };
    this.#loadRunning = run().finally(() => {
      this.#loadRunning = undefined;
      this.#maybeIdle();
    });
    return this.#loadRunning;
  }

  async #loadPass(firstEventAt?: number, partial = false): Promise<void> {
    const t0 = this.#clock.now();
    let load: LoadResult;
    try {
      // The commit is read beside the load (a few small file reads), not after it.
      const [loaded, revision] = await Promise.all([
        this.#o.load(this.#o.manifestPaths),
        manifestRevision(this.#o.manifestPaths),
      ]);
      load = loaded;
      if (revision) {
        load.revision ??= revision.commit;
        if (revision.ref) load.revisionRef ??= revision.ref;
      }
    } catch (err) {
      // Unreadable directory and the like: nothing changes (invariant 1).
      this.#log.error('manifests could not be loaded; last valid specs stay in force', { err });
      this.emit('load-failed', { error: errorMessage(err) });
      return;
    }
    const keys = load.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}:${d.code}:${d.message}`);
    reportDiagnostics(
      this.#log,
      load.diagnostics.filter((_, i) => !this.#reported.has(keys[i])),
    );
    this.#reported = new Set(keys);
    const lost = load.diagnostics.filter((d) => SET_UNKNOWN.has(d.code));
    if (lost.length) {
      // A vanished or unreadable manifest directory is not "no workers wanted" (invariant 2): keep
      // every spec in force until the path is back.
      this.#log.error('manifest path missing or unreadable; nothing changes until it is back', {
        paths: lost.map((d) => d.file),
      });
      this.emit('load-failed', { error: lost.map((d) => `${d.file}: ${d.message}`).join('; ') });
      return;
    }
    // The changed workers are queued before the merge's durable write ends (their reconciles read
    // Proxmox meanwhile; a mutation waits for its own intent write, which comes after it).
    const merged = await this.#o.reconciler.applyDesired(load, { partial, beforeSaved: true });
    const { changed, removed, settling, plan } = merged;
    // Removal waits for evidence: look again once the settle window ends, and soon after a file
    // was caught mid-write (the watcher may have seen its last event already).
    if (settling) this.#loadAt(settling.dueAt + 50);
    if (load.diagnostics.some((d) => d.code === 'file.changing')) this.#loadAt(this.#clock.now() + 500);
    // A partial merge planned only its workers: in the fleet's plan the others keep their last actions.
    // The 'loaded' listeners get this load's plan alone (the lifecycle ends sessions for an Immediate
    // change in it: an action left from an earlier load must not end them again).
    this.#lastPlan = merged.planned ? patchPlan(this.#lastPlan, plan, merged.planned) : plan;
    const errors = load.diagnostics.filter((d) => d.severity === 'error').length;
    this.#lastLoad = {
      at: isoNow(this.#clock),
      files: load.files.length,
      workers: load.workers.length,
      invalidFiles: load.invalidFiles,
      errors,
      warnings: load.diagnostics.length - errors,
      massDeleteBlocked: plan.massDeleteBlocked,
    };
    if (load.revision) this.#lastLoad.revision = load.revision;
    if (plan.massDeleteBlocked) {
      const m = plan.massDeleteBlocked;
      this.#log.warn('mass delete held back; pass --allow-mass-delete to carry it out', {
        wouldDelete: m.wouldDelete,
        of: m.of,
        threshold: m.threshold,
      });
    }
    const durationMs = this.#clock.now() - t0;
    this.#log.info('manifests loaded', {
      revision: load.revision,
      files: load.files.length,
      workers: load.workers.length,
      invalidFiles: load.invalidFiles.length,
      changed: changed.length,
      removed: removed.length,
      durationMs,
    });
    // Listeners first: the lifecycle takes its holds (an Immediate change ends sessions before the
    // change is carried out) before the changed workers reach the queue.
    this.emit('loaded', { load, changed, removed, plan, durationMs, firstEventAt });
    for (const name of [...changed, ...removed]) this.#queue.add(name);
    // The pass ends, and the next may compare with this merge, once it is on disk.
    await merged.saved;
  }

  /** A load pass at `at` (ms, the controller's clock), unless one is due earlier already. */
  #loadAt(at: number): void {
    if (this.#stopping || (this.#laterLoad && this.#laterLoad.at <= at)) return;
    if (this.#laterLoad) clearTimeout(this.#laterLoad.timer);
    const timer = setTimeout(
      () => {
        this.#laterLoad = undefined;
        void this.#requestLoad();
      },
      Math.max(0, at - this.#clock.now()),
    );
    timer.unref?.();
    this.#laterLoad = { at, timer };
  }

  // ---------- resync ----------

  #resyncMs(): number {
    return this.#o.resyncIntervalMs ?? this.#o.settings.resyncIntervalMs;
  }

  #scheduleResync(): void {
    const base = this.#resyncMs();
    if (!base || this.#stopping) return;
    const delay = jitter(base, 0.1);
    this.#nextResyncAt = Date.now() + delay;
    this.#resyncTimer = setTimeout(() => {
      this.resync()
        .catch((err) => this.#log.error('resync failed', { err }))
        .finally(() => this.#scheduleResync());
    }, delay);
    this.#resyncTimer.unref?.();
  }

  /** One observation for the pass, then every recorded worker queued. */
  async #observeAndEnqueueAll(): Promise<number> {
    try {
      await this.#o.reconciler.observe();
    } catch (err) {
      // Reconciles observe what they need themselves; a failed listing only costs the cache.
      this.#log.warn('cluster observation failed', { err });
    }
    const names = this.#o.store
      .listWorkers()
      .map((w) => w.name)
      .filter((name) => this.#inScope(name));
    for (const name of names) this.#queue.add(name);
    return names.length;
  }

  // ---------- workers ----------

  async #reconcileOne(key: string, signal: AbortSignal) {
    this.#inFlight.add(key);
    try {
      return await this.#o.reconciler.reconcile(key, signal);
    } finally {
      this.#inFlight.delete(key);
    }
  }

  /** Counters, events and the idle signal; the retry table itself is runWorkers' (work-queue.ts). */
  #onOutcome(o: ItemOutcome<string>): void {
    this.#reconciles++;
    const event: ReconciledEvent = { worker: o.key, durationMs: o.durationMs };
    if (o.retryInMs !== undefined) event.requeueAfterMs = o.retryInMs;
    if (o.result === 'error' || o.result === 'terminal') {
      this.#failures++;
      event.error = errorMessage(o.error);
      event.terminal = o.result === 'terminal';
    }
    this.emit('reconciled', event);
    // done() runs before the outcome hook: the queue already reflects this key.
    this.#maybeIdle();
  }

  #inScope(name: string): boolean {
    return this.#o.reconciler.inScope?.(name) ?? true;
  }

  #isIdle(): boolean {
    return this.#queue.len() === 0 && this.#queue.processing() === 0 && !this.#loadRunning;
  }

  #maybeIdle(): void {
    if (this.#isIdle()) this.emit('idle');
  }

  async #checkPlan(): Promise<Plan | undefined> {
    if (this.#storeClosed) return undefined;
    try {
      await this.#o.reconciler.observe();
      const plan = await this.#o.reconciler.plan();
      this.#lastPlan = plan;
      return plan;
    } catch (err) {
      this.#log.warn('convergence check failed', { err });
      return undefined;
    }
  }

  #sleepUntilIdleOr(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const done = () => {
        for (const t of timers) clearTimeout(t);
        this.off('idle', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      timers.push(setTimeout(done, ms));
      this.once('idle', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  #pendingReasons(plan: Plan): NotConverged[] {
    const out = new Map<string, string>();
    for (const a of plan.actions) {
      const why = a.blockedBy ? `${a.kind}: ${a.reason} (blocked: ${a.blockedBy})` : `${a.kind}: ${a.reason}`;
      const prev = out.get(a.worker);
      out.set(a.worker, prev ? `${prev}; ${why}` : why);
    }
    for (const w of this.#o.store.listWorkers()) {
      if (!this.#inScope(w.name)) continue;
      if (out.has(w.name) || isReady(w) || !w.status.lastError) continue;
      out.set(w.name, `not Ready: ${w.status.lastError}`);
    }
    for (const [worker, reason] of out) {
      const rec = this.#o.store.getWorker(worker);
      if (rec?.status.lastError && !reason.includes(rec.status.lastError))
        out.set(worker, `${reason}; last error: ${rec.status.lastError}`);
    }
    return [...out]
      .map(([worker, reason]) => ({ worker, reason }))
      .sort((a, b) => a.worker.localeCompare(b.worker));
  }
}

/** Logs each diagnostic at its place (file:line:col), errors as warnings of the controller. */
export function reportDiagnostics(log: Logger, diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) {
    const at = `${d.file}:${d.line}:${d.col}`;
    const fields = { at, code: d.code, pointer: d.pointer || undefined, detail: d.message };
    if (d.severity === 'error') log.warn('invalid manifest; its last valid spec stays in force', fields);
    else log.info('manifest warning', fields);
  }
}

function sleepReal(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });
}
