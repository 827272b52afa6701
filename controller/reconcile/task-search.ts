/**
 * Finding the task of an intent whose UPID was never recorded (the controller died right after the
 * call, or its answer was lost): the node the call went to lists its tasks (pve-manager
 * PVE/API2/Tasks.pm node_tasks: type, id, start time; a token's own tasks are always listed). A
 * clone task's id is its SOURCE (the template), so several of our clones share it: ours is the one
 * whose log says "creating a clone of VM <source> with ID <vmid>" (qemu-server PVE/API2/Qemu.pm
 * clone_vm $clonefn prints it once it holds both config locks, before it writes anything). A move or
 * a migration has the VM's own id. Only reads.
 */
import type { ProxmoxClient } from '../proxmox/client.js';
import type { Intent } from '../types.js';

/** The task types (pve-manager's fork_worker names) of the intents that can be searched. */
const TASK_TYPE: Partial<Record<Intent['op'], string>> = {
  clone: 'qmclone',
  'move-disk': 'qmmove',
  migrate: 'qmigrate',
};

/**
 * Node clocks and ours may differ: tasks are searched from this long before the intent was written
 * (the log line, not the time, tells a clone apart).
 */
export const TASK_SEARCH_SKEW_S = 3600;
/** Lines of a clone task's log read to find its "creating a clone" line (it is the first one). */
const CLONE_LOG_LINES = 20;

export type TaskSearch =
  /** The intent's task: follow it. */
  | { kind: 'found'; upid: string; running: boolean }
  /** A task that may be ours has not said yet (a clone waiting for its config locks): look again soon. */
  | { kind: 'maybe' }
  /** No such task: the call never reached Proxmox, or was refused before any task started. */
  | { kind: 'none' };

/** True when an intent of this op can be looked up in its node's task list. */
export function searchable(intent: Intent): boolean {
  return TASK_TYPE[intent.op] !== undefined && (intent.op !== 'clone' || intent.source !== undefined);
}

/** The clone task's log line that names the new vmid. */
export function cloneLogLine(source: number, vmid: number): string {
  return `creating a clone of VM ${source} with ID ${vmid}`;
}

/** Looks for the task of `intent` on its node (see the file comment). */
export async function findIntentTask(client: ProxmoxClient, intent: Intent): Promise<TaskSearch> {
  const type = TASK_TYPE[intent.op];
  if (!type) return { kind: 'none' };
  const id = intent.op === 'clone' ? intent.source : intent.vmid;
  if (id === undefined) return { kind: 'none' };
  const since = Math.floor(Date.parse(intent.startedAt) / 1000) - TASK_SEARCH_SKEW_S;
  const tasks = await client.tasks(intent.node, { source: 'all', type, vmid: id, since, limit: 500 });
  if (intent.op !== 'clone') {
    // The VM's own id: the newest such task since the intent is ours.
    const t = [...tasks].sort((a, b) => b.startTime - a.startTime)[0];
    return t ? { kind: 'found', upid: t.upid, running: t.running } : { kind: 'none' };
  }
  const line = cloneLogLine(id, intent.vmid);
  let maybe = false;
  for (const t of tasks) {
    const log = await client.taskLog({ upid: t.upid, node: t.node }, { start: 0, limit: CLONE_LOG_LINES });
    if (log.lines.some((l) => l.includes(line))) return { kind: 'found', upid: t.upid, running: t.running };
    if (t.running) maybe = true;
  }
  return maybe ? { kind: 'maybe' } : { kind: 'none' };
}
