// @ts-check
/**
 * DOM helpers of the fleet page. Every value goes in as text (textContent or an attribute value),
 * never as markup: names, labels, reasons and messages come from manifests and Proxmox.
 */

/** @typedef {Node | string | number | null | undefined | false} Leaf */
/** @typedef {Leaf | Leaf[] | Leaf[][] | Leaf[][][]} Child */
/** @typedef {Record<string, string | number | boolean | undefined | ((e: Event) => void)>} Attrs */

/**
 * An element with attributes and children; strings become text nodes. Event handlers are given as
 * functions (`onclick`), never as attribute text.
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') {
      if (!key.startsWith('on')) throw new Error(`handler ${key} must be named on...`);
      el.addEventListener(key.slice(2), value);
    } else if (key.startsWith('on')) {
      throw new Error(`attribute ${key}: handlers are functions, never text`);
    } else if (key === 'class') {
      el.className = String(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (nested arrays flattened); strings become text nodes. @param {Node} el @param {Child | Child[]} child */
function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) for (const c of /** @type {Child[]} */ (child)) append(el, c);
  else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
}

/** The link to a worker's page. @param {string} name */
export function workerHref(name) {
  return `#/workers/${encodeURIComponent(name)}`;
}

/** A time of day (today) or a date and time, local. @param {string | undefined} iso */
export function when(iso) {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString(undefined, { hour12: false })
    : d.toLocaleString(undefined, { hour12: false });
}

/** A duration in ms, short. @param {number} ms */
export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A table from a header and rows of cells. @param {string[]} head @param {Child[][]} rows @param {string} [cls] */
export function table(head, rows, cls) {
  return h(
    'table',
    { class: cls },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((t) => h('th', {}, t)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((cells) =>
        h(
          'tr',
          {},
          cells.map((c) => h('td', {}, c)),
        ),
      ),
    ),
  );
}
