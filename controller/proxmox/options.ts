/** Options of the HTTP Proxmox VE client (createProxmoxClient). */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { NodeBudget, NodeBudgetOptions } from './node-budget.js';

/** API token auth (recommended): no CSRF token, no login round trip. */
export interface TokenAuth {
  kind: 'token';
  /** USER@REALM!TOKENID=SECRET (an optional leading "PVEAPIToken=" is accepted). */
  token: string;
}

/** Ticket auth: POST /access/ticket, then cookie + CSRF header on non-GET calls. */
export interface TicketAuth {
  kind: 'ticket';
  /** user@realm, e.g. root@pam. */
  username: string;
  password: string;
}

export type ProxmoxAuth = TokenAuth | TicketAuth;

export interface ProxmoxTlsOptions {
  /** PEM file with the CA(s) to trust (e.g. the cluster's pve-root-ca.pem). */
  caFile?: string;
  /** PEM text with the CA(s) to trust (same as caFile, already read). */
  ca?: string;
  /** Pinned SHA-256 fingerprint of the server certificate (AA:BB:..., case-insensitive). */
  fingerprint?: string;
  /** Skip certificate verification altogether (logs a warning). */
  insecure?: boolean;
}

export interface TaskPollOptions {
  /**
   * `node` (default): one GET /nodes/{node}/tasks?source=all&since=… per node and interval serves
   * every task waited for on that node, running or ended (task-watch.ts). `task`: GET …/tasks/{upid}/status per task and
   * interval (tasks.ts), as before issue 14; kept to measure both side by side.
   */
  mode: 'node' | 'task';
  /** `task` mode: first poll delay (real ms). Default 100 ms. */
  initialMs: number;
  /** `task` mode: largest poll delay (real ms). Default 1000 ms. */
  maxMs: number;
  /** `task` mode: growth per poll. Default 2. */
  factor: number;
  /** `node` mode: longest interval between two listings of a node while a task waits (server ms). */
  nodeMaxMs: number;
}

export interface RetryOptions {
  /** Extra attempts for idempotent GETs that failed transiently. Default 3. */
  getRetries: number;
  /** Extra attempts for a synchronous config write that hit the flock timeout. Default 2. */
  lockRetries: number;
  /** First backoff delay. Default 250 ms. */
  baseDelayMs: number;
  /** Largest backoff delay. Default 4000 ms. */
  maxDelayMs: number;
  /** Random spread of each delay as a fraction (0 = none). Default 0.2. */
  jitter: number;
}

/** What onCall receives after every HTTP call (for metrics and call counting). */
export interface CallInfo {
  /** Client operation, e.g. getConfig, clone, waitForTask.poll. */
  operation: string;
  method: string;
  /** API path without query, e.g. /nodes/pve1/qemu/100/config. */
  path: string;
  status?: number;
  durationMs: number;
  /** Set when the call failed (already mapped to a typed error). */
  error?: Error;
  /** 0 for the first attempt, then 1, 2, ... for retries. */
  attempt: number;
}

export interface ProxmoxClientOptions {
  /** Origin (https://pve1:8006) or API base (https://pve1:8006/api2/json). */
  url: string;
  auth: ProxmoxAuth;
  tls?: ProxmoxTlsOptions;
  logger?: Logger;
  clock?: Clock;
  /** Per HTTP request, default 60 s (PVE itself gives up on pvedaemon after 30 s with a 596). */
  requestTimeoutMs?: number;
  taskPoll?: Partial<TaskPollOptions>;
  retry?: Partial<RetryOptions>;
  onCall?: (info: CallInfo) => void;
  /** Most sockets per host kept by the keep-alive agent. Default 8. */
  maxSockets?: number;
  /**
   * The per-node budget (node-budget.ts): concurrent pvedaemon calls (default 3 per node) and
   * requests per second (default 20 per node); a budget to share, or its options.
   */
  budget?: NodeBudget | NodeBudgetOptions;
  /**
   * Server milliseconds per real millisecond: 1 for Proxmox, the simulator's time scale for a
   * time-scaled simulator. Intervals in server time (task listing intervals, the request-rate
   * budget's window) are divided by it. Default 1.
   */
  timeScale?: number;
}

export const DEFAULT_TASK_POLL: TaskPollOptions = {
  mode: 'node',
  initialMs: 100,
  maxMs: 1000,
  factor: 2,
  nodeMaxMs: 30_000,
};
export const DEFAULT_RETRY: RetryOptions = {
  getRetries: 3,
  lockRetries: 2,
  baseDelayMs: 250,
  maxDelayMs: 4000,
  jitter: 0.2,
};
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
