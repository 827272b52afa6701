/**
 * The steps of a deploy after the clone (clone.ts), each with its own intent, resumable after a
 * crash at any point: move the disk to the worker's storage (move_disk, target-move path), or migrate
 * the VM offline to the worker's node (migrate path), then finish (our owner tag, what it was
 * deployed from). Each step first looks at the VM (level-triggered): a step already done is skipped,
 * a VM deleted outside workerctl is deployed again, a VM at the reserved vmid that does not carry our
 * marker is never touched (invariant 3).
 */
import {
  ChecksumMismatchError,
  ConflictError,
  LockedError,
  NotFoundError,
  TaskFailedError,
} from '../../errors.js';
import type { VmConfig } from '../../proxmox/types.js';
import type { DeployProgress } from '../../types.js';
import { desiredTags } from '../desired-config.js';
import { diskStorage, normalizeTags } from '../normalize.js';
import { markerMatches } from '../ownership.js';
import type { WorkerRun } from '../worker-run.js';
import { CLONE_WAIT_MS, type Mutations } from './mutation.js';
import { lockedByDeadTask, unlockVm } from './remove.js';

/** Tag writes tried when someone else writes the config meanwhile (each re-reads first). */
const TAG_ATTEMPTS = 3;

/** Runs the deploy's remaining steps; returns when it is finished or had to start over. */
export async function continueDeploy(m: Mutations, run: WorkerRun, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    const d = run.rec.deploy;
    if (!d) return;
    const step = d.steps[0];
    if (step === undefined || step === 'clone') {
      // Nothing cloned yet (the clone call was refused): the plan clones again.
      run.rec.deploy = undefined;
      await run.persist();
      return;
    }
    const at = await locate(m, run, signal);
    if (!at) return;
    if (step === 'move-disk') await moveDiskStep(m, run, d, at, signal);
    else if (step === 'migrate') await migrateStep(m, run, d, at.node, signal);
    else await finishDeploy(m, run, d, at.config, signal);
  }
}

/** A step's task succeeded: the step is done and its intent cleared, in one write. */
export async function stepDone(run: WorkerRun): Promise<void> {
  const d = run.rec.deploy;
  const op = run.rec.intent?.op;
  if (d && op === 'migrate') run.rec.node = d.path.node;
  if (d && (op === 'move-disk' || op === 'migrate') && d.steps[0] === op) d.steps.shift();
  run.rec.intent = undefined;
  await run.persist();
}

/**
 * Where the deploy's VM is now, with its config; undefined (and the record set to deploy again)
 * when it was deleted outside workerctl, or when the reserved vmid now holds a VM that is not ours.
 */
async function locate(
  m: Mutations,
  run: WorkerRun,
  signal: AbortSignal,
): Promise<{ node: string; config: VmConfig } | undefined> {
  const { client } = m.deps;
  const vmid = run.rec.vmid!;
  // Where the record says it is first (one config read); the cluster listing only when it is not
  // there (a migration that ended before its step was recorded, or a VM deleted or moved outside).
  let entry: { node: string } | undefined;
  let config: VmConfig | undefined;
  for (const lookup of ['record', 'listing'] as const) {
    const node =
      lookup === 'record'
        ? run.rec.node
        : (await client.vmResources()).find((r) => r.vmid === vmid && r.node !== run.rec.node)?.node;
    if (node === undefined) continue;
    try {
      config = await client.getConfig(node, vmid);
      entry = { node };
      break;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  if (!entry || !config) {
    run.log.warn('vm deleted outside workerctl before its deploy finished; deploying again', { vmid });
    run.note(
      'vm gone',
      `vm ${vmid} was deleted outside workerctl before its deploy finished; deploying again`,
    );
    run.rec.deploy = undefined;
    run.rec.deployed = undefined;
    await run.persist();
    return undefined;
  }
  if (!markerMatches(run.rec, config.values)) {
    // Ours was deleted and the id taken by someone else: leave that VM alone, reserve another id.
    run.log.warn('the reserved vmid holds a vm that is not ours; deploying to another vmid', { vmid });
    run.note('vmid taken', `vm ${vmid} is not ours any more (no marker); deploying again with another vmid`);
    run.rec.deploy = undefined;
    run.rec.deployed = undefined;
    run.rec.vmid = undefined;
    run.rec.node = undefined;
    await run.persist();
    return undefined;
  }
  run.rec.node = entry.node;
  const lock = config.values.lock;
  if (lock !== undefined) {
    const vm = { node: entry.node, vmid };
    const running = await client.tasks(entry.node, { source: 'active', vmid });
    if (running.length > 0)
      throw new LockedError(`vm ${vmid} on ${entry.node} is locked (${lock}) by a running task`);
    // A step of ours that died left its lock (e.g. a migration's): only skiplock or `qm unlock` frees it.
    if (!m.deps.settings.skiplock) throw lockedByDeadTask(vm, lock);
    await unlockVm(m, run, { vm, signal });
    config = await client.getConfig(entry.node, vmid);
  }
  return { node: entry.node, config };
}

/** move_disk of the main disk to the worker's storage on its node, deleting the copy left behind. */
async function moveDiskStep(
  m: Mutations,
  run: WorkerRun,
  d: DeployProgress,
  at: { node: string; config: VmConfig },
  signal: AbortSignal,
): Promise<void> {
  const { path } = d;
  const drive = at.config.values[path.disk];
  if (drive !== undefined && diskStorage(drive) === path.storage) {
    d.steps.shift(); // done before a crash let us record it
    await run.persist();
    return;
  }
  const vm = { node: at.node, vmid: run.rec.vmid! };
  await step(m, run, signal, {
    op: 'move-disk',
    target: vm,
    slot: { node: vm.node, storage: path.storage, clone: true },
    call: () =>
      m.deps.client.moveDisk(vm.node, vm.vmid, {
        disk: path.disk,
        storage: path.storage,
        delete: true,
        digest: at.config.digest,
      }),
  });
  run.log.info('disk moved', { vmid: vm.vmid, disk: path.disk, storage: path.storage });
  run.note('disk moved', `${path.disk} of vm ${vm.vmid} from ${path.cloneStorage} to ${path.storage}`);
}

/** Offline migration to the worker's node, its local disks onto the worker's storage. */
async function migrateStep(
  m: Mutations,
  run: WorkerRun,
  d: DeployProgress,
  node: string,
  signal: AbortSignal,
): Promise<void> {
  const { path } = d;
  if (node === path.node) {
    d.steps.shift(); // migrated before a crash let us record it
    await run.persist();
    return;
  }
  const vm = { node, vmid: run.rec.vmid! };
  await step(m, run, signal, {
    op: 'migrate',
    target: vm,
    slot: { node: path.node, storage: path.storage, clone: true },
    call: () => m.deps.client.migrate(vm.node, vm.vmid, { target: path.node, targetstorage: path.storage }),
  });
  run.log.info('vm migrated', { vmid: vm.vmid, from: node, to: path.node });
  run.note('migrated', `vm ${vm.vmid} from ${node} to ${path.storage} on ${path.node}`);
}

/** One step's call under its own intent; the step is recorded as done with the intent cleared. */
async function step(
  m: Mutations,
  run: WorkerRun,
  signal: AbortSignal,
  opts: Pick<Parameters<Mutations['mutate']>[1], 'op' | 'target' | 'slot' | 'call'>,
): Promise<void> {
  try {
    await m.mutate(run, { ...opts, signal, waitMs: CLONE_WAIT_MS, keepIntent: true });
  } catch (err) {
    if (err instanceof TaskFailedError) {
      // The step failed as a whole (PVE frees what it copied); it is tried again on the next pass.
      run.rec.intent = undefined;
      await run.persist();
      run.note(`${opts.op} failed`, err.message);
    }
    throw err;
  }
  await stepDone(run);
}

/**
 * The last step: our owner tag on the new VM (its marker checked), what it was deployed from, the
 * deploy and intent cleared. A digest conflict (someone wrote the config meanwhile) re-reads.
 */
async function finishDeploy(
  m: Mutations,
  run: WorkerRun,
  d: DeployProgress,
  config: VmConfig,
  signal: AbortSignal,
): Promise<void> {
  const { client, settings } = m.deps;
  const spec = run.rec.spec;
  const node = run.rec.node ?? d.path.node;
  const vmid = run.rec.vmid!;
  const tags = desiredTags(settings.ownerTag);
  let cfg = config;
  for (let attempt = 1; ; attempt++) {
    if (!markerMatches(run.rec, cfg.values)) {
      throw new ConflictError(`vm ${vmid} does not carry our marker after the clone; leaving it alone`);
    }
    if (normalizeTags(cfg.values.tags ?? '') === normalizeTags(tags)) break;
    const digest = cfg.digest;
    // No intent of its own: the deploy record (written before the clone was sent) says the finish
    // is due, and writing our tag again is harmless.
    const release = await m.deps.slots.acquire({ node }, signal);
    try {
      await client.updateConfig(node, vmid, { set: { tags }, digest });
      break;
    } catch (err) {
      if (!(err instanceof ChecksumMismatchError) || attempt >= TAG_ATTEMPTS) throw err;
      cfg = await client.getConfig(node, vmid);
    } finally {
      release();
    }
  }
  run.rec.deployed = { template: spec.template, storage: spec.storage, host: spec.host };
  run.rec.deploy = undefined;
  run.rec.intent = undefined;
  run.rec.leftover = undefined;
  await run.persist();
  run.log.info('vm deployed', { vmid, node, path: d.path.kind });
}
