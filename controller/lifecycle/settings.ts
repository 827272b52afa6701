/** Settings of the lifecycle (tests, updates, sessions), with defaults. */
import { DEFAULT_UPDATE_COMMAND } from './updates.js';

export interface LifecycleSettings {
  /** The backup server a test checks for reachability (from the controller's settings). */
  backupServer?: string;
  /** Address to ping for a Proxmox node: overrides GET /cluster/status (node-addresses.ts). */
  hostAddresses: Record<string, string>;
  /** Wait for the guest agent after power on at most this long. */
  agentTimeoutMs: number;
  /** First pause between agent pings after power on; it grows to agentPollMaxMs (guest.ts). */
  agentPollMs: number;
  agentPollMaxMs: number;
  /** First poll of a guest command's status; doubles up to 20 times this. */
  execPollMs: number;
  /** Each connectivity check (one ping) at most this long. */
  checkTimeoutMs: number;
  /** The update command at most this long. */
  updateTimeoutMs: number;
  /** The update command (argument list); default for the worker image's Rocky Linux. */
  updateCommand: string[];
  /** The reachability probe; `{target}` is replaced by the address. */
  pingCommand: string[];
  /** A session's lease when the request names none, and the longest allowed. */
  defaultLeaseMs: number;
  maxLeaseMs: number;
  /** How long a session request waits for a usable worker when it names no limit. */
  sessionWaitMs: number;
  /** Workers whose bring-up may fail for one session request before it fails (each failure is a test). */
  sessionMaxAttempts: number;
  /** How often leases are checked for expiry. */
  leaseSweepMs: number;
  /** The controller's manifest paths: a proxy's passwordFile is read only from inside them. */
  manifestPaths?: string[];
}

export const DEFAULT_LIFECYCLE_SETTINGS: LifecycleSettings = {
  hostAddresses: {},
  agentTimeoutMs: 180_000,
  agentPollMs: 2_000,
  agentPollMaxMs: 10_000,
  execPollMs: 100,
  checkTimeoutMs: 30_000,
  updateTimeoutMs: 900_000,
  updateCommand: [...DEFAULT_UPDATE_COMMAND],
  pingCommand: ['ping', '-c', '1', '-W', '2', '{target}'],
  defaultLeaseMs: 15 * 60_000,
  maxLeaseMs: 24 * 60 * 60_000,
  sessionWaitMs: 30_000,
  sessionMaxAttempts: 3,
  leaseSweepMs: 1_000,
};

/** Defaults overlaid with the given values. */
export function lifecycleSettings(overrides: Partial<LifecycleSettings> = {}): LifecycleSettings {
  const out = { ...DEFAULT_LIFECYCLE_SETTINGS };
  for (const [k, v] of Object.entries(overrides))
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
