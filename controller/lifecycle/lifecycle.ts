/**
 * The lifecycle as one object: tests, sessions, the lease sweeper, status events, and its links to
 * the reconcile core: a worker is held against the reconcile queue while the lifecycle works on it
 * (worker-core.ts, on reconcile/contracts.ts WorkerHolds), and Immediate changes end sessions
 * (onPlan). The composition root (compose/app.ts) builds one for `workerctl run` and the HTTP API.
 */
import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { KeyedMutex } from '../queue/mutex.js';
import type { Plan, WorkerHolds } from '../reconcile/contracts.js';
import type { Store } from '../store/store.js';
import type { TestResult } from '../types.js';
import { EventBus, StatusWatcher } from './events.js';
import { SessionManager, type SessionGrant, type SessionRequest } from './sessions.js';
import { NodeAddresses } from './node-addresses.js';
import { lifecycleSettings, type LifecycleSettings } from './settings.js';
import { CoreWorkers, type WorkerLocks, type WorkerPower } from './worker-core.js';
import { settle, testWorker, type LifecycleDeps } from './bring-up.js';

export interface LifecycleOptions {
  client: ProxmoxClient;
  store: Store;
  clock: Clock;
  logger: Logger;
  settings?: Partial<LifecycleSettings>;
  /** The reconcile core's holds on workers (the controller loop): deploys and power go through it. */
  holds?: WorkerHolds;
  /** Overrides the VM actions (tests without a core). */
  power?: WorkerPower;
  /** Overrides the per-worker lock (tests without a core). */
  locks?: WorkerLocks;
  /** Called when a worker serves no session any more or was interrupted (re-enqueue it). */
  onIdle?: (worker: string) => void;
}

/** Change classes that interrupt a running worker. */
const DISRUPTIVE = new Set(['restart', 'redeploy', 'destructive']);

export class Lifecycle {
  readonly events = new EventBus();
  readonly watcher: StatusWatcher;
  readonly store: Store;
  readonly deps: LifecycleDeps;
  readonly sessions: SessionManager;
  readonly #opts: LifecycleOptions;
  /** Aborted by stop(): tests and session starts in progress give up. */
  readonly #stopping = new AbortController();

  constructor(opts: LifecycleOptions) {
    this.#opts = opts;
    // Every waiting session request listens on it.
    setMaxListeners(0, this.#stopping.signal);
    this.watcher = new StatusWatcher(opts.store, this.events);
    this.store = opts.store;
    const core = opts.holds
      ? new CoreWorkers({ holds: opts.holds, store: opts.store, clock: opts.clock, logger: opts.logger })
      : undefined;
    const locks = opts.locks ?? core ?? new KeyedMutex();
    const power = opts.power ?? core;
    if (!power) throw new Error('internal: a lifecycle needs the reconcile core (holds) or a power stand-in');
    const settings = lifecycleSettings(opts.settings);
    const logger = opts.logger.child({ component: 'lifecycle' });
    this.deps = {
      client: opts.client,
      addresses: new NodeAddresses(opts.client, settings.hostAddresses, opts.clock, logger),
      store: opts.store,
      clock: opts.clock,
      logger,
      power,
      locks,
      settings,
    };
    this.sessions = new SessionManager({ ...this.deps, events: this.events, onIdle: opts.onIdle });
  }

  /** Restores sessions after a restart and starts the lease sweeper and status events. */
  async start(): Promise<void> {
    await this.sessions.restore();
    this.sessions.startLeaseSweeper();
    this.watcher.start();
  }

  stop(): void {
    this.#stopping.abort(new Error('the controller is stopping'));
    this.sessions.stop();
    this.watcher.stop();
  }

  /** `workerctl test NAME`. */
  test(name: string, signal?: AbortSignal): Promise<TestResult> {
    return testWorker(this.deps, name, this.#signal(signal));
  }

  /** Starts a session (aborted when the controller stops). */
  startSession(request: SessionRequest, signal?: AbortSignal): Promise<SessionGrant> {
    return this.sessions.start(request, this.#signal(signal));
  }

  #signal(signal?: AbortSignal): AbortSignal {
    return signal ? AbortSignal.any([signal, this.#stopping.signal]) : this.#stopping.signal;
  }

  /**
   * Immediate changes do what the guide does: a disruptive change (restart, redeploy, removal) of a
   * worker that serves sessions ends them with the change as reason and powers the worker off, then
   * the core applies the change. WhenIdle workers are left alone: the core waits (plan: "waiting for
   * N sessions to end") and the worker is re-enqueued when its last session ends.
   */
  async onPlan(plan: Plan): Promise<void> {
    const interrupted = new Map<string, string>();
    for (const a of plan.actions) {
      const rec = this.store.getWorker(a.worker);
      if (!rec || rec.spec.applyChanges !== 'Immediate' || rec.status.sessions.length === 0) continue;
      const disruptive =
        DISRUPTIVE.has(a.class) || a.kind === 'delete' || a.kind === 'redeploy' || a.kind === 'restart';
      if (!disruptive || (a.blockedBy && a.kind !== 'wait')) continue;
      if (!interrupted.has(a.worker))
        interrupted.set(a.worker, `interrupted by an Immediate change: ${a.reason}`);
    }
    // Every hold is asked for at once (before the controller queues the changed workers), so no
    // reconcile carries a change out while its worker still serves sessions.
    await Promise.all(
      [...interrupted].map(async ([worker, reason]) => {
        try {
          await this.deps.locks.run(worker, async () => {
            const ended = await this.sessions.endAllOf(worker, reason);
            if (ended.length === 0) return;
            await settle(this.deps, worker, reason);
          });
        } catch (err) {
          this.deps.logger.info('immediate change: ending sessions failed', {
            worker,
            err: errorMessage(err),
          });
        }
        this.#opts.onIdle?.(worker);
      }),
    );
  }
}
