/**
 * The one place that turns PVE answers and network failures into typed errors by reading message
 * text: the answers of pve-http-server (status line and JSON `message`), pve-common src/PVE/Tools.pm
 * lock_file_full ("can't lock file ... got timeout"), pve-guest-common src/PVE/AbstractConfig.pm
 * load_config ("... does not exist") and qemu-server PVE/QemuServer/Agent.pm (agent errors).
 * Everything else checks with instanceof.
 */
import {
  AgentUnavailableError,
  AlreadyExistsError,
  ApiValidationError,
  AuthError,
  ChecksumMismatchError,
  LockTimeoutError,
  LockedError,
  NotFoundError,
  PermissionError,
  ProxmoxError,
  TlsError,
  TransientError,
  UnknownNodeError,
  type ProxmoxErrorInfo,
} from '../errors.js';
import { redactText } from '../redact.js';
import { asRecord } from './lenient.js';

/** An HTTP answer with status >= 400 as the transport saw it. */
export interface ErrorResponse {
  method: string;
  path: string;
  status: number;
  /** The HTTP reason phrase (older PVE puts the whole message here). */
  statusMessage?: string;
  /** Raw body text (JSON envelope, plain text, or empty). */
  body: string;
}

/** The error text PVE meant: JSON `message`, else a plain-text body, else the reason phrase. */
export function errorText(res: ErrorResponse): { text: string; errors?: Record<string, string> } {
  let message: string | undefined;
  let errors: Record<string, string> | undefined;
  const body = res.body.trim();
  if (body.startsWith('{')) {
    try {
      const parsed = asRecord(JSON.parse(body));
      if (typeof parsed?.message === 'string' && parsed.message.trim()) message = parsed.message.trim();
      const errs = asRecord(parsed?.errors);
      if (errs) {
        errors = {};
        for (const [k, v] of Object.entries(errs))
          errors[k] = redactText(typeof v === 'string' ? v.trim() : String(v));
      }
    } catch {
      // not JSON after all: fall through to the reason phrase
    }
  } else if (body && !body.startsWith('<')) {
    message = body.split(/\r?\n/)[0]?.trim();
  }
  const text = message || res.statusMessage?.trim() || `http ${res.status}`;
  return { text, errors };
}

function describe(res: { method: string; path: string }, status: number | string, text: string): string {
  return redactText(`proxmox ${res.method} ${res.path}: ${status} ${text}`);
}

const NOT_FOUND = /does not exist|no such (vm|task|file|resource)/i;
const HOSTNAME_LOOKUP = /hostname lookup '[^']*' failed/i;
const LOCKED = /VM is locked \(([\w-]+)\)/;
const LOCK_TIMEOUT =
  /can't lock file .*got timeout|got lock request timeout|cfs-lock .* error: got lock timeout/i;
// update_vm_api's digest check, and pve-common PVE/Tools.pm assert_if_modified (move_disk's digest).
const CHECKSUM = /checksum mismatch|detected modified configuration/i;
// qemu-server PVE/API2/Qemu.pm clone_vm $load_and_check: refusals no retry changes.
const CLONE_REFUSED =
  /can't clone to non-shared storage|can't clone VM to node|not allowed for linked clones|feature is not supported for/i;
const ALREADY_EXISTS = /already exists/i;
const AGENT_NOT_CONFIGURED = /No QEMU guest agent configured/i;
const AGENT_NOT_RUNNING = /QEMU guest agent is not running/i;
const VM_NOT_RUNNING = /VM \d+ (is )?not running/i;
const GOT_TIMEOUT = /got timeout|timed out/i;

/** Maps a PVE error answer (status >= 400) to a typed ProxmoxError. */
export function mapErrorResponse(res: ErrorResponse, isAgentCall = false): ProxmoxError {
  const { text, errors } = errorText(res);
  const errText = errors
    ? Object.entries(errors)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')
    : '';
  const full = errText ? `${text} (${errText})` : text;
  const info: ProxmoxErrorInfo = { status: res.status, method: res.method, path: res.path, errors };
  const msg = describe(res, res.status, full);
  const s = res.status;

  if (s === 401) return new AuthError(msg, info);
  if (s === 403) return new PermissionError(msg, info);
  if (s === 404) return new NotFoundError(msg, info);
  if (s === 400) {
    if (errors?.vmid && ALREADY_EXISTS.test(errors.vmid)) return new AlreadyExistsError(msg, info);
    if (errors?.upid && /no such task/i.test(errors.upid)) return new NotFoundError(msg, info);
    return new ApiValidationError(msg, info);
  }
  if (s === 501 || s === 506 || s === 413 || s === 405) return new ApiValidationError(msg, info);
  if (s >= 595 && s <= 599) return new TransientError(msg, info);
  if (s === 502 || s === 503 || s === 504) return new TransientError(msg, info);

  // 500 and anything else: PVE's plain `die` texts.
  if (HOSTNAME_LOOKUP.test(text)) return new UnknownNodeError(msg, info);
  if (LOCK_TIMEOUT.test(text)) return new LockTimeoutError(msg, info);
  if (LOCKED.test(text)) return new LockedError(msg, info);
  if (CHECKSUM.test(text)) return new ChecksumMismatchError(msg, info);
  if (CLONE_REFUSED.test(text)) return new ApiValidationError(msg, info);
  if (NOT_FOUND.test(text)) return new NotFoundError(msg, info);
  if (ALREADY_EXISTS.test(text)) return new AlreadyExistsError(msg, info);
  if (isAgentCall || AGENT_NOT_RUNNING.test(text) || AGENT_NOT_CONFIGURED.test(text)) {
    const reason = AGENT_NOT_CONFIGURED.test(text)
      ? 'not-configured'
      : AGENT_NOT_RUNNING.test(text)
        ? 'not-running'
        : VM_NOT_RUNNING.test(text)
          ? 'vm-not-running'
          : GOT_TIMEOUT.test(text)
            ? 'timeout'
            : undefined;
    if (reason) {
      const e = new AgentUnavailableError(msg, info);
      e.reason = reason;
      return e;
    }
  }
  if (/got timeout/i.test(text)) return new TransientError(msg, info);
  return new ProxmoxError(msg, info);
}

/** Error codes of a request whose fate is unknown or that never reached the server. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

const TLS_CODES =
  /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT|ERR_SSL_|ERR_TLS_|EPROTO$|HOSTNAME_MISMATCH|ERR_PVE_FINGERPRINT)/;

/** Maps a failure without an HTTP answer (reset, timeout, TLS, DNS) to a typed ProxmoxError. */
export function mapNetworkError(
  err: unknown,
  method: string,
  path: string,
  timeoutMs?: number,
): ProxmoxError {
  const e = err as { code?: string; message?: string; name?: string; cause?: unknown };
  const causeCode = (e.cause as { code?: string } | undefined)?.code;
  const code = causeCode && TLS_CODES.test(causeCode) ? causeCode : (e.code ?? causeCode ?? 'EUNKNOWN');
  // A sanitised cause: got's own error carries the request options, headers (the token) included.
  const cause = Object.assign(new Error(redactText(e.message ?? String(err))), { code });
  const info: ProxmoxErrorInfo = { method, path, cause };
  if (e.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    const after = timeoutMs ? ` after ${timeoutMs} ms` : '';
    return new TransientError(describe({ method, path }, 'timeout', `no answer${after} (ETIMEDOUT)`), info);
  }
  if (TLS_CODES.test(code)) {
    const detail = redactText((e.cause as Error | undefined)?.message ?? e.message ?? code);
    return new TlsError(describe({ method, path }, 'tls', `${detail} (${code})`), info);
  }
  if (code === 'ENOTFOUND') {
    return new TransientError(describe({ method, path }, 'dns', `host not found (ENOTFOUND)`), info);
  }
  if (TRANSIENT_CODES.has(code) || /socket hang up/i.test(e.message ?? '')) {
    const what = code === 'ECONNREFUSED' ? 'connection refused' : 'connection lost';
    return new TransientError(describe({ method, path }, 'network', `${what} (${code})`), info);
  }
  return new TransientError(
    describe({ method, path }, 'network', `${redactText(e.message ?? String(err))} (${code})`),
    info,
  );
}

/**
 * A task's exit status that says the VM's config is not there: qemu-server PVE/QemuServer.pm
 * vm_stop / vm_shutdown ("unable to find configuration file for VM N on node 'X'") and
 * pve-guest-common PVE/AbstractConfig.pm load_config ("Configuration file '...' does not exist", e.g.
 * vm_start, destroy_vm). Start, stop and delete fork before they look, so a missing VM is a failed task.
 */
export function taskSaysVmMissing(exitStatus: string): boolean {
  return /unable to find configuration file for VM \d+|Configuration file '[^']*' does not exist/.test(
    exitStatus,
  );
}
