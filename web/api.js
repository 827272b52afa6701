// @ts-check
/**
 * The controller's API as the page uses it. Reads need nothing; a request that changes something
 * sends the API token as a Bearer header. The token is asked for once and kept for the browser
 * session (sessionStorage); a refused token is forgotten and asked for again.
 */

/** @typedef {{type: string, status: string, reason: string, message: string, lastTransitionTime: string}} Condition */
/** @typedef {{name: string, ok: boolean, durationMs: number, output: string}} Check */
/** @typedef {{time: string, ok: boolean, checks: Check[], error?: string}} TestResult */
/** @typedef {{time: string, action: string, cause: string}} HistoryEntry */
/**
 * @typedef {{name: string, host: string, enabled: boolean, deploy: string, applyChanges: string,
 *   updates: boolean, maxConcurrentTasks: number, phase: string, vmid?: number, node?: string,
 *   sessions: string[], conditions: Condition[], lastTest?: TestResult, lastError?: string,
 *   generation: number, observedGeneration: number, labels?: Record<string, string>, ready?: boolean,
 *   lastAction?: HistoryEntry}} Worker
 */
/**
 * @typedef {Worker & {spec: Record<string, unknown>, source?: {file: string, line: number, col: number},
 *   history: HistoryEntry[]}} WorkerDetail
 */
/**
 * @typedef {{id: string, worker: string, host: string, kind: string, tasks: number, fallback: boolean,
 *   createdAt: string, leaseExpiresAt: string, state: string}} Session
 */
/** @typedef {{worker: string, kind: string, class: string, reason: string, blockedBy?: string}} PlannedAction */
/** @typedef {{wouldDelete: number, of: number, threshold: string}} MassDelete */
/** @typedef {{converged: boolean, actions: PlannedAction[], massDeleteBlocked: MassDelete | null}} Plan */
/**
 * @typedef {{file: string, line: number, col: number, severity: string, code: string, message: string,
 *   hint?: string}} ManifestDiagnostic
 */
/**
 * @typedef {{paths: string[], lastLoad?: {at: string, files: number, workers: number,
 *   invalidFiles: string[], errors: number, warnings: number, revision?: string}, lastSuccessAt?: string,
 *   loadError?: {at: string, message: string}, diagnostics: ManifestDiagnostic[],
 *   diagnosticsOmitted: number, massDeleteBlocked?: MassDelete}} Manifests
 */

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const TOKEN_KEY = 'workerctl.apiToken';

export function hasToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

/** @param {Response} res @returns {Promise<any>} */
async function answer(res) {
  const body = await res.json().catch(() => ({}));
  if (res.ok) return body;
  const err = body && typeof body.error === 'object' ? body.error : {};
  throw new ApiError(
    res.status,
    String(err.code ?? `http_${res.status}`),
    String(err.message ?? res.statusText),
  );
}

/** GET a JSON resource. @param {string} path @returns {Promise<any>} */
export async function get(path) {
  return answer(await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' }));
}

/**
 * A request that changes something, with the token.
 * @param {string} method @param {string} path @param {unknown} [body] @returns {Promise<any>}
 */
export async function change(method, path, body) {
  let note = '';
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY) ?? (await askToken(note));
    if (!token) throw new ApiError(0, 'no_token', 'no API token given');
    try {
      return await answer(
        await fetch(path, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
      );
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      sessionStorage.removeItem(TOKEN_KEY);
      note = 'The controller refused that token. Try again.';
    }
  }
}

/** @template {HTMLElement} T @param {string} id @returns {T} */
function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return /** @type {T} */ (el);
}

/**
 * Asks for the token in the page's dialog; resolves with it (stored), or undefined when cancelled.
 * @param {string} [note] @returns {Promise<string | undefined>}
 */
export function askToken(note = '') {
  /** @type {HTMLDialogElement} */
  const dialog = byId('token-dialog');
  /** @type {HTMLInputElement} */
  const input = byId('token-input');
  const form = /** @type {HTMLFormElement} */ (dialog.querySelector('form'));
  byId('token-note').textContent = note;
  return new Promise((resolve) => {
    /** @param {string | undefined} token */
    const done = (token) => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      byId('token-cancel').removeEventListener('click', onClose);
      byId('token-forget').removeEventListener('click', onForget);
      input.value = '';
      if (dialog.open) dialog.close();
      resolve(token);
    };
    /** @param {Event} e */
    const onSubmit = (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      done(token || undefined);
    };
    const onClose = () => done(undefined);
    const onForget = () => {
      sessionStorage.removeItem(TOKEN_KEY);
      done(undefined);
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    byId('token-cancel').addEventListener('click', onClose);
    byId('token-forget').addEventListener('click', onForget);
    dialog.showModal();
    input.focus();
  });
}
