/**
 * The per-node budget of concurrent API calls. PVE runs every call marked `protected` in the
 * pvedaemon of the node it is about (pve-manager PVE/HTTPServer.pm rest_handler proxies it there),
 * and pvedaemon has 3 worker processes (PVE/Service/pvedaemon.pm max_workers => 3). A call holds its
 * worker for as long as it runs: a config write waiting for the VM's flock, a guest agent call
 * waiting up to 3 s for guest-ping (qemu-server PVE/QemuServer/Agent.pm). When all three are busy the
 * next call waits, and after 30 s pveproxy answers 596 (pve-http-server PVE/APIServer/AnyEvent.pm
 * proxy_request). So workerctl keeps at most `perNode` protected calls in flight per node (default
 * 3), and of those at most `agentPerNode` guest agent calls (default 1: a few booting VMs must not
 * hold every worker of their node with pings). Calls pveproxy answers itself (GET config, the
 * cluster listing, task lists) are not counted.
 *
 * Besides, every request (protected or not: pveproxy serves the rest, and its workers are shared with
 * the web UI and every other tool) counts against a request-rate budget per node: at most
 * `ratePerNode` requests start in any window of one second (server time: the window is divided by
 * the client's time scale). Calls without a node in their path count against LOCAL_NODE's.
 *
 * This module is the one place that decides which calls count and how many may run: the transport
 * asks it before every attempt (transport.ts).
 */
import { systemClock, type Clock } from '../clock.js';

/** pvedaemon's worker processes per node (pve-manager PVE/Service/pvedaemon.pm). */
export const DEFAULT_CALLS_PER_NODE = 3;
/** Guest agent calls in flight per node, within the node's budget. */
export const DEFAULT_AGENT_CALLS_PER_NODE = 1;
/** The key of calls without a node in their path (GET /cluster/status): the node we talk to. */
export const LOCAL_NODE = '(local)';

/**
 * Requests started per node and second that the CLI allows by default (connect.ts); a NodeBudget
 * built without a rate has none. ASSUMPTION (no Proxmox source sets a figure): a rate a node's
 * pveproxy (3 workers by default, pve-manager PVE/Service/pveproxy.pm) serves beside its web UI.
 */
export const DEFAULT_RATE_PER_NODE = 20;

export interface NodeBudgetOptions {
  /** Protected calls in flight per node (0 = no limit). */
  perNode?: number;
  /** Guest agent calls in flight per node, within perNode (0 = no separate limit). */
  agentPerNode?: number;
  /** Requests started per node in any one second of server time (0 = no limit). */
  ratePerNode?: number;
  /** Server ms per real ms (the rate's window is 1000 / timeScale real ms). Default 1. */
  timeScale?: number;
  clock?: Clock;
}

/**
 * The API paths workerctl calls that PVE marks `protected` (the vendored schema's `protected: 1`;
 * test/proxmox/node-budget.unit.test.ts checks this table against it). Paths below /api2/json.
 */
const PROTECTED: ReadonlyArray<[method: string, pattern: RegExp]> = [
  ['GET', /^\/nodes\/[^/]+\/qemu\/\d+\/status\/current$/],
  ['POST', /^\/nodes\/[^/]+\/qemu\/\d+\/status\/(start|stop|shutdown|reboot)$/],
  ['POST', /^\/nodes\/[^/]+\/qemu\/\d+\/(clone|move_disk|migrate|config)$/],
  ['PUT', /^\/nodes\/[^/]+\/qemu\/\d+\/(config|resize)$/],
  ['POST', /^\/nodes\/[^/]+\/qemu$/],
  ['DELETE', /^\/nodes\/[^/]+\/qemu\/\d+$/],
  ['GET', /^\/nodes\/[^/]+\/qemu\/\d+\/agent\/[a-z-]+$/],
  ['POST', /^\/nodes\/[^/]+\/qemu\/\d+\/agent\/[a-z-]+$/],
  ['GET', /^\/nodes\/[^/]+\/tasks\/[^/]+\/(status|log)$/],
  ['GET', /^\/nodes\/[^/]+\/storage$/],
  ['GET', /^\/cluster\/status$/],
];

/** The node a request is about (its path's), or LOCAL_NODE: whose rate budget it counts against. */
export function nodeOf(path: string): string {
  const node = /^\/nodes\/([^/?]+)/.exec(path)?.[1];
  return node ? decodeURIComponent(node) : LOCAL_NODE;
}

/** What a call costs: the node whose pvedaemon runs it, or undefined when pveproxy answers it. */
export function budgetOf(method: string, path: string): { node: string; agent: boolean } | undefined {
  const p = path.split('?')[0]!;
  if (!PROTECTED.some(([m, re]) => m === method && re.test(p))) return undefined;
  const node = /^\/nodes\/([^/]+)\//.exec(p)?.[1];
  return { node: node ? decodeURIComponent(node) : LOCAL_NODE, agent: /\/agent\//.test(p) };
}

/** A counting semaphore with FIFO waiters. */
class Slots {
  #busy = 0;
  readonly #waiters: Array<() => void> = [];
  constructor(readonly limit: number) {}

  get busy(): number {
    return this.#busy;
  }
  get waiting(): number {
    return this.#waiters.length;
  }
  /** The next acquire waits. */
  get full(): boolean {
    return this.limit > 0 && this.#busy >= this.limit;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.limit <= 0 || this.#busy < this.limit) {
      this.#busy++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.#busy++;
        resolve();
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(grant);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(grant);
    });
  }

  release(): void {
    this.#busy--;
    this.#waiters.shift()?.();
  }
}

/**
 * At most `limit` starts in any window of `windowMs` (a sliding log of the last starts), granted in
 * arrival order.
 */
class RateGate {
  readonly #starts: number[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly clock: Clock,
  ) {}

  /** Resolves with the ms waited once the caller may start. */
  take(signal?: AbortSignal): Promise<number> {
    if (this.limit <= 0) return Promise.resolve(0);
    const turn = this.#queue.then(async () => {
      signal?.throwIfAborted();
      const t0 = this.clock.now();
      let now = t0;
      // One clock tick of margin: the clock counts whole milliseconds.
      while (this.#starts.length > 0 && this.#starts[0]! < now - this.windowMs - 1) this.#starts.shift();
      if (this.#starts.length >= this.limit) {
        await this.clock.sleep(this.#starts[0]! + this.windowMs + 2 - now, signal);
        now = this.clock.now();
        this.#starts.shift();
      }
      this.#starts.push(now);
      return now - t0;
    });
    this.#queue = turn.catch(() => undefined);
    return turn;
  }
}

/** Budget waits of one node so far (count and total time, real ms). */
export interface BudgetWaits {
  count: number;
  ms: number;
}

/** Usage of one node's budget. */
export interface NodeBudgetUsage {
  inFlight: number;
  waiting: number;
  agentInFlight: number;
  agentWaiting: number;
  /** Most calls in flight at once so far. */
  peak: number;
  /** Requests started so far (every request, the rate budget's count). */
  requests: number;
  /** Waits for a slot of the concurrency budget. */
  concurrencyWaits: BudgetWaits;
  /** Waits for the rate budget. */
  rateWaits: BudgetWaits;
}

/** The budget as `workerctl status` and GET /v1/status show it (0 = no limit). */
export interface BudgetView {
  callsPerNode: number;
  agentCallsPerNode: number;
  requestsPerSecondPerNode: number;
  nodes: Record<string, NodeBudgetUsage>;
}

/**
 * A request's path as a template of bounded cardinality, for metrics: node, vmid, UPID and other
 * ids replaced by their parameter names (e.g. /nodes/{node}/qemu/{vmid}/config).
 */
export function endpointTemplate(path: string): string {
  return path
    .split('?')[0]!
    .replace(/^\/nodes\/[^/]+/, '/nodes/{node}')
    .replace(/\/qemu\/\d+/, '/qemu/{vmid}')
    .replace(/\/tasks\/[^/]+/, '/tasks/{upid}')
    .replace(/\/storage\/[^/]+/, '/storage/{storage}');
}

interface NodeState {
  all: Slots;
  agent: Slots;
  rate: RateGate;
  peak: number;
  requests: number;
  concurrencyWaits: BudgetWaits;
  rateWaits: BudgetWaits;
}

/** The budget of one controller (one per client). */
export class NodeBudget {
  readonly perNode: number;
  readonly agentPerNode: number;
  readonly ratePerNode: number;
  readonly timeScale: number;
  readonly #clock: Clock;
  readonly #nodes = new Map<string, NodeState>();

  constructor(opts: NodeBudgetOptions = {}) {
    this.perNode = opts.perNode ?? DEFAULT_CALLS_PER_NODE;
    this.agentPerNode = opts.agentPerNode ?? DEFAULT_AGENT_CALLS_PER_NODE;
    this.ratePerNode = opts.ratePerNode ?? 0;
    this.timeScale = opts.timeScale && opts.timeScale > 0 ? opts.timeScale : 1;
    this.#clock = opts.clock ?? systemClock;
  }

  #of(node: string): NodeState {
    let n = this.#nodes.get(node);
    if (!n) {
      n = {
        all: new Slots(this.perNode),
        agent: new Slots(this.agentPerNode),
        rate: new RateGate(this.ratePerNode, 1000 / this.timeScale, this.#clock),
        peak: 0,
        requests: 0,
        concurrencyWaits: { count: 0, ms: 0 },
        rateWaits: { count: 0, ms: 0 },
      };
      this.#nodes.set(node, n);
    }
    return n;
  }

  /** Runs `fn` within the budget of the call `method path`: its node's rate, and slots if protected. */
  async run<T>(method: string, path: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const cost = budgetOf(method, path);
    if (!cost) {
      await this.#rate(this.#of(nodeOf(path)), signal);
      return fn();
    }
    const n = this.#of(cost.node);
    const t0 = this.#clock.now();
    const queued = (cost.agent && n.agent.full) || n.all.full;
    // The agent slot first: an agent call waiting for it holds none of the node's slots.
    if (cost.agent) await n.agent.acquire(signal);
    try {
      await n.all.acquire(signal);
      if (queued || this.#clock.now() > t0) {
        n.concurrencyWaits.count++;
        n.concurrencyWaits.ms += this.#clock.now() - t0;
      }
      n.peak = Math.max(n.peak, n.all.busy);
      try {
        // The rate is taken last, with the slot held: the request starts as soon as it is granted.
        await this.#rate(n, signal);
        return await fn();
      } finally {
        n.all.release();
      }
    } finally {
      if (cost.agent) n.agent.release();
    }
  }

  async #rate(n: NodeState, signal?: AbortSignal): Promise<void> {
    const waited = await n.rate.take(signal);
    n.requests++;
    if (waited > 0) {
      n.rateWaits.count++;
      n.rateWaits.ms += waited;
    }
  }

  /** The budget's limits and its usage per node (`workerctl status`, GET /v1/status, metrics). */
  view(): BudgetView {
    return {
      callsPerNode: this.perNode,
      agentCallsPerNode: this.agentPerNode,
      requestsPerSecondPerNode: this.ratePerNode,
      nodes: this.usage(),
    };
  }

  /** Usage per node (for metrics, status and tests). */
  usage(): Record<string, NodeBudgetUsage> {
    const out: Record<string, NodeBudgetUsage> = {};
    for (const [node, n] of this.#nodes) {
      out[node] = {
        inFlight: n.all.busy,
        waiting: n.all.waiting,
        agentInFlight: n.agent.busy,
        agentWaiting: n.agent.waiting,
        peak: n.peak,
        requests: n.requests,
        concurrencyWaits: { ...n.concurrencyWaits },
        rateWaits: { ...n.rateWaits },
      };
    }
    return out;
  }
}
