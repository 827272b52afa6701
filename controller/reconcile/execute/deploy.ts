/**
 * The steps of a deploy after the clone (clone.ts), each with its own intent, resumable after a
 * crash at any point: move the disk to the worker's storage (move_disk, target-move path), or migrate
 * the VM offline to the worker's node (migrate path), then finish (our owner tag, what it was
 * deployed from). Each step first looks at the VM (level-triggered): a step already done is skipped,
 * a VM deleted outside workerctl is deployed again, a VM at the reserved vmid that does not carry our
 * marker is never touched (invariant 3).
 */
import {
  ApiValidationError,
  ChecksumMismatchError,
  ConflictError,
  LockedError,
  NotFoundError,
  TaskFailedError,
} from '../../errors.js';
import type { VmConfig } from '../../proxmox/types.js';
import type { DeployProgress } from '../../types.js';
import { desiredConfig, desiredTags, type DesiredConfig } from '../desired-config.js';
import { buildConfigChange, diffConfig } from '../diff.js';
import { diskStorage, normalizeTags } from '../normalize.js';
import { markerMatches } from '../ownership.js';
import type { WorkerRun } from '../worker-run.js';
import { CLONE_WAIT_MS, type Mutations } from './mutation.js';
import { lockedByDeadTask, unlockVm } from './remove.js';

/** Finish writes tried when someone else writes the config meanwhile (each re-reads first). */
const FINISH_ATTEMPTS = 3;

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
 * The last step: the worker's whole config (our owner tag, cores, memory, NICs, ... as the plan's
 * desired config says) in ONE write on the config read after the clone (or after the move), guarded
 * by that read's digest (qemu-server PVE/API2/Qemu.pm update_vm_api checks it again under the VM's
 * flock): an edit made outside after our read refuses the write, and we read again and write on what
 * we saw. What it was deployed from is recorded, the deploy and intent cleared. The pass that follows
 * reads the config back (observe.ts) and plans whatever is left (a resize, a value PVE stores
 * differently). PVE refusing a value (400) falls back to the owner tag alone: the deploy finishes and
 * the configure step reports the refused value, as it does for a spec change.
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
  const desired = desiredConfig(spec, { ownerTag: settings.ownerTag, uid: run.rec.uid ?? run.name });
  let tagOnly = false;
  let cfg = config;
  for (let attempt = 1; ; attempt++) {
    if (!markerMatches(run.rec, cfg.values)) {
      throw new ConflictError(`vm ${vmid} does not carry our marker after the clone; leaving it alone`);
    }
    const body = finishBody(desired, cfg.values, tagOnly ? desiredTags(settings.ownerTag) : undefined);
    if (!body) break;
    // No intent of its own: the deploy record (written before the clone was sent) says the finish
    // is due, and writing the same values again is harmless.
    const release = await m.deps.slots.acquire({ node }, signal);
    try {
      await client.updateConfig(node, vmid, { ...body, digest: cfg.digest });
      await m.deps.hooks?.afterCall?.('finish', run.name, undefined);
      break;
    } catch (err) {
      if (err instanceof ApiValidationError && !tagOnly) {
        run.log.warn('proxmox refused the config of a new vm; writing the owner tag alone', { vmid, err });
        tagOnly = true;
        continue;
      }
      if (!(err instanceof ChecksumMismatchError) || attempt >= FINISH_ATTEMPTS) throw err;
      run.log.info('config changed meanwhile; reading it again', { vmid });
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

/**
 * The finish's write on `observed`: every desired key that differs, or only the owner tag `tags`
 * when given; undefined when nothing differs.
 */
function finishBody(
  desired: DesiredConfig,
  observed: Readonly<Record<string, string>>,
  tags: string | undefined,
): { set: Record<string, string>; delete?: string[] } | undefined {
  if (tags !== undefined) {
    return normalizeTags(observed.tags ?? '') === normalizeTags(tags) ? undefined : { set: { tags } };
  }
  const keys = diffConfig(desired, observed, false).map((c) => c.field);
  if (keys.length === 0) return undefined;
  const body = buildConfigChange(desired, observed, keys);
  return { set: body.set, ...(body.delete.length ? { delete: body.delete } : {}) };
}
