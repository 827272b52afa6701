/**
 * Composition for the commands that converge (plan, apply, run): connection -> store -> reconcile core,
 * in the one place that knows how they fit. `plan` gets a read-only variant: the client refuses every
 * mutating call and the store is an in-memory copy of the state directory's database, so a plan can
 * never change Proxmox or the records (and works while a controller holds the lock).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { connect, type Connection, type ConnectionOptions } from './connection.js';
import { StoreCorruptError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { ProxmoxClientOptions } from '../proxmox/options.js';
import type { ControllerSettings, FleetReconciler } from '../reconcile/contracts.js';
import { createFleetReconciler } from '../reconcile/reconciler.js';
import { DB_FILE_NAME, LowdbStore } from '../store/lowdb-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import type { RunningSimulator } from '../simulator/index.js';
import { readOnlyClient } from '../proxmox/read-only-client.js';

/** Options of the embedded simulator for `--simulate` (run and apply use the realistic profile). */
export interface EmbeddedSimulatorOptions {
  latency: 'fast' | 'realistic';
  timeScale: number;
  seed?: number;
}

export interface OpenRuntimeOptions {
  connection: ConnectionOptions;
  settings: ControllerSettings;
  logger: Logger;
  clock?: Clock;
  /** plan: read-only client and an in-memory copy of the store. */
  readOnly?: boolean;
  /** With --simulate: how the embedded simulator behaves (default: connect()'s own defaults). */
  simulator?: EmbeddedSimulatorOptions;
  /** Extra client settings (e.g. an onCall hook that counts API calls). */
  clientOptions?: Partial<Omit<ProxmoxClientOptions, 'url' | 'auth' | 'tls'>>;
}

/** Everything a converging command needs, and how to let go of it. */
export interface Runtime {
  client: ProxmoxClient;
  store: Store;
  reconciler: FleetReconciler;
  settings: ControllerSettings;
  logger: Logger;
  clock: Clock;
  /** 'simulator at ...' or the server, TLS mode and identity (never the secret). */
  target: string;
  simulator?: RunningSimulator;
  /** The state directory in use (absolute). */
  stateDir: string;
  /** Closes the store (unless already closed by the controller) and the connection. */
  close(): Promise<void>;
}

/** Reads the state directory's database as data, for a read-only copy (undefined when there is none). */
export function readStateSnapshot(stateDir: string): unknown {
  const file = join(stateDir, DB_FILE_NAME);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StoreCorruptError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

async function openConnection(opts: OpenRuntimeOptions): Promise<Connection> {
  const conn = await connect(opts.connection, {
    logger: opts.logger,
    clientOptions: opts.clientOptions,
    simulator: opts.simulator,
  });
  if (conn.simulator && opts.simulator) {
    const { latency, timeScale } = opts.simulator;
    return { ...conn, describe: `${conn.describe} (${latency} latency, time x${timeScale})` };
  }
  return conn;
}

/** Connects, opens the store and builds the reconcile core. */
export async function openRuntime(opts: OpenRuntimeOptions): Promise<Runtime> {
  const clock = opts.clock ?? systemClock;
  const stateDir = resolve(opts.connection.stateDir ?? '.workerctl');
  const store: Store = opts.readOnly
    ? new MemoryStore({ initial: readStateSnapshot(stateDir), clock })
    : new LowdbStore({ stateDir, clock, logger: opts.logger.child({ component: 'store' }) });
  await store.open();
  let conn: Connection;
  try {
    conn = await openConnection(opts);
  } catch (err) {
    await store.close();
    throw err;
  }
  const client = opts.readOnly ? readOnlyClient(conn.client) : conn.client;
  const reconciler = createFleetReconciler({
    client,
    store,
    logger: opts.logger,
    clock,
    settings: opts.settings,
  });
  let closed = false;
  return {
    client,
    store,
    reconciler,
    settings: opts.settings,
    logger: opts.logger,
    clock,
    target: conn.describe,
    simulator: conn.simulator,
    stateDir,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await store.close();
      } finally {
        await conn.close();
      }
    },
  };
}
