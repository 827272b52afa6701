/**
 * Sessions: a backup or restore job asks for a worker on a host, gets one Working (deployed, powered
 * on, tested, updated), renews its lease while it runs and ends it when done; the worker shuts down
 * when it serves no session any more.
 *
 * Booking (select + record) runs under one mutex, so concurrent requests see each other's bookings
 * and never book a worker beyond maxConcurrentTasks. Bringing a worker up runs under that worker's
 * lock (a hold against the reconcile queue, worker-core.ts), shared with tests. Sessions live in the store and survive a restart;
 * leases run on the injected clock, and an expired lease ends its session.
 */
import { randomBytes } from 'node:crypto';
import { isoNow } from '../clock.js';
import { errorMessage } from '../errors.js';
import { redactText } from '../redact.js';
import type { SessionRecord } from '../types.js';
import {
  InvalidRequestError,
  NoWorkerAvailableError,
  UnknownSessionError,
  UnknownWorkerError,
} from './errors.js';
import type { EventBus } from './events.js';
import { Mutex } from '../queue/mutex.js';
import { LeaseSweeper } from './leases.js';
import { normaliseRequest, type NormalRequest, type SessionRequest } from './session-request.js';
import { selectWorker } from './selection.js';
import type { LifecycleDeps } from './bring-up.js';
import { bringUp, settle } from './bring-up.js';
import { setPhase, updateLifecycle } from './state.js';

export type { SessionRequest } from './session-request.js';

/** A started session as the job sees it. */
export interface SessionGrant {
  session: SessionRecord;
  worker: string;
  address?: string;
  node?: string;
  vmid?: number;
  fallback: boolean;
}

export interface SessionManagerDeps extends LifecycleDeps {
  events?: EventBus;
  /** Called when a worker serves no session any more (the controller loop re-enqueues it: deferred changes). */
  onIdle?: (worker: string) => void;
}

interface Ended {
  reason: string;
  time: string;
}

/** Bound on remembered ended sessions (for clear 404 messages). */
const ENDED_MEMORY = 500;

export class SessionManager {
  readonly #deps: SessionManagerDeps;
  readonly #booking = new Mutex();
  readonly #ended = new Map<string, Ended>();
  #capacityWaiters: (() => void)[] = [];
  #sweeper?: LeaseSweeper;

  constructor(deps: SessionManagerDeps) {
    this.#deps = deps;
  }

  /** Open sessions, oldest first. */
  list(): SessionRecord[] {
    return this.#deps.store
      .listSessions()
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** One open session; UnknownSessionError (saying why, when it ended recently) otherwise. */
  get(id: string): SessionRecord {
    const s = this.#deps.store.getSession(id);
    if (s) return s;
    const ended = this.#ended.get(id);
    throw new UnknownSessionError(
      ended ? `session ${id} ended at ${ended.time}: ${ended.reason}` : `unknown session ${id}`,
    );
  }

  /**
   * Starts a session: books a worker, brings it up (deploy, power on, test, update) and answers once
   * it is Working. A worker whose bring-up fails is released and the next one is tried. With no
   * usable worker it waits up to waitMs, then fails with the reason.
   */
  async start(request: SessionRequest, signal?: AbortSignal): Promise<SessionGrant> {
    const req = normaliseRequest(request, this.#deps.settings);
    const { clock } = this.#deps;
    const deadline = clock.now() + req.waitMs;
    const exclude = new Set<string>();
    const failures: string[] = [];
    for (;;) {
      signal?.throwIfAborted();
      const booked = await this.#book(req, exclude);
      if (booked.ok) {
        const { session, fallback } = booked;
        try {
          return await this.#bringUpFor(session, fallback, signal);
        } catch (err) {
          if (err instanceof UnknownSessionError) throw err;
          if (signal?.aborted) {
            await this.#release(session.id, 'the controller stopped before the session was ready');
            throw err;
          }
          exclude.add(session.worker);
          failures.push(`${session.worker}: ${redactText(errorMessage(err))}`);
          await this.#release(session.id, `worker ${session.worker} failed its test`);
          if (failures.length >= this.#deps.settings.sessionMaxAttempts) {
            throw new NoWorkerAvailableError(
              `no usable worker for host ${req.host}: ${failures.length} worker(s) failed their test: ${failures.join('; ')}`,
            );
          }
          continue;
        }
      }
      const left = deadline - clock.now();
      if (left <= 0) {
        const tried = failures.length ? ` (tried: ${failures.join('; ')})` : '';
        throw new NoWorkerAvailableError(`no usable worker for host ${req.host}: ${booked.reason}${tried}`);
      }
      await this.#waitForCapacity(Math.min(left, 1_000), signal);
    }
  }

  async #book(
    req: NormalRequest,
    exclude: Set<string>,
  ): Promise<{ ok: true; session: SessionRecord; fallback: boolean } | { ok: false; reason: string }> {
    const { store, clock } = this.#deps;
    return this.#booking.run(async () => {
      const sel = selectWorker(store.listWorkers(), store.listSessions(), {
        host: req.host,
        tasks: req.tasks,
        exclude,
      });
      if (!sel.ok) return sel;
      const now = clock.now();
      const session: SessionRecord = {
        id: `s-${randomBytes(6).toString('hex')}`,
        worker: sel.worker,
        host: req.host,
        kind: req.kind,
        tasks: req.tasks,
        fallback: sel.fallback,
        createdAt: new Date(now).toISOString(),
        leaseMs: req.leaseMs,
        leaseExpiresAt: new Date(now + req.leaseMs).toISOString(),
        state: 'starting',
      };
      await store.saveSession(session);
      const where = sel.fallback ? ` (fallback: asked for ${req.host})` : '';
      updateLifecycle(this.#deps, sel.worker, (lc, _rec, note) => {
        note(`session ${session.id} booked`, `${req.kind}, ${req.tasks} task(s)${where}`);
        return { ...lc, sessions: [...lc.sessions, session.id] };
      });
      this.#emit(session, 'starting');
      this.#deps.logger.info('session booked', {
        session: session.id,
        worker: sel.worker,
        fallback: sel.fallback,
      });
      return { ok: true as const, session, fallback: sel.fallback };
    });
  }

  async #bringUpFor(session: SessionRecord, fallback: boolean, signal?: AbortSignal): Promise<SessionGrant> {
    const deps = this.#deps;
    const { store, clock, locks } = deps;
    const name = session.worker;
    const bookedAt = session.createdAt;
    const ready = await locks.run(name, async () => {
      const rec = store.getWorker(name);
      if (!rec) throw new UnknownWorkerError(`worker ${name} was removed`);
      if (!store.getSession(session.id))
        throw new UnknownSessionError(`session ${session.id} ended while starting`);
      if (rec.status.phase === 'Working') {
        return {
          address: this.#addressOf(name),
          node: rec.status.node ?? rec.node,
          vmid: rec.status.vmid ?? rec.vmid,
        };
      }
      // Another session's bring-up of this worker failed after we booked: do not test it again.
      const last = rec.status.lastTest;
      if (last && !last.ok && last.time >= bookedAt && rec.status.phase !== 'Testing') {
        throw new Error(`test failed: ${last.checks.find((c) => !c.ok)?.name ?? last.error ?? 'unknown'}`);
      }
      const up = await bringUp(deps, name, `session ${session.id} starting`, signal);
      if (!up.result.ok) {
        await settle(deps, name, `test failed for session ${session.id}`, signal);
        const failed = up.result.checks.find((c) => !c.ok);
        throw new Error(
          `test failed at ${failed?.name ?? 'start'}: ${failed?.output ?? up.result.error ?? ''}`,
        );
      }
      setPhase(deps, name, 'Working', `session ${session.id} started`);
      return { address: up.address, node: up.location?.node, vmid: up.location?.vmid };
    });
    const current = store.getSession(session.id);
    if (!current) throw new UnknownSessionError(`session ${session.id} ended while starting`);
    const now = clock.now();
    const readySession: SessionRecord = {
      ...current,
      state: 'ready',
      readyAt: new Date(now).toISOString(),
      // The lease runs from when the job gets its worker.
      leaseExpiresAt: new Date(now + current.leaseMs).toISOString(),
      ...(ready.address ? { address: ready.address } : {}),
    };
    await store.saveSession(readySession);
    this.#emit(readySession, 'ready');
    deps.logger.info('session ready', { session: session.id, worker: name, address: ready.address });
    return {
      session: readySession,
      worker: name,
      address: ready.address,
      node: ready.node,
      vmid: ready.vmid,
      fallback,
    };
  }

  #addressOf(worker: string): string | undefined {
    for (const s of this.#deps.store.listSessions()) if (s.worker === worker && s.address) return s.address;
    const want = this.#deps.store.getWorker(worker)?.spec.networks[0]?.ipv4;
    return want && want !== 'dhcp' ? want.address.split('/')[0] : undefined;
  }

  /** Extends a session's lease (by its own lease length unless given). */
  async renew(id: string, leaseMs?: number): Promise<SessionRecord> {
    const s = this.get(id);
    const ms = leaseMs ?? s.leaseMs;
    if (!Number.isFinite(ms) || ms < 1000 || ms > this.#deps.settings.maxLeaseMs) {
      throw new InvalidRequestError('lease out of range', 'lease');
    }
    const next = { ...s, leaseMs: ms, leaseExpiresAt: new Date(this.#deps.clock.now() + ms).toISOString() };
    await this.#deps.store.saveSession(next);
    return next;
  }

  /** Ends a session; the worker shuts down when it serves no session any more. */
  async end(id: string, reason = 'ended by request'): Promise<void> {
    const s = this.get(id);
    await this.#release(s.id, reason);
    await this.#shutDownIfIdle(s.worker, `last session ended (${reason})`);
  }

  /** Ends every session of a worker (an Immediate change, as the guide does). No power off here. */
  async endAllOf(worker: string, reason: string): Promise<string[]> {
    const ids = this.#deps.store
      .listSessions()
      .filter((s) => s.worker === worker)
      .map((s) => s.id);
    for (const id of ids) await this.#release(id, reason);
    return ids;
  }

  /** Removes a session's booking and records why. */
  async #release(id: string, reason: string): Promise<void> {
    const { store, clock } = this.#deps;
    const s = store.getSession(id);
    if (!s) return;
    await store.deleteSession(id);
    if (store.getWorker(s.worker)) {
      updateLifecycle(this.#deps, s.worker, (lc, _rec, note) => {
        note(`session ${id} ended`, reason);
        return { ...lc, sessions: lc.sessions.filter((x) => x !== id) };
      });
    }
    this.#ended.set(id, { reason, time: isoNow(clock) });
    if (this.#ended.size > ENDED_MEMORY) this.#ended.delete(this.#ended.keys().next().value as string);
    this.#emit(s, 'ended', reason);
    this.#deps.logger.info('session ended', { session: id, worker: s.worker, reason });
    this.#wakeCapacityWaiters();
  }

  async #shutDownIfIdle(worker: string, cause: string): Promise<void> {
    const deps = this.#deps;
    await deps.locks.run(worker, async () => {
      const rec = deps.store.getWorker(worker);
      if (!rec || rec.status.sessions.length > 0) return;
      if (rec.status.phase === 'Working') await settle(deps, worker, cause);
    });
    if (deps.store.getWorker(worker)?.status.sessions.length === 0) deps.onIdle?.(worker);
  }

  /** Ends the sessions whose lease has expired; returns their ids. */
  async expireLeases(): Promise<string[]> {
    const now = this.#deps.clock.now();
    const expired = this.#deps.store
      .listSessions()
      .filter((s) => s.state === 'ready' && Date.parse(s.leaseExpiresAt) <= now);
    for (const s of expired) {
      await this.#release(s.id, `lease expired at ${s.leaseExpiresAt}`);
      await this.#shutDownIfIdle(s.worker, `last session's lease expired (${s.id})`);
    }
    return expired.map((s) => s.id);
  }

  /**
   * After a controller restart: sessions that were still starting are ended (their job got no
   * answer), status.sessions is made to match the session records, and a Working worker left with
   * no session is shut down. Ready sessions continue with their stored leases.
   */
  async restore(): Promise<void> {
    const { store } = this.#deps;
    for (const s of store.listSessions()) {
      if (!store.getWorker(s.worker)) await store.deleteSession(s.id);
      else if (s.state !== 'ready')
        await this.#release(s.id, 'controller restarted before the session was ready');
    }
    const open = store.listSessions();
    for (const rec of store.listWorkers()) {
      const ids = open.filter((s) => s.worker === rec.name).map((s) => s.id);
      if (ids.join(',') !== rec.status.sessions.join(',')) {
        updateLifecycle(this.#deps, rec.name, (lc, _rec, note) => {
          note('sessions restored', 'controller restart');
          return { ...lc, sessions: ids };
        });
      }
      if (ids.length === 0 && ['Working', 'Testing', 'Updating'].includes(rec.status.phase)) {
        await this.#shutDownIfIdleAfterRestart(rec.name);
      }
    }
  }

  async #shutDownIfIdleAfterRestart(worker: string): Promise<void> {
    const deps = this.#deps;
    await deps.locks.run(worker, async () => {
      const rec = deps.store.getWorker(worker);
      if (!rec || rec.status.sessions.length > 0) return;
      await settle(deps, worker, 'controller restarted with no session on this worker');
    });
  }

  /** Starts the periodic lease check. */
  startLeaseSweeper(): void {
    const { clock, settings, logger } = this.#deps;
    this.#sweeper ??= new LeaseSweeper(() => this.expireLeases(), {
      clock,
      intervalMs: settings.leaseSweepMs,
      logger,
    });
    this.#sweeper.start();
  }

  /** Stops the lease check. */
  stop(): void {
    this.#sweeper?.stop();
    this.#sweeper = undefined;
    this.#wakeCapacityWaiters();
  }

  #emit(s: SessionRecord, state: 'starting' | 'ready' | 'ended', reason?: string) {
    this.#deps.events?.emit({
      type: 'session',
      id: s.id,
      worker: s.worker,
      state,
      ...(reason ? { reason } : {}),
      time: isoNow(this.#deps.clock),
    });
  }

  #wakeCapacityWaiters() {
    const waiters = this.#capacityWaiters;
    this.#capacityWaiters = [];
    for (const w of waiters) w();
  }

  /** Waits until a session ends or `ms` passes (workers may also appear meanwhile). */
  async #waitForCapacity(ms: number, signal?: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.#capacityWaiters.push(wake);
    try {
      await Promise.race([woken, this.#deps.clock.sleep(ms, ac.signal).catch(() => undefined)]);
    } finally {
      ac.abort();
      signal?.removeEventListener('abort', onAbort);
      this.#capacityWaiters = this.#capacityWaiters.filter((w) => w !== wake);
    }
    signal?.throwIfAborted();
  }
}
