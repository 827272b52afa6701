/**
 * A ProxmoxClient that can only read: `workerctl plan` and `status` hand it to the reconcile core, so
 * that a bug there cannot turn a plan into a change. Every mutating method throws.
 */
import { WorkerctlError } from '../errors.js';
import type { ProxmoxClient } from './client.js';

/** A mutating Proxmox call was attempted through a read-only client. */
export class ReadOnlyViolationError extends WorkerctlError {}

const READ_METHODS = new Set<keyof ProxmoxClient>([
  'version',
  'nodes',
  'storages',
  'vmResources',
  'getConfig',
  'pending',
  'status',
  'taskStatus',
  'taskLog',
  'waitForTask',
  'agentNetworkInterfaces',
  'agentExecStatus',
]);

/** Wraps a client so that only reads pass; `nextId()` without a vmid is a read too. */
export function readOnlyClient(client: ProxmoxClient): ProxmoxClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const name = String(prop) as keyof ProxmoxClient;
      if (READ_METHODS.has(name)) return (value as (...a: unknown[]) => unknown).bind(target);
      if (name === 'nextId') {
        return (vmid?: number) => {
          if (vmid !== undefined) throw new ReadOnlyViolationError(`read-only: nextId(${vmid}) not allowed`);
          return target.nextId();
        };
      }
      return () => {
        throw new ReadOnlyViolationError(
          `read-only: ${name} is a mutating proxmox call and is not allowed here`,
        );
      };
    },
  });
}
