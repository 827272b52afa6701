/**
 * The controller's Prometheus metrics (prom-client, own registry): reconciles and their durations,
 * queue depth, Proxmox calls and errors by operation, workers by phase, sessions, tests, and session
 * start latency; per-worker and manifest-health gauges (fleet-metrics.ts); build info; Node's
 * process metrics under their standard names. Gauges over the store are computed at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';
import { PHASES } from '../lifecycle/phases.js';
import type { ManifestHealthView } from '../loop/manifest-health.js';
import { packageVersion } from '../paths.js';
import { registerFleetMetrics } from './fleet-metrics.js';
import { endpointTemplate, nodeOf, type BudgetView } from '../proxmox/node-budget.js';

/** The fields of a Proxmox call report the metrics use (proxmox/options.ts CallInfo). */
export interface ProxmoxCallReport {
  operation: string;
  method?: string;
  /** API path without query. */
  path?: string;
  durationMs: number;
  error?: Error;
}

export interface MetricsOptions {
  /** Also export Node process metrics (default true; tests turn it off). */
  processMetrics?: boolean;
}

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles: Counter<'result'>;
  readonly reconcileDuration: Histogram<'result'>;
  readonly queueDepth: Gauge;
  readonly proxmoxCalls: Counter<'operation'>;
  readonly proxmoxErrors: Counter<'operation' | 'error'>;
  readonly proxmoxDuration: Histogram<'operation'>;
  readonly workers: Gauge<'phase'>;
  readonly sessions: Gauge<'state'>;
  readonly sessionStarts: Counter<'result'>;
  readonly sessionStartDuration: Histogram;
  readonly tests: Counter<'result'>;
  readonly httpRequests: Counter<'method' | 'route' | 'code'>;
  readonly proxmoxRequests: Counter<'node' | 'method' | 'endpoint'>;
  #store?: Store;
  #budget?: () => BudgetView | undefined;
  #queueDepth?: () => number;
  #manifests?: () => ManifestHealthView;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    // Standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes): dashboards expect them.
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'workerctl_build_info',
      help: 'The workerctl version and the Node.js version it runs on. Always 1.',
      labelNames: ['version', 'nodejs'],
      registers,
    }).set({ version: packageVersion(), nodejs: process.version }, 1);
    registerFleetMetrics(this.registry, {
      workers: () => this.#store?.listWorkers(),
      manifests: () => this.#manifests?.(),
    });
    this.reconciles = new Counter({
      name: 'workerctl_reconciles_total',
      help: 'Reconciles of one worker, by result (success, requeue, error, terminal).',
      labelNames: ['result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'workerctl_reconcile_duration_seconds',
      help: 'Duration of one worker reconcile.',
      labelNames: ['result'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    const queueDepth = () => this.#queueDepth?.();
    this.queueDepth = new Gauge({
      name: 'workerctl_queue_depth',
      help: 'Workers waiting in the reconcile queue.',
      registers,
      collect() {
        const n = queueDepth();
        if (n !== undefined) this.set(n);
      },
    });
    this.proxmoxCalls = new Counter({
      name: 'workerctl_proxmox_calls_total',
      help: 'HTTP calls to Proxmox VE, by client operation.',
      labelNames: ['operation'],
      registers,
    });
    this.proxmoxErrors = new Counter({
      name: 'workerctl_proxmox_errors_total',
      help: 'Failed HTTP calls to Proxmox VE, by client operation and error class.',
      labelNames: ['operation', 'error'],
      registers,
    });
    this.proxmoxDuration = new Histogram({
      name: 'workerctl_proxmox_call_duration_seconds',
      help: 'Duration of HTTP calls to Proxmox VE, by client operation.',
      labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.proxmoxRequests = new Counter({
      name: 'workerctl_proxmox_requests_total',
      help: 'HTTP requests to Proxmox VE (every attempt), by node, method and endpoint template.',
      labelNames: ['node', 'method', 'endpoint'],
      registers,
    });
    const budget = () => this.#budget?.();
    new Gauge({
      name: 'workerctl_proxmox_budget_limit',
      help: 'The per-node API budget: calls in flight (calls), guest agent calls in flight (agent_calls), requests per second (requests_per_second); 0 = no limit.',
      labelNames: ['limit'],
      registers,
      collect() {
        const b = budget();
        if (!b) return;
        this.set({ limit: 'calls' }, b.callsPerNode);
        this.set({ limit: 'agent_calls' }, b.agentCallsPerNode);
        this.set({ limit: 'requests_per_second' }, b.requestsPerSecondPerNode);
      },
    });
    new Gauge({
      name: 'workerctl_proxmox_budget_in_flight',
      help: 'Protected API calls in flight per node now, and the most at once so far (kind peak).',
      labelNames: ['node', 'kind'],
      registers,
      collect() {
        for (const [node, u] of Object.entries(budget()?.nodes ?? {})) {
          this.set({ node, kind: 'now' }, u.inFlight);
          this.set({ node, kind: 'peak' }, u.peak);
        }
      },
    });
    // Counters kept by the budget itself, read at scrape time.
    new Counter({
      name: 'workerctl_proxmox_budget_waits_total',
      help: 'Requests that waited for the per-node budget, by node and budget (concurrency, rate).',
      labelNames: ['node', 'budget'],
      registers,
      collect() {
        this.reset();
        for (const [node, u] of Object.entries(budget()?.nodes ?? {})) {
          this.inc({ node, budget: 'concurrency' }, u.concurrencyWaits.count);
          this.inc({ node, budget: 'rate' }, u.rateWaits.count);
        }
      },
    });
    new Counter({
      name: 'workerctl_proxmox_budget_wait_seconds_total',
      help: 'Time requests spent waiting for the per-node budget, by node and budget (concurrency, rate).',
      labelNames: ['node', 'budget'],
      registers,
      collect() {
        this.reset();
        for (const [node, u] of Object.entries(budget()?.nodes ?? {})) {
          this.inc({ node, budget: 'concurrency' }, u.concurrencyWaits.ms / 1000);
          this.inc({ node, budget: 'rate' }, u.rateWaits.ms / 1000);
        }
      },
    });
    // collect() runs with `this` bound to the gauge; reach the store through a closure.
    const currentStore = () => this.#store;
    this.workers = new Gauge({
      name: 'workerctl_workers',
      help: 'Workers by phase.',
      labelNames: ['phase'],
      registers,
      collect() {
        const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
        for (const w of currentStore()?.listWorkers() ?? [])
          counts.set(w.status.phase, (counts.get(w.status.phase) ?? 0) + 1);
        for (const [phase, n] of counts) this.set({ phase }, n);
      },
    });
    this.sessions = new Gauge({
      name: 'workerctl_sessions',
      help: 'Open sessions, by state (starting, ready).',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<string, number>([
          ['starting', 0],
          ['ready', 0],
        ]);
        for (const s of currentStore()?.listSessions() ?? []) {
          const st = s.state ?? 'starting';
          counts.set(st, (counts.get(st) ?? 0) + 1);
        }
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.sessionStarts = new Counter({
      name: 'workerctl_session_starts_total',
      help: 'Session requests, by result (ok, no_worker, error).',
      labelNames: ['result'],
      registers,
    });
    this.sessionStartDuration = new Histogram({
      name: 'workerctl_session_start_duration_seconds',
      help: 'From session request to worker Working.',
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600],
      registers,
    });
    this.tests = new Counter({
      name: 'workerctl_worker_tests_total',
      help: 'Worker tests, by result (passed, failed).',
      labelNames: ['result'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'workerctl_http_requests_total',
      help: 'Requests to the controller API, by method, route and status code.',
      labelNames: ['method', 'route', 'code'],
      registers,
    });
  }

  /** The budget gauges and wait counters read `fn` at scrape time. */
  bindBudget(fn: () => BudgetView | undefined): void {
    this.#budget = fn;
  }

  /** Workers and sessions gauges read this store at scrape time. */
  bindStore(store: Store): void {
    this.#store = store;
  }

  /** The manifest-health gauges read `fn` at scrape time. */
  bindManifests(fn: () => ManifestHealthView): void {
    this.#manifests = fn;
  }

  /** For the controller loop: one reconcile done. */
  observeReconcile(durationMs: number, result: string): void {
    this.reconciles.inc({ result });
    this.reconcileDuration.observe({ result }, durationMs / 1000);
  }

  /** The queue depth is read from `fn` at scrape time. */
  bindQueueDepth(fn: () => number): void {
    this.#queueDepth = fn;
  }

  /** Pass as the Proxmox client's onCall. */
  readonly onProxmoxCall = (info: ProxmoxCallReport): void => {
    this.proxmoxCalls.inc({ operation: info.operation });
    if (info.path !== undefined && info.method !== undefined)
      this.proxmoxRequests.inc({
        node: nodeOf(info.path),
        method: info.method,
        endpoint: endpointTemplate(info.path),
      });
    this.proxmoxDuration.observe({ operation: info.operation }, info.durationMs / 1000);
    if (info.error) this.proxmoxErrors.inc({ operation: info.operation, error: info.error.name });
  };

  /** The exposition text. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
