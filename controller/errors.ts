/**
 * Typed errors. Callers check with instanceof, never by matching message text (that happens only in
 * proxmox/error-mapping.ts). Messages are lower-case and never carry secrets.
 */
export class WorkerctlError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: exit code 2. */
export class UsageError extends WorkerctlError {}

/** The state directory is held by another process. */
export class StoreLockedError extends WorkerctlError {}

/** The store file is unreadable or from a newer version. */
export class StoreCorruptError extends WorkerctlError {}

/** Configuration of workerctl itself (flags, env, settings file) is wrong. */
export class ConfigError extends WorkerctlError {}

// ---------- Proxmox ----------

export interface ProxmoxErrorInfo {
  status?: number;
  method?: string;
  /** API path without the query string, e.g. /nodes/pve1/qemu/100/config. */
  path?: string;
  /** PVE's per-parameter errors. */
  errors?: Record<string, string>;
  cause?: unknown;
}

/** Any failure talking to Proxmox VE. */
export class ProxmoxError extends WorkerctlError {
  readonly status?: number;
  readonly method?: string;
  readonly path?: string;
  readonly errors?: Record<string, string>;
  constructor(message: string, info: ProxmoxErrorInfo = {}) {
    super(message, { cause: info.cause });
    this.status = info.status;
    this.method = info.method;
    this.path = info.path;
    this.errors = info.errors;
  }
}

/** 404, or PVE's 500 "... does not exist". */
export class NotFoundError extends ProxmoxError {}
/** "already exists" (create, clone, nextid?vmid=). */
export class AlreadyExistsError extends ProxmoxError {}
/** The config lock field: "VM is locked (clone)". */
export class LockedError extends ProxmoxError {}
/**
 * The config `lock` of a VM that no task holds any more (its task died): nothing frees it but
 * `qm unlock` on the node, or `skiplock` as root@pam. The message says which command to run.
 */
export class DeadLockError extends LockedError {}
/** The flock: "can't lock file ... - got timeout". Safe to retry. */
export class LockTimeoutError extends ProxmoxError {}
/** Stale digest: "checksum mismatch (file change by other user?)". Re-read and retry. */
export class ChecksumMismatchError extends ProxmoxError {}
/** 401. */
export class AuthError extends ProxmoxError {}
/** 403. */
export class PermissionError extends ProxmoxError {}
/** 59x, connection reset, timeouts: the call's fate may be unknown. */
export class TransientError extends ProxmoxError {}
/** 400 parameter verification, 501, 506: our request is wrong; retrying does not help. */
export class ApiValidationError extends ProxmoxError {}

/** 500 "hostname lookup 'x' failed": the node in the path does not exist (not a missing VM). */
export class UnknownNodeError extends ApiValidationError {}
/** The certificate did not match the CA file or the pinned fingerprint. Not retryable. */
export class TlsError extends ProxmoxError {}
/** Guest agent calls: the agent is not configured, not (yet) answering, or the VM is not running. */
export class AgentUnavailableError extends ProxmoxError {
  reason: 'not-configured' | 'not-running' | 'vm-not-running' | 'timeout' = 'not-running';
}

/** A task that ended with an error exit status. */
export class TaskFailedError extends ProxmoxError {
  constructor(
    message: string,
    readonly upid: string,
    readonly exitStatus: string,
    readonly logTail: string[] = [],
  ) {
    super(message);
  }
}

/** Waiting for a task or a guest gave up; the task itself may still run. */
export class WaitTimeoutError extends WorkerctlError {}

// ---------- reconcile ----------

/** A VM that clashes with a worker but is not ours (invariant 3). */
export class ConflictError extends WorkerctlError {}

/** Must not be retried until the input changes (invalid spec, missing template, 4xx). */
export class TerminalError extends WorkerctlError {}

/**
 * A deploy that cannot work as the cluster is: no such template, a template that lacks what the
 * worker needs, or no way from the template to the worker's node and storage. Found at plan time;
 * the message names the worker and what to change; `reason` is the condition's reason.
 */
export class DeployRefusedError extends TerminalError {
  constructor(
    message: string,
    readonly reason: 'TemplateNotFound' | 'TemplateCheckFailed' | 'NoDeployPath',
  ) {
    super(message);
  }
}

/** Not a failure: come back later. */
export class RequeueAfterError extends WorkerctlError {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/** No controller answers at the given URL. */
export class ControllerUnavailableError extends WorkerctlError {}

/** Message of any thrown value, for status and logs. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
