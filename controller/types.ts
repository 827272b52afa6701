/**
 * Domain types shared by every part of workerctl. No wire JSON here: the Proxmox client maps PVE's
 * shapes to the types in proxmox/types.ts, and the loader maps YAML to WorkerSpec.
 */

/** Static IPv4 addressing of one network. */
export interface StaticIpv4 {
  /** Address in CIDR form, e.g. 10.0.20.15/24. */
  address: string;
  /** Default gateway; only meaningful on the first (routing) network. */
  gateway?: string;
}

export type Ipv4Config = 'dhcp' | StaticIpv4;

export interface NetworkSpec {
  bridge: string;
  vlan?: number;
  ipv4: Ipv4Config;
}

export type DnsSpec = 'auto' | { servers: string[] };

export interface ProxySpec {
  host: string;
  port: number;
  /** Optional proxy user; the password is never in a manifest, only in a file read at use time. */
  username?: string;
  passwordFile?: string;
}

export interface UpdatesSpec {
  enabled: boolean;
  proxy?: ProxySpec;
}

export type DeployMode = 'OnDemand' | 'Eager';
export type ApplyChangesMode = 'WhenIdle' | 'Immediate';
export type DeletionPolicy = 'Delete' | 'Orphan';

/** A worker's desired state with every default applied (see manifest/defaults.ts). */
export interface WorkerSpec {
  name: string;
  labels: Record<string, string>;
  host: string;
  /** Template name or vmid. */
  template: string | number;
  storage: string;
  description: string;
  maxConcurrentTasks: number;
  cpus: number;
  memoryGiB: number;
  diskGiB: number;
  networks: NetworkSpec[];
  dns: DnsSpec;
  updates: UpdatesSpec;
  enabled: boolean;
  deploy: DeployMode;
  applyChanges: ApplyChangesMode;
  deletionPolicy: DeletionPolicy;
}

/** Where a document came from, for messages at file:line:col. */
export interface SourceRef {
  file: string;
  line: number;
  col: number;
}

/** A validated worker document. */
export interface LoadedWorker {
  spec: WorkerSpec;
  source: SourceRef;
  /** Stable hash of the spec (sha256 of canonical JSON); a new hash means a new generation. */
  specHash: string;
}

export type Severity = 'error' | 'warning';

/** One problem found in a manifest, always located in a file. */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  endLine?: number;
  endCol?: number;
  /** JSON pointer inside the document, e.g. /spec/networks/0/vlan ('' for the whole document). */
  pointer: string;
  /** Index of the YAML document inside the file (0-based). */
  document?: number;
  severity: Severity;
  /** Short machine code, e.g. schema.type, yaml.syntax, semantic.duplicate-name. */
  code: string;
  message: string;
  /** The offending value, when there is one (never a secret). */
  value?: unknown;
  hint?: string;
}

/** The code of an empty manifest file's warning: its workers keep their last spec (not "none wanted"). */
export const EMPTY_FILE_CODE = 'file.empty';

/** Result of loading a manifest set: the valid workers and every problem. */
export interface LoadResult {
  workers: LoadedWorker[];
  diagnostics: Diagnostic[];
  /** Files that were read (valid or not). */
  files: string[];
  /** Files that had at least one error: their previous valid specs stay in force (invariant 1). */
  invalidFiles: string[];
  /** The Git commit the manifests were read at, when they are in a Git checkout. */
  revision?: string;
  /** The branch HEAD named then, unless it was detached (git-sync). */
  revisionRef?: string;
}

/** A commit of the Git checkout that holds the manifests (manifest/git-revision.ts). */
export interface GitRevision {
  /** The full commit id (40 or 64 hex digits). */
  commit: string;
  /** The branch HEAD names (e.g. main), absent when HEAD is detached (git-sync). */
  ref?: string;
}

// ---------- status ----------

export type Phase = 'Configured' | 'Testing' | 'Updating' | 'Working' | 'ShutDown';
/** Phases the lifecycle sets while it has the worker (a test, a session start, sessions). */
export type LifecyclePhase = 'Testing' | 'Updating' | 'Working';
/** Phases at rest, which the reconciler sets: no VM yet, or deployed and powered off. */
export type RestingPhase = 'Configured' | 'ShutDown';
export type ConditionType = 'Ready' | 'Reconciling' | 'Degraded';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  /** ISO 8601. */
  lastTransitionTime: string;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  durationMs: number;
  /** Short excerpt of what the check printed. */
  output: string;
}

export interface TestResult {
  time: string;
  ok: boolean;
  checks: CheckResult[];
  /** Why the test ended early, when it did. */
  error?: string;
}

export interface HistoryEntry {
  time: string;
  /** What was done, e.g. 'cloned', 'config updated', 'phase ShutDown -> Working'. */
  action: string;
  /** Why, e.g. 'spec generation 3', 'drift: cores 2 -> 6', 'session s-12 started'. */
  cause: string;
}

export interface WorkerStatus {
  phase: Phase;
  conditions: Condition[];
  observedGeneration: number;
  vmid?: number;
  node?: string;
  lastTest?: TestResult;
  /** Ids of the open sessions this worker serves. */
  sessions: string[];
  lastError?: string;
  /** Newest last, bounded (see store). */
  history: HistoryEntry[];
}

/** The mutating calls an intent can record (the database's file schema checks against this list). */
export const INTENT_OPS = [
  'clone',
  'move-disk',
  'migrate',
  'configure',
  'resize',
  'start',
  'shutdown',
  'stop',
  'delete',
  'tag-remove',
  'unlock',
] as const;
export type IntentOp = (typeof INTENT_OPS)[number];

/**
 * A mutating Proxmox call we are about to make or have made, written to the store before the call
 * (invariant 4). After a crash the controller resumes from it.
 */
export interface Intent {
  op: IntentOp;
  /** The node the call was sent to: its task runs there and is in that node's task list. */
  node: string;
  vmid: number;
  /** The task, once the call returned one. */
  upid?: string;
  startedAt: string;
  /** A clone's source (the template's vmid): the clone task's id in the node's task list. */
  source?: number;
}

/**
 * How a worker's VM gets from its template to its node and storage (reconcile/deploy-path.ts):
 * - local: a template on the worker's node, cloned there onto the worker's storage;
 * - target: a template on shared storage, cloned with `target` onto a shared worker storage;
 * - target-move: the same onto a shared storage (`cloneStorage`), then the disk moved to the
 *   worker's (local) storage with move_disk;
 * - migrate: a template on local storage, cloned on its own node (onto `cloneStorage`), then migrated
 *   offline to the worker's node with `targetstorage`.
 */
export const DEPLOY_PATH_KINDS = ['local', 'target', 'target-move', 'migrate'] as const;
export type DeployPathKind = (typeof DEPLOY_PATH_KINDS)[number];

export interface DeployPath {
  kind: DeployPathKind;
  template: { vmid: number; node: string; name?: string };
  /** The storage the clone is made on. */
  cloneStorage: string;
  /** The node the clone is on when its task ends (the worker's, except for migrate). */
  cloneNode: string;
  /** The worker's node and storage. */
  node: string;
  storage: string;
  /** The main disk (the template's, e.g. scsi0): moved by target-move, grown by the resize. */
  disk: string;
}

/** The steps of a deploy after the clone: move-disk or migrate as the path needs, then finish (tag). */
export const DEPLOY_STEPS = ['clone', 'move-disk', 'migrate', 'finish'] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number];

/** A deploy in progress: its path and the steps still to do, next first; each step is its own intent. */
export interface DeployProgress {
  path: DeployPath;
  steps: DeployStep[];
}

/**
 * A VM left at `vmid` by a clone of ours whose task ended without success (or died): ours to
 * delete although it has no owner tag, recognised by the clone's intent (vmid, UPID) and by the
 * temporary config or our marker, never by its name.
 */
export interface CloneLeftover {
  vmid: number;
  node: string;
  upid?: string;
  /** How the clone ended, e.g. its task's exit status. */
  reason: string;
}

/**
 * A worker as read: one view over its record's sections (store/sections.ts composes it). Readers use
 * it; writers write one section each (WorkerSections).
 */
export interface WorkerRecord {
  name: string;
  /** The last valid spec in force. */
  spec: WorkerSpec;
  specHash: string;
  /** Bumped each time specHash changes. */
  generation: number;
  /** The manifest that holds it, for messages. */
  source?: SourceRef;
  /** The VM that is ours, once allocated (recorded before the clone is sent). */
  vmid?: number;
  node?: string;
  intent?: Intent;
  status: WorkerStatus;
  /** Random id written into the VM's description marker: the third leg of the identity check. */
  uid?: string;
  /** Set when no manifest declares the worker any more: the VM is to be removed (ISO time). */
  removeRequestedAt?: string;
  /** The Git commit of the manifests when this generation of the spec was loaded. */
  revision?: string;
  /** Lifecycle hook: an OnDemand worker is deployed when this is true (a test or session wants it). */
  wantDeployed?: boolean;
  /** What the VM was cloned from; a change of any of these means a redeploy. */
  deployed?: DeployedFrom;
  /** A deploy in progress (the clone done, a move or migration and the finish still to come). */
  deploy?: DeployProgress;
  /** A half clone of ours to remove. */
  leftover?: CloneLeftover;
}

/** The desired state, from the manifests; written by the intake only (reconcile/intake.ts). */
export interface DesiredState {
  spec: WorkerSpec;
  specHash: string;
  generation: number;
  source?: SourceRef;
  uid?: string;
  removeRequestedAt?: string;
  /** The Git commit of the manifests this generation was loaded at. */
  revision?: string;
}

/** What workerctl has in Proxmox; written by the executor only (reconcile/execute/). */
export interface Inventory {
  vmid?: number;
  node?: string;
  intent?: Intent;
  deployed?: DeployedFrom;
  deploy?: DeployProgress;
  leftover?: CloneLeftover;
}

/** Tests, sessions and deploy requests; written by the lifecycle only (lifecycle/). */
export interface LifecycleState {
  /** Set while the lifecycle has the worker; at rest the reconciler's phase shows. */
  phase?: LifecyclePhase;
  /** Ids of the open sessions this worker serves. */
  sessions: string[];
  lastTest?: TestResult;
  /** The last test's verdict on Degraded (the newer of it and the reconciler's shows). */
  degraded?: Condition;
  /** The last test's or power-off's error (a reconciler's error shows first). */
  lastError?: string;
  /** An OnDemand worker is deployed when this is true (a test or session wants it). */
  wantDeployed?: boolean;
}

/** The reconciler's status; written by the reconciler only (reconcile/status.ts). */
export interface ReconcileStatus {
  phase: RestingPhase;
  conditions: Condition[];
  observedGeneration: number;
  lastError?: string;
}

/**
 * A worker record as the store keeps it: one section per writer, plus the history that every writer
 * appends to (newest last, bounded).
 */
export interface WorkerSections {
  name: string;
  desired: DesiredState;
  inventory: Inventory;
  lifecycle: LifecycleState;
  status: ReconcileStatus;
  history: HistoryEntry[];
}

/** The template, storage and host a worker's VM was cloned with. */
export interface DeployedFrom {
  template: string | number;
  storage: string;
  host: string;
}

export type SessionKind = 'backup' | 'restore';

export interface SessionRecord {
  id: string;
  worker: string;
  /** The host the job asked for. */
  host: string;
  kind: SessionKind;
  tasks: number;
  /** True when the worker is on another host than asked. */
  fallback: boolean;
  createdAt: string;
  leaseExpiresAt: string;
  leaseMs: number;
  /** starting: booked, the worker is being prepared; ready: the worker is Working for it (lifecycle). */
  state?: 'starting' | 'ready';
  /** The worker's first IPv4 address, once ready. */
  address?: string;
  /** When the worker became Working for this session. */
  readyAt?: string;
}
