/**
 * How long simulated operations take. Durations are in simulated milliseconds and become real time
 * through the time scale (real ms = simulated ms / timeScale).
 *
 * - `realistic`: the table "Realistic profile" of README section `simulator` (ranges drawn with the seeded
 *   RNG). The waits and timeouts there come from Proxmox's code (cited below); the operation durations are
 *   typical figures users report, not grounded in any Proxmox source: ASSUMPTIONS, each marked so.
 * - `fast` (tests) keeps the same shape at roughly 1/100 to 1/1000 of the figures, so a clone, a boot and an
 *   update run take milliseconds; PVE "seconds" parameters (shutdown timeout, lock waits) shrink to 10 ms.
 */
import type { Rng } from './rng.js';
import type { Duration, LatencyOverrides } from './world/types.js';

/** Keys of the profile (simulated ms unless noted). */
export interface LatencyProfile {
  /** Any small GET (version, status, config). */
  smallGet: Duration;
  resourcesBase: Duration;
  /** Added per guest to GET /cluster/resources (ms). */
  resourcesPerGuest: number;
  configPut: Duration;
  linkedClone: Duration;
  fullCloneBase: Duration;
  /** Copy rate of one clone in GiB per simulated second. */
  cloneGiBps: number;
  /** Multiplies world storage bandwidths (GiB/s) - the fast profile copies far faster. */
  bandwidthFactor: number;
  create: Duration;
  resize: Duration;
  start: Duration;
  agentBoot: Duration;
  /** First boot of a clone runs cloud-init: slower. */
  agentBootFirst: Duration;
  agentCall: Duration;
  updateRun: Duration;
  ping: Duration;
  exec: Duration;
  shutdown: Duration;
  stop: Duration;
  delete: Duration;
  /** Extra delete time per 50 GiB of disk. */
  deletePer50GiB: number;
  /** HA stack acting after an hastart/hastop task. */
  haDelay: Duration;
  /** pvestatd broadcast interval (pve-manager PVE/Service/pvestatd.pm $updatetime = 10): /cluster/resources lag. */
  statsInterval: number;
  /** One PVE "second" (timeout parameters, lock waits) in simulated ms. */
  secondMs: number;
  /** The flock wait of lock_config, in PVE seconds (pve-guest-common AbstractConfig.pm lock_config: 10). */
  lockWaitSeconds: number;
  /** Default shutdown timeout in PVE seconds (qemu-server QemuServer.pm _do_vm_stop: 60). */
  shutdownTimeoutSeconds: number;
}

/** README `simulator`, "Realistic profile": durations are ASSUMPTIONS (reported figures); waits are Proxmox's. */
export const REALISTIC_PROFILE: LatencyProfile = {
  smallGet: [10, 40],
  resourcesBase: 20,
  resourcesPerGuest: 0.05,
  configPut: [50, 300],
  linkedClone: [1000, 5000],
  fullCloneBase: 2000,
  cloneGiBps: 0.3,
  bandwidthFactor: 1,
  create: [1000, 3000],
  resize: [500, 2000],
  start: [1000, 3000],
  agentBoot: [15000, 40000],
  agentBootFirst: [30000, 60000],
  agentCall: [5, 50],
  updateRun: [20000, 120000],
  ping: [100, 2000],
  exec: [50, 500],
  shutdown: [5000, 20000],
  stop: [500, 1000],
  delete: [1000, 5000],
  deletePer50GiB: 1000,
  haDelay: [1000, 3000],
  statsInterval: 10000,
  secondMs: 1000,
  lockWaitSeconds: 10,
  shutdownTimeoutSeconds: 60,
};

export const FAST_PROFILE: LatencyProfile = {
  smallGet: 0,
  resourcesBase: 0,
  resourcesPerGuest: 0,
  configPut: 0,
  linkedClone: [2, 6],
  fullCloneBase: 5,
  cloneGiBps: 1000,
  bandwidthFactor: 2000,
  create: [2, 6],
  resize: [2, 5],
  start: [3, 8],
  agentBoot: [20, 40],
  agentBootFirst: [30, 60],
  agentCall: 0,
  updateRun: [20, 60],
  ping: [1, 3],
  exec: [1, 3],
  shutdown: [5, 15],
  stop: [1, 3],
  delete: [2, 6],
  deletePer50GiB: 1,
  haDelay: [5, 15],
  statsInterval: 100,
  secondMs: 10,
  lockWaitSeconds: 10,
  shutdownTimeoutSeconds: 60,
};

export type LatencyName = 'fast' | 'realistic';

/** Draws durations from a profile and converts simulated time to real time. */
export class Latency {
  readonly profile: LatencyProfile;
  readonly timeScale: number;
  readonly name: LatencyName;
  private readonly rng: Rng;

  constructor(name: LatencyName, timeScale: number, rng: Rng, overrides: LatencyOverrides = {}) {
    this.name = name;
    this.timeScale = timeScale > 0 ? timeScale : 1;
    this.rng = rng;
    const base = name === 'realistic' ? REALISTIC_PROFILE : FAST_PROFILE;
    this.profile = { ...base, ...(overrides as Partial<LatencyProfile>) };
  }

  /** A simulated duration (ms) for a profile key or an explicit Duration. */
  draw(d: keyof LatencyProfile | Duration): number {
    const v = typeof d === 'string' ? this.profile[d] : d;
    if (Array.isArray(v)) return this.rng.range(v[0], v[1]);
    return typeof v === 'number' ? v : 0;
  }

  /**
   * Proxmox milliseconds per real millisecond: the time scale times the profile's compression of
   * one PVE second (the fast profile's second is 10 ms). A client times its intervals by it.
   */
  get pveTimeScale(): number {
    return this.timeScale * (1000 / this.profile.secondMs);
  }

  /** Simulated ms to real ms. */
  toReal(simMs: number): number {
    return simMs / this.timeScale;
  }

  /** Real ms to simulated ms. */
  toSim(realMs: number): number {
    return realMs * this.timeScale;
  }

  /** A PVE "seconds" value as real ms. */
  secondsToReal(seconds: number): number {
    return this.toReal(seconds * this.profile.secondMs);
  }
}

/** Resolves after `realMs` (immediately for 0). */
export function sleep(realMs: number): Promise<void> {
  if (realMs <= 0) return Promise.resolve();
  // unref: a pending simulated delay alone never keeps the process alive (the server does while open)
  return new Promise((resolve) => setTimeout(resolve, realMs).unref());
}
