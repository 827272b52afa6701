// @ts-check
/**
 * What the fleet page draws, from the API's JSON: the fleet (hosts by workers), the plan, the
 * manifests' health, and one worker's page. Pure functions of the state: they return DOM nodes.
 */
import { duration, h, table, when, workerHref } from './dom.js';

/** @typedef {import('./api.js').Worker} Worker */
/** @typedef {import('./api.js').WorkerDetail} WorkerDetail */
/** @typedef {import('./api.js').Session} Session */
/** @typedef {import('./api.js').Plan} Plan */
/** @typedef {import('./api.js').Manifests} Manifests */
/** @typedef {import('./api.js').TestResult} TestResult */
/** @typedef {import('./api.js').MassDelete} MassDelete */
/**
 * @typedef {{workers: Worker[], sessions: Session[], plan?: Plan, manifests?: Manifests,
 *   ready?: boolean, problems: string[], detail?: WorkerDetail, testing: Set<string>,
 *   notice?: {worker: string, text: string, ok: boolean}}} State
 */
/** @typedef {{test: (name: string) => void}} Actions */

/** @param {Worker} w @param {string} type */
const conditionOf = (w, type) => w.conditions.find((c) => c.type === type);

/** Tasks of the open sessions a worker serves. @param {Session[]} sessions @param {string} name */
const tasksOf = (sessions, name) =>
  sessions.filter((s) => s.worker === name).reduce((sum, s) => sum + (s.tasks ?? 0), 0);

/** @param {string} phase */
const phaseBadge = (phase) => h('span', { class: `phase phase-${phase}` }, phase);

/** "Ready · Converged" or "Not ready · Conflict", with the message as a title. @param {Worker} w */
function readiness(w) {
  const ready = conditionOf(w, 'Ready');
  if (w.ready)
    return h(
      'span',
      { class: 'ready yes', title: ready?.message ?? '' },
      'Ready',
      ready ? ` · ${ready.reason}` : '',
    );
  const reason =
    ready?.status === 'True'
      ? `applying generation ${w.generation}`
      : (ready?.reason ?? 'not reconciled yet');
  return h('span', { class: 'ready no', title: ready?.message ?? '' }, 'Not ready · ', reason);
}

/** @param {Worker} w */
function lastAction(w) {
  if (w.lastError && !w.ready) return `error: ${w.lastError}`;
  if (!w.lastAction) return '';
  const { action, cause } = w.lastAction;
  return cause ? `${action} (${cause})` : action;
}

/** @param {Record<string, string> | undefined} labels */
function labelList(labels) {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return null;
  return h(
    'ul',
    { class: 'labels' },
    entries.map(([k, v]) => h('li', {}, `${k}=${v}`)),
  );
}

/** One worker in the grid. @param {Worker} w @param {Session[]} sessions */
function card(w, sessions) {
  const ready = conditionOf(w, 'Ready');
  const tasks = tasksOf(sessions, w.name);
  return h(
    'article',
    { class: `card ${w.ready ? 'is-ready' : 'not-ready'}`, 'data-worker': w.name },
    h(
      'div',
      { class: 'card-head' },
      h('a', { class: 'name', href: workerHref(w.name) }, w.name),
      phaseBadge(w.phase),
    ),
    h('div', { class: 'line' }, readiness(w)),
    !w.ready && ready?.message ? h('div', { class: 'why' }, ready.message) : null,
    h(
      'div',
      { class: 'line tasks' },
      h('meter', { min: 0, max: w.maxConcurrentTasks, value: tasks }),
      ` ${tasks} / ${w.maxConcurrentTasks} tasks`,
      w.sessions.length ? ` · ${w.sessions.length} session${w.sessions.length > 1 ? 's' : ''}` : '',
    ),
    h(
      'div',
      { class: 'line meta' },
      w.deploy,
      w.vmid !== undefined ? ` · vmid ${w.vmid}` : '',
      w.enabled ? '' : h('span', { class: 'off' }, 'disabled'),
    ),
    h(
      'div',
      { class: 'line last', title: lastAction(w) },
      w.lastAction && w.ready ? `${when(w.lastAction.time)} ` : '',
      lastAction(w),
    ),
    labelList(w.labels),
  );
}

/** "9 workers · 8 Ready · 1 Working · 1 session". @param {State} s */
export function summaryText(s) {
  const ready = s.workers.filter((w) => w.ready).length;
  const working = s.workers.filter((w) => w.phase === 'Working').length;
  const parts = [`${s.workers.length} workers`, `${ready} Ready`];
  if (working) parts.push(`${working} Working`);
  parts.push(`${s.sessions.length} session${s.sessions.length === 1 ? '' : 's'}`);
  if (s.ready === false) parts.push('controller starting');
  return parts.join(' · ');
}

/** @param {MassDelete} m */
const massDeleteText = (m) =>
  `Mass delete held back: ${m.wouldDelete} of ${m.of} workers would be deleted (more than ${m.threshold}). ` +
  'Nothing is deleted until the controller runs with --allow-mass-delete, or the manifests are restored.';

/** Problems an operator must see first. @param {State} s */
function alerts(s) {
  const out = [];
  for (const p of s.problems) out.push(h('div', { class: 'alert' }, p));
  const m = s.manifests;
  if (m?.loadError)
    out.push(
      h(
        'div',
        { class: 'alert', id: 'manifest-load-error' },
        `Manifests could not be read (${when(m.loadError.at)}): ${m.loadError.message}. The last valid specs stay in force.`,
      ),
    );
  if (m?.lastLoad?.invalidFiles.length)
    out.push(
      h(
        'div',
        { class: 'alert' },
        `${m.lastLoad.invalidFiles.length} invalid manifest file${m.lastLoad.invalidFiles.length > 1 ? 's' : ''}: `,
        m.lastLoad.invalidFiles.join(', '),
        '. Their workers keep their last valid spec; the errors are under Manifests.',
      ),
    );
  const held = s.plan?.massDeleteBlocked ?? m?.massDeleteBlocked;
  if (held) out.push(h('div', { class: 'alert' }, massDeleteText(held)));
  return out.length ? h('section', { class: 'alerts', id: 'alerts' }, out) : null;
}

/** Hosts side by side, each with its workers. @param {State} s */
function grid(s) {
  /** @type {Map<string, Worker[]>} */
  const byHost = new Map();
  for (const w of s.workers) byHost.set(w.host, [...(byHost.get(w.host) ?? []), w]);
  const hosts = [...byHost.keys()].sort();
  if (!hosts.length) return h('p', { class: 'empty' }, 'No workers: the manifests declare none yet.');
  return h(
    'section',
    { class: 'grid', id: 'fleet' },
    hosts.map((host) => {
      const workers = (byHost.get(host) ?? []).sort((a, b) => a.name.localeCompare(b.name));
      const ready = workers.filter((w) => w.ready).length;
      return h(
        'section',
        { class: 'host', 'data-host': host },
        h('h2', {}, host, h('small', {}, ` ${ready}/${workers.length} Ready`)),
        workers.map((w) => card(w, s.sessions)),
      );
    }),
  );
}

/** What is still to do, and what is blocked and why. @param {Plan | undefined} plan */
function planPanel(plan) {
  const body = !plan
    ? h('p', { class: 'muted' }, 'The plan is not available.')
    : plan.converged
      ? h('p', { class: 'good' }, 'Nothing to do: the cluster matches the manifests.')
      : table(
          ['worker', 'action', 'why', 'blocked by'],
          plan.actions.map((a) => [
            h('a', { href: workerHref(a.worker) }, a.worker),
            `${a.kind}${a.class && a.class !== 'none' ? ` (${a.class})` : ''}`,
            a.reason,
            a.blockedBy ? h('span', { class: 'blocked' }, a.blockedBy) : '',
          ]),
        );
  return h('section', { class: 'panel', id: 'plan' }, h('h2', {}, 'Plan'), body);
}

/** The manifests' health. @param {Manifests | undefined} m */
function manifestsPanel(m) {
  if (!m)
    return h(
      'section',
      { class: 'panel', id: 'manifests' },
      h('h2', {}, 'Manifests'),
      h('p', { class: 'muted' }, 'Not available.'),
    );
  const last = m.lastLoad;
  const facts = last
    ? [
        `${last.files} files, ${last.workers} workers`,
        `revision ${last.revision ?? 'unknown'}`,
        `loaded ${when(last.at)}`,
        `last clean load ${when(m.lastSuccessAt)}`,
      ].join(' · ')
    : 'not loaded yet';
  const rows = m.diagnostics.map((d) => [
    h('code', {}, `${d.file}:${d.line}:${d.col}`),
    h('span', { class: d.severity === 'error' ? 'bad' : 'muted' }, d.severity),
    h('code', {}, d.code),
    d.hint ? [d.message, h('div', { class: 'muted' }, d.hint)] : d.message,
  ]);
  return h(
    'section',
    { class: 'panel', id: 'manifests' },
    h('h2', {}, 'Manifests'),
    h('p', {}, h('code', {}, m.paths.join(' ')), ' · ', facts),
    rows.length
      ? table(['where', 'severity', 'code', 'message'], rows, 'diagnostics')
      : h('p', { class: 'good' }, 'Every file is valid.'),
    m.diagnosticsOmitted ? h('p', { class: 'muted' }, `${m.diagnosticsOmitted} more not shown`) : null,
  );
}

/** The fleet page. @param {State} s */
export function fleetView(s) {
  return [alerts(s), grid(s), h('div', { class: 'panels' }, planPanel(s.plan), manifestsPanel(s.manifests))];
}

/** @param {TestResult} t */
function testPanel(t) {
  return [
    h(
      'p',
      {},
      h('span', { class: t.ok ? 'good' : 'bad' }, t.ok ? 'passed' : 'failed'),
      ` at ${when(t.time)}`,
      t.error ? ` · ${t.error}` : '',
    ),
    table(
      ['check', 'result', 'took', 'output'],
      t.checks.map((c) => [
        c.name,
        h('span', { class: c.ok ? 'good' : 'bad' }, c.ok ? 'ok' : 'failed'),
        duration(c.durationMs),
        h('pre', {}, c.output),
      ]),
      'checks',
    ),
  ];
}

/**
 * A spec as YAML-like text, as operators write it (display only: strings that could read as
 * something else are quoted).
 * @param {unknown} value @param {string} [indent] @returns {string}
 */
export function yamlish(value, indent = '') {
  /** @param {unknown} v */
  const scalar = (v) =>
    typeof v === 'string' &&
    /^[A-Za-z0-9][A-Za-z0-9 ._/@,:-]*$/.test(v) &&
    !/^(true|false|null|[0-9.]+)$/.test(v) &&
    !/: /.test(v)
      ? v
      : JSON.stringify(v);
  const isBlock = (/** @type {unknown} */ v) =>
    v !== null && typeof v === 'object' && Object.keys(/** @type {object} */ (v)).length > 0;
  if (Array.isArray(value))
    return value
      .map((v) =>
        isBlock(v) ? `${indent}- ${yamlish(v, indent + '  ').trimStart()}` : `${indent}- ${scalar(v)}`,
      )
      .join('\n');
  if (isBlock(value))
    return Object.entries(/** @type {Record<string, unknown>} */ (value))
      .map(([k, v]) =>
        isBlock(v)
          ? `${indent}${k}:\n${yamlish(v, indent + '  ')}`
          : `${indent}${k}: ${Array.isArray(v) ? '[]' : v !== null && typeof v === 'object' ? '{}' : scalar(v)}`,
      )
      .join('\n');
  return indent + scalar(value);
}

/** One worker's page. @param {State} s @param {string} name @param {Actions} actions */
export function workerView(s, name, actions) {
  const d = s.detail;
  if (!d || d.name !== name) return [h('p', { class: 'muted' }, `Loading ${name}…`)];
  const sessions = s.sessions.filter((x) => x.worker === name);
  const testing = s.testing.has(name);
  const notice = s.notice?.worker === name ? s.notice : undefined;
  const facts = [
    ['host', d.host],
    ['node / vmid', `${d.node ?? '-'} / ${d.vmid ?? '-'}`],
    ['deploy', d.deploy],
    ['apply changes', d.applyChanges],
    ['enabled', d.enabled ? 'yes' : 'no'],
    ['updates', d.updates ? 'on' : 'off'],
    ['tasks', `${tasksOf(s.sessions, name)} of ${d.maxConcurrentTasks} in use`],
    ['generation', `${d.generation} (observed ${d.observedGeneration})`],
    ['last error', d.lastError ?? '-'],
  ];
  const source = d.source ? `${d.source.file}:${d.source.line}:${d.source.col}` : 'unknown';
  return [
    h('p', {}, h('a', { href: '#/' }, '← fleet')),
    h(
      'div',
      { class: 'worker-head' },
      h('h1', {}, d.name),
      phaseBadge(d.phase),
      readiness(d),
      h(
        'button',
        { type: 'button', id: 'test-button', disabled: testing, onclick: () => actions.test(name) },
        testing ? 'Testing…' : 'Test now',
      ),
    ),
    notice ? h('p', { class: `notice ${notice.ok ? 'good' : 'bad'}`, id: 'notice' }, notice.text) : null,
    h(
      'dl',
      { class: 'facts' },
      facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    labelList(d.labels),
    h('h2', {}, 'Sessions'),
    sessions.length
      ? table(
          ['id', 'kind', 'tasks', 'state', 'lease until', 'asked for host'],
          sessions.map((x) => [
            h('code', {}, x.id),
            x.kind,
            String(x.tasks),
            x.state,
            when(x.leaseExpiresAt),
            `${x.host}${x.fallback ? ' (fallback)' : ''}`,
          ]),
        )
      : h('p', { class: 'muted' }, 'none'),
    h('h2', {}, 'Conditions'),
    table(
      ['type', 'status', 'reason', 'message', 'since'],
      d.conditions.map((c) => [c.type, c.status, c.reason, c.message, when(c.lastTransitionTime)]),
    ),
    h('h2', {}, 'Last test'),
    d.lastTest
      ? h('div', { id: 'last-test' }, testPanel(d.lastTest))
      : h('p', { class: 'muted' }, 'never tested'),
    h('h2', {}, 'Spec'),
    h('p', {}, 'from ', h('code', { id: 'spec-source' }, source)),
    h('pre', { class: 'spec' }, yamlish(d.spec)),
    h('h2', {}, 'History'),
    table(
      ['time', 'what', 'why'],
      [...d.history].reverse().map((e) => [when(e.time), e.action, e.cause]),
      'history',
    ),
  ];
}
