/**
 * Escaping text from outside (manifest keys and values, Proxmox answers, API parameters) before it
 * is printed: a terminal acts on control characters (ESC starts a sequence that can recolour, move
 * the cursor, retitle the window or rewrite what the operator sees), and bidirectional overrides
 * reorder what a line seems to say. Each such character is shown as an escape (`\x1b`, `\u202e`)
 * instead. Used by every presenter: the live view and its table, text logs, plan, status, validate.
 */

// C0 controls, DEL and C1 controls; the zero-width direction marks, line/paragraph separators and
// the bidirectional embeddings, overrides and isolates. Matching control characters is the point here.
/* eslint-disable no-control-regex */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_KEEP_LINES =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */
// What JSON.stringify leaves raw that a terminal would still act on.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escape(ch: string): string {
  const code = ch.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line's worth of text: every control character escaped, newlines and tabs included. */
export function safeLine(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** Text of several lines that we composed: newlines and tabs kept, every other control escaped. */
export function safeText(text: string): string {
  return text.replace(UNSAFE_KEEP_LINES, escape);
}

/**
 * JSON text made safe for a terminal without changing its value: JSON.stringify already escapes
 * C0 controls; DEL, C1 controls and the bidirectional characters become \u escapes too.
 */
export function safeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
