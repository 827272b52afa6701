/**
 * The lifecycle as one object for the controller: tests, sessions, the lease sweeper, status events,
 * and the links to the reconcile core (deploy on demand, the shared per-worker lock, Immediate
 * changes that end sessions). `workerctl run` builds one and hands it to the HTTP API.
 */
import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { FleetReconciler, Plan } from '../reconcile/contracts.js';
import type { Store } from '../store/store.js';
import type { TestResult } from '../types.js';
import { coreDeployer, lockedReconciler } from './core-link.js';
import { EventBus, StatusWatcher, withStatusEvents } from './events.js';
import { KeyedMutex } from '../queue/mutex.js';
import { createWorkerPower, type DeployFn, type WorkerPower } from './power-demand.js';
import { SessionManager, type SessionGrant, type SessionRequest } from './sessions.js';
import { lifecycleSettings, type LifecycleSettings } from './settings.js';
import { settle, testWorker, type LifecycleDeps } from './worker-test.js';

export interface LifecycleOptions {
  client: ProxmoxClient;
  store: Store;
  clock: Clock;
  logger: Logger;
  settings?: Partial<LifecycleSettings>;
  /** The reconcile core (unlocked); deploys OnDemand workers. */
  reconciler?: Pick<FleetReconciler, 'reconcile'>;
  /** Overrides deploying (tests). */
  deploy?: DeployFn;
  /** Overrides power handling (tests). */
  power?: WorkerPower;
  /** Called when a worker serves no session any more or was interrupted (re-enqueue it). */
  onIdle?: (worker: string) => void;
  /** Status events poll interval (catches writers that bypass the lifecycle's store), ms; 0 = off. */
  eventPollMs?: number;
}

/** Change classes that interrupt a running worker. */
const DISRUPTIVE = new Set(['restart', 'redeploy', 'destructive']);

export class Lifecycle {
  readonly events = new EventBus();
  readonly locks = new KeyedMutex();
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
    this.store = withStatusEvents(opts.store, this.watcher);
    const settings = lifecycleSettings(opts.settings);
    const deploy =
      opts.deploy ??
      (opts.reconciler
        ? coreDeployer({ reconciler: opts.reconciler, store: this.store, clock: opts.clock })
        : undefined);
    const power =
      opts.power ??
      createWorkerPower({
        client: opts.client,
        store: this.store,
        clock: opts.clock,
        logger: opts.logger,
        deploy,
        shutdownTimeoutSec: settings.shutdownTimeoutSec,
      });
    this.deps = {
      client: opts.client,
      store: this.store,
      clock: opts.clock,
      logger: opts.logger.child({ component: 'lifecycle' }),
      power,
      locks: this.locks,
      settings,
    };
    this.sessions = new SessionManager({ ...this.deps, events: this.events, onIdle: opts.onIdle });
  }

  /** Restores sessions after a restart and starts the lease sweeper and status events. */
  async start(): Promise<void> {
    await this.sessions.restore();
    this.sessions.startLeaseSweeper();
    if ((this.#opts.eventPollMs ?? 1_000) > 0) this.watcher.startPolling(this.#opts.eventPollMs ?? 1_000);
    this.watcher.check();
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

  /** The core's reconciler, made to respect the per-worker lock. */
  wrapReconciler<R extends FleetReconciler>(inner: R): R {
    return lockedReconciler(inner, this.locks) as R;
  }

  /**
   * Immediate changes do what the guide does: a disruptive change (restart, redeploy, removal) of a
   * worker that serves sessions ends them with the change as reason and powers the worker off, then
   * the core applies the change. WhenIdle workers are left alone: the core waits (plan: "waiting for
   * N sessions to end") and the worker is re-enqueued when its last session ends.
   */
  async onPlan(plan: Plan): Promise<void> {
    for (const a of plan.actions) {
      const rec = this.store.getWorker(a.worker);
      if (!rec || rec.spec.applyChanges !== 'Immediate' || rec.status.sessions.length === 0) continue;
      const disruptive =
        DISRUPTIVE.has(a.class) || a.kind === 'delete' || a.kind === 'redeploy' || a.kind === 'restart';
      if (!disruptive || (a.blockedBy && a.kind !== 'wait')) continue;
      const reason = `interrupted by an Immediate change: ${a.reason}`;
      try {
        await this.locks.run(a.worker, async () => {
          const ended = await this.sessions.endAllOf(a.worker, reason);
          if (ended.length === 0) return;
          await settle(this.deps, a.worker, reason);
        });
      } catch (err) {
        this.deps.logger.info('immediate change: ending sessions failed', {
          worker: a.worker,
          err: errorMessage(err),
        });
      }
      this.#opts.onIdle?.(a.worker);
    }
  }
}
