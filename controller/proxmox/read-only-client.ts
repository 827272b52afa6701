/**
 * A ProxmoxClient that can only read: `workerctl plan` gives it to the reconcile core, so that a bug
 * there cannot turn a plan into a change. Reads pass through; every mutating method throws. A class
 * rather than a wrapper: a new ProxmoxClient method does not compile here until it is sorted into
 * read or write.
 */
import { WorkerctlError } from '../errors.js';
import type { ProxmoxClient } from './client.js';

/** A mutating Proxmox call was attempted through a read-only client. */
export class ReadOnlyViolationError extends WorkerctlError {}

function refuse(name: string): never {
  throw new ReadOnlyViolationError(`read-only: ${name} is a mutating proxmox call and is not allowed here`);
}

class ReadOnlyClient implements ProxmoxClient {
  constructor(private readonly c: ProxmoxClient) {}

  version = () => this.c.version();
  nodes = () => this.c.nodes();
  storages: ProxmoxClient['storages'] = (node, opts) => this.c.storages(node, opts);
  vmResources = () => this.c.vmResources();
  clusterNodes = () => this.c.clusterNodes();
  tasks: ProxmoxClient['tasks'] = (node, filter) => this.c.tasks(node, filter);
  /** Without a vmid a read; asserting a vmid is free is refused like a write (it reserves nothing, but says it would). */
  nextId: ProxmoxClient['nextId'] = (vmid) => {
    if (vmid !== undefined) throw new ReadOnlyViolationError(`read-only: nextId(${vmid}) not allowed`);
    return this.c.nextId();
  };
  getConfig: ProxmoxClient['getConfig'] = (node, vmid, opts) => this.c.getConfig(node, vmid, opts);
  pending: ProxmoxClient['pending'] = (node, vmid) => this.c.pending(node, vmid);
  status: ProxmoxClient['status'] = (node, vmid) => this.c.status(node, vmid);
  taskStatus: ProxmoxClient['taskStatus'] = (task) => this.c.taskStatus(task);
  taskLog: ProxmoxClient['taskLog'] = (task, opts) => this.c.taskLog(task, opts);
  waitForTask: ProxmoxClient['waitForTask'] = (task, opts) => this.c.waitForTask(task, opts);
  agentNetworkInterfaces: ProxmoxClient['agentNetworkInterfaces'] = (node, vmid) =>
    this.c.agentNetworkInterfaces(node, vmid);
  agentExecStatus: ProxmoxClient['agentExecStatus'] = (node, vmid, pid) =>
    this.c.agentExecStatus(node, vmid, pid);

  updateConfig = (): Promise<void> => refuse('updateConfig');
  updateConfigAsync: ProxmoxClient['updateConfigAsync'] = () => refuse('updateConfigAsync');
  resizeDisk: ProxmoxClient['resizeDisk'] = () => refuse('resizeDisk');
  clone: ProxmoxClient['clone'] = () => refuse('clone');
  moveDisk: ProxmoxClient['moveDisk'] = () => refuse('moveDisk');
  migrate: ProxmoxClient['migrate'] = () => refuse('migrate');
  create: ProxmoxClient['create'] = () => refuse('create');
  start: ProxmoxClient['start'] = () => refuse('start');
  shutdown: ProxmoxClient['shutdown'] = () => refuse('shutdown');
  stop: ProxmoxClient['stop'] = () => refuse('stop');
  reboot: ProxmoxClient['reboot'] = () => refuse('reboot');
  deleteVm: ProxmoxClient['deleteVm'] = () => refuse('deleteVm');
  agentPing: ProxmoxClient['agentPing'] = () => refuse('agentPing');
  agentExec: ProxmoxClient['agentExec'] = () => refuse('agentExec');
}

/** Wraps a client so that only reads pass; `nextId()` without a vmid is a read too. */
export function readOnlyClient(client: ProxmoxClient): ProxmoxClient {
  return new ReadOnlyClient(client);
}
