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
 * This module is the one place that decides which calls count and how many may run: the transport
 * asks it before every attempt (transport.ts).
 */

/** pvedaemon's worker processes per node (pve-manager PVE/Service/pvedaemon.pm). */
export const DEFAULT_CALLS_PER_NODE = 3;
/** Guest agent calls in flight per node, within the node's budget. */
export const DEFAULT_AGENT_CALLS_PER_NODE = 1;
/** The key of calls without a node in their path (GET /cluster/status): the node we talk to. */
export const LOCAL_NODE = '(local)';

export interface NodeBudgetOptions {
  /** Protected calls in flight per node (0 = no limit). */
  perNode?: number;
  /** Guest agent calls in flight per node, within perNode (0 = no separate limit). */
  agentPerNode?: number;
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

/** Usage of one node's budget. */
export interface NodeBudgetUsage {
  inFlight: number;
  waiting: number;
  agentInFlight: number;
  agentWaiting: number;
  /** Most calls in flight at once so far. */
  peak: number;
}

/** The budget of one controller (one per client). */
export class NodeBudget {
  readonly perNode: number;
  readonly agentPerNode: number;
  readonly #nodes = new Map<string, { all: Slots; agent: Slots; peak: number }>();

  constructor(opts: NodeBudgetOptions = {}) {
    this.perNode = opts.perNode ?? DEFAULT_CALLS_PER_NODE;
    this.agentPerNode = opts.agentPerNode ?? DEFAULT_AGENT_CALLS_PER_NODE;
  }

  #of(node: string) {
    let n = this.#nodes.get(node);
    if (!n) {
      n = { all: new Slots(this.perNode), agent: new Slots(this.agentPerNode), peak: 0 };
      this.#nodes.set(node, n);
    }
    return n;
  }

  /** Runs `fn` within the budget of the call `method path` (at once when pveproxy answers it). */
  async run<T>(method: string, path: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const cost = budgetOf(method, path);
    if (!cost) return fn();
    const n = this.#of(cost.node);
    // The agent slot first: an agent call waiting for it holds none of the node's slots.
    if (cost.agent) await n.agent.acquire(signal);
    try {
      await n.all.acquire(signal);
      n.peak = Math.max(n.peak, n.all.busy);
      try {
        return await fn();
      } finally {
        n.all.release();
      }
    } finally {
      if (cost.agent) n.agent.release();
    }
  }

  /** Usage per node (for metrics and tests). */
  usage(): Record<string, NodeBudgetUsage> {
    const out: Record<string, NodeBudgetUsage> = {};
    for (const [node, n] of this.#nodes) {
      out[node] = {
        inFlight: n.all.busy,
        waiting: n.all.waiting,
        agentInFlight: n.agent.busy,
        agentWaiting: n.agent.waiting,
        peak: n.peak,
      };
    }
    return out;
  }
}
