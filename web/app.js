// @ts-check
/**
 * The fleet page: reads the API, draws the fleet or one worker (#/workers/NAME), and stays live on
 * the server-sent events of /v1/events (a burst of events is one refresh; a slow poll covers what
 * has no event, such as the plan after a reconcile).
 */
import { ApiError, askToken, change, get, hasToken } from './api.js';
import { fleetView, summaryText, workerView } from './views.js';

/** A burst of events is one refresh, at most one a second (a big fleet's list is large). */
const REFRESH_DELAY_MS = 250;
const REFRESH_MIN_INTERVAL_MS = 1000;
const POLL_MS = 10_000;

/** @type {import('./views.js').State} */
const state = { workers: [], sessions: [], problems: [], testing: new Set() };

/** The worker of #/workers/NAME, or undefined for the fleet. */
function route() {
  const m = /^#\/workers\/([^/]+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1] ?? '') : undefined;
}

/** @param {string} id */
const el = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

function render() {
  const name = route();
  el('summary').textContent = summaryText(state);
  el('token-button').textContent = hasToken() ? 'API token ✓' : 'API token';
  const view = name ? workerView(state, name, { test }) : fleetView(state);
  el('main').replaceChildren(...view.filter((n) => n instanceof Node));
  document.title = name ? `${name} · workerctl` : `workerctl · ${summaryText(state)}`;
}

/** @template T @param {Promise<T>} p @param {string} what @param {string[]} problems @returns {Promise<T | undefined>} */
async function attempt(p, what, problems) {
  try {
    return await p;
  } catch (err) {
    // A part the controller does not offer (503) is shown as not available, not as a failure.
    if (!(err instanceof ApiError && err.status === 503))
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

let refreshing = false;
let lastRefreshAt = 0;
/** Reads everything the current view shows, then draws. */
async function refresh() {
  if (refreshing) {
    scheduleRefresh();
    return;
  }
  refreshing = true;
  lastRefreshAt = Date.now();
  try {
    /** @type {string[]} */
    const problems = [];
    const name = route();
    const [workers, sessions, plan, manifests, ready, detail] = await Promise.all([
      attempt(get('/v1/workers'), 'workers', problems),
      attempt(get('/v1/sessions'), 'sessions', problems),
      attempt(get('/v1/plan'), 'plan', problems),
      attempt(get('/v1/manifests'), 'manifests', problems),
      fetch('/readyz', { cache: 'no-store' }).then(
        (r) => r.ok,
        () => undefined,
      ),
      name ? attempt(get(`/v1/workers/${encodeURIComponent(name)}`), name, problems) : undefined,
    ]);
    if (workers) state.workers = workers.workers;
    if (sessions) state.sessions = sessions.sessions;
    state.plan = plan;
    state.manifests = manifests;
    state.ready = ready;
    state.detail = detail;
    state.problems = ready === undefined ? ['The controller does not answer.'] : problems;
    render();
  } finally {
    refreshing = false;
  }
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
function scheduleRefresh() {
  const wait = Math.max(REFRESH_DELAY_MS, lastRefreshAt + REFRESH_MIN_INTERVAL_MS - Date.now());
  timer ??= setTimeout(() => {
    timer = undefined;
    void refresh();
  }, wait);
}

/** Live updates: a worker event is drawn at once, then everything is read again. */
function listen() {
  const events = new EventSource('/v1/events');
  events.addEventListener('open', () => {
    el('live').textContent = 'live';
    el('live').className = 'live on';
    scheduleRefresh();
  });
  events.addEventListener('error', () => {
    el('live').textContent = 'reconnecting';
    el('live').className = 'live off';
  });
  events.addEventListener('worker', (e) => {
    const ev = JSON.parse(/** @type {MessageEvent} */ (e).data);
    const w = state.workers.find((x) => x.name === ev.worker);
    if (w) Object.assign(w, { phase: ev.phase, conditions: ev.conditions, sessions: ev.sessions });
    render();
    scheduleRefresh();
  });
  for (const type of ['worker-removed', 'session', 'manifests'])
    events.addEventListener(type, scheduleRefresh);
}

/** Starts a test of a worker (needs the token); the answer comes when it is done. @param {string} name */
async function test(name) {
  state.testing.add(name);
  state.notice = undefined;
  render();
  try {
    const { result } = await change('POST', `/v1/workers/${encodeURIComponent(name)}/test`);
    const failed = result.checks.filter((/** @type {{ok: boolean}} */ c) => !c.ok).length;
    state.notice = {
      worker: name,
      ok: result.ok,
      text: result.ok
        ? 'Test passed.'
        : `Test failed${failed ? `: ${failed} check(s) failed` : ''}${result.error ? ` (${result.error})` : ''}.`,
    };
  } catch (err) {
    state.notice = {
      worker: name,
      ok: false,
      text: `Test not run: ${err instanceof Error ? err.message : String(err)}`,
    };
  } finally {
    state.testing.delete(name);
    await refresh();
  }
}

el('token-button').addEventListener('click', () => void askToken().then(render));
window.addEventListener('hashchange', () => {
  state.detail = undefined;
  render();
  void refresh();
});
render();
void refresh();
listen();
setInterval(() => void refresh(), POLL_MS);
