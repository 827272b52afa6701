/**
 * Defaults for the controller-wide settings: small per-node and per-storage slots (Proxmox locks per
 * VM config and per storage, execute/slots.ts), a resync every few minutes (README, "Plan, apply and run").
 */
import type { ControllerSettings } from './contracts.js';

/** The settings a controller runs with when nothing overrides them. */
export const DEFAULT_SETTINGS: Readonly<ControllerSettings> = Object.freeze({
  ownerTag: 'workerctl',
  limits: Object.freeze({ perNode: 4, perStorage: 4, clonesPerStorage: 2 }),
  massDelete: Object.freeze({ maxFraction: 0.5, minCount: 3 }),
  allowMassDelete: false,
  resyncIntervalMs: 5 * 60_000,
  driftCheckIntervalMs: 10 * 60_000,
  driftBudgetPerPass: 20,
  shutdownTimeoutSec: 120,
  skiplock: false,
}) as ControllerSettings;

/** A fresh settings object: the defaults with `overrides` applied (nested objects merged). */
export function makeSettings(overrides: Partial<ControllerSettings> = {}): ControllerSettings {
  return {
    ...DEFAULT_SETTINGS,
    ...overrides,
    limits: { ...DEFAULT_SETTINGS.limits, ...overrides.limits },
    massDelete: { ...DEFAULT_SETTINGS.massDelete, ...overrides.massDelete },
  };
}
