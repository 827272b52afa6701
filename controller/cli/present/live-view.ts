/**
 * The live view of `workerctl run` (and `apply` progress): on a terminal, a table of workers redrawn in
 * place with the latest log lines under it; elsewhere, one structured log line per worker change and
 * a periodic fleet summary, so CI logs and `journalctl` stay readable.
 */
import Table from 'cli-table3';
import { Writable } from 'node:stream';
import type { Logger } from '../../log.js';
import type { WorkerRecord } from '../../types.js';
import { formatDuration } from '../../duration.js';
import { conditionOf, isReady, lastActivity, type ControllerSnapshot } from '../../loop/snapshot.js';
import { displayPath } from '../../manifest/finding.js';
import { fitColumns, relativeInText, truncate, type ColumnSpec } from './columns.js';
import { safeLine, safeText } from '../../terminal-text.js';

export interface LiveViewOptions {
  /** Where frames go (a TTY) - usually process.stdout. */
  out: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Draw frames (TTY) or log transitions. Defaults to out.isTTY. */
  tty?: boolean;
  /** Logger for the non-TTY mode (or set later with useLogger, once it can write to logStream()). */
  logger?: Logger;
  /** Title line, e.g. 'workerctl run -f examples/ (simulator)'. */
  title: string;
  /** Lines of recent log output kept under the table. */
  logLines?: number;
  /** Minimum ms between frames. */
  frameMs?: number;
  /** Terminal size (tests). */
  columns?: number;
  rows?: number;
  now?: () => number;
}

const ESC = '\x1b[';

/** Renders one frame as text (pure: the tests and the TTY view share it). */
export function renderFrame(
  snap: ControllerSnapshot,
  opts: { title: string; columns: number; rows: number; logTail: string[]; now: number },
): string {
  const ready = snap.workers.filter(isReady).length;
  const head = [
    `${opts.title}`,
    `${snap.workers.length} workers, ${ready} Ready | queue ${snap.queue.ready} (${snap.queue.processing.length} in flight)` +
      ` | ${snap.reconciles} reconciles (${snap.failures} failed)` +
      (snap.nextResyncAt ? ` | resync ${formatDuration(Math.max(0, snap.nextResyncAt - opts.now))}` : '') +
      (snap.stopping ? ' | STOPPING' : ''),
  ];
  if (snap.lastLoad) {
    const l = snap.lastLoad;
    let line = `manifests: ${l.files} files, ${l.workers} workers`;
    if (l.revision) line += ` at ${l.revision.slice(0, 7)}`;
    if (l.invalidFiles.length)
      line += `, ${l.invalidFiles.length} invalid (last valid spec kept): ${safeLine(l.invalidFiles.map((f) => displayPath(f)).join(', '))}`;
    if (l.massDeleteBlocked)
      line += ` | MASS DELETE HELD BACK: ${l.massDeleteBlocked.wouldDelete}/${l.massDeleteBlocked.of} (> ${l.massDeleteBlocked.threshold}); use --allow-mass-delete`;
    head.push(line);
  }

  const logTail = opts.logTail.slice(-Math.max(0, Math.min(opts.logTail.length, Math.floor(opts.rows / 4))));
  // Rows left for workers: terminal minus header, table frame (top, head, sep, bottom), logs, "more" line.
  const budget = Math.max(1, opts.rows - head.length - 4 - logTail.length - 2);
  const sorted = [...snap.workers].sort(
    (a, b) => Number(isReady(a)) - Number(isReady(b)) || a.name.localeCompare(b.name),
  );
  const shown = sorted.slice(0, budget);
  const processing = new Set(snap.queue.processing);

  const rows = shown.map((w) => row(w, processing.has(w.name)));
  const longest = (k: number, head: string) => Math.max(head.length, ...rows.map((r) => r[k]!.length)) + 2;
  // Narrow terminals drop host, then vmid; the last column takes what is left (80 columns fit).
  const cols: ColumnSpec[] = [
    // Names are what the table is for: as wide as the longest (up to 24) before anything else grows.
    { head: 'worker', min: Math.min(24, longest(0, 'worker')), ideal: Math.min(32, longest(0, 'worker')) },
    { head: 'host', min: 6, ideal: longest(1, 'host'), drop: 1 },
    { head: 'vmid', min: 7, ideal: 7, drop: 2 },
    { head: 'phase', min: 12, ideal: 12 },
    { head: 'Ready', min: 8, ideal: Math.min(20, longest(4, 'Ready')) },
    { head: 'last action / reason', min: 24, ideal: Infinity },
  ];
  const fit = fitColumns(cols, opts.columns);
  const table = new Table({
    head: fit.shown.map((i) => cols[i]!.head),
    colWidths: fit.widths,
    wordWrap: false,
    style: { head: [], border: [], compact: true },
  });
  for (const r of rows) table.push(fit.shown.map((i, k) => truncate(r[i]!, fit.widths[k]! - 2)));
  const lines = [...head.map((l) => truncate(l, opts.columns)), table.toString()];
  if (sorted.length > shown.length) {
    const hidden = sorted.slice(shown.length);
    lines.push(`... and ${hidden.length} more (${hidden.filter(isReady).length} Ready)`);
  }
  if (logTail.length) lines.push(...logTail.map((l) => truncate(safeLine(l), opts.columns)));
  // Names, reasons and paths come from manifests and Proxmox: no control character reaches the terminal.
  return safeText(lines.join('\n'));
}

function row(w: WorkerRecord, busy: boolean): string[] {
  const ready = conditionOf(w, 'Ready');
  const readyText = ready ? `${ready.status}${ready.status === 'True' ? '' : ' ' + ready.reason}` : 'Unknown';
  const cells = [
    (busy ? '* ' : '  ') + w.name,
    w.spec.host,
    w.vmid !== undefined ? String(w.vmid) : '-',
    w.status.phase,
    readyText,
    // Paths in causes are absolute; relative to the working directory they read better.
    relativeInText(lastActivity(w)),
  ];
  return cells.map(safeLine);
}

/** Per-worker facts whose change the non-TTY view logs. */
function fingerprint(w: WorkerRecord): string {
  const ready = conditionOf(w, 'Ready');
  return [
    w.status.phase,
    ready?.status,
    ready?.reason,
    w.vmid,
    w.status.history.length,
    w.status.lastError,
  ].join('|');
}

/** Draws snapshots: frames on a TTY, transition log lines otherwise. */
export class LiveView {
  readonly #opts: LiveViewOptions;
  readonly #tty: boolean;
  #lastLines = 0;
  #logTail: string[] = [];
  #lastDraw = 0;
  #pending?: NodeJS.Timeout;
  #latest?: () => ControllerSnapshot;
  #seen = new Map<string, string>();
  #lastSummary = '';
  #closed = false;
  #tick?: NodeJS.Timeout;
  #logger?: Logger;

  constructor(opts: LiveViewOptions) {
    this.#opts = opts;
    this.#logger = opts.logger;
    this.#tty = opts.tty ?? Boolean((opts.out as NodeJS.WriteStream).isTTY);
  }

  /** The logger for transition lines (non-TTY mode). */
  useLogger(logger: Logger): void {
    this.#logger = logger;
  }

  /** True when drawing frames. */
  get isTTY(): boolean {
    return this.#tty;
  }

  /**
   * A stream for the logger while frames are drawn: its lines are kept under the table instead of
   * scrolling the frame away. Off a TTY, log straight to stderr instead.
   */
  logStream(): NodeJS.WritableStream {
    const keep = this.#opts.logLines ?? 8;
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.trim()) this.#logTail.push(line);
        }
        if (this.#logTail.length > keep) this.#logTail.splice(0, this.#logTail.length - keep);
        this.#schedule();
        cb();
      },
    });
  }

  /** Tells the view where to read snapshots; it draws on update() and once a second. */
  attach(source: () => ControllerSnapshot): void {
    this.#latest = source;
    if (this.#tty) {
      this.#opts.out.write(`${ESC}?25l`);
      // Redraw once a second so timers (resync in ...) move even when nothing happens.
      this.#tick = setInterval(() => this.draw(), 1000);
      this.#tick.unref?.();
    }
  }

  /** Something changed: draw soon (throttled). */
  update(): void {
    this.#schedule();
  }

  /** Draws now (also used for the periodic tick). */
  draw(): void {
    if (this.#closed || !this.#latest) return;
    const snap = this.#latest();
    this.#lastDraw = Date.now();
    if (this.#tty) this.#drawFrame(snap);
    else this.#logTransitions(snap);
  }

  #schedule(): void {
    if (this.#closed || this.#pending) return;
    const frameMs = this.#opts.frameMs ?? 200;
    const wait = Math.max(0, this.#lastDraw + frameMs - Date.now());
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      this.draw();
    }, wait);
    this.#pending.unref?.();
  }

  #drawFrame(snap: ControllerSnapshot): void {
    const out = this.#opts.out as NodeJS.WriteStream;
    const frame = renderFrame(snap, {
      title: this.#opts.title,
      columns: this.#opts.columns ?? out.columns ?? 120,
      rows: this.#opts.rows ?? out.rows ?? 40,
      logTail: this.#logTail,
      now: (this.#opts.now ?? Date.now)(),
    });
    const up = this.#lastLines > 0 ? `${ESC}${this.#lastLines}F` : '';
    // Move to the top of the last frame, clear to the end of the screen, draw the new one.
    out.write(`${up}${ESC}0J${frame}\n`);
    this.#lastLines = frame.split('\n').length;
  }

  #logTransitions(snap: ControllerSnapshot): void {
    const log = this.#logger;
    if (!log) return;
    for (const w of snap.workers) {
      const fp = fingerprint(w);
      if (this.#seen.get(w.name) === fp) continue;
      this.#seen.set(w.name, fp);
      const ready = conditionOf(w, 'Ready');
      log.info('worker', {
        worker: w.name,
        host: w.spec.host,
        vmid: w.vmid,
        phase: w.status.phase,
        ready: ready?.status ?? 'Unknown',
        reason: ready?.reason,
        last: lastActivity(w),
      });
    }
    const names = new Set(snap.workers.map((w) => w.name));
    for (const name of [...this.#seen.keys()]) {
      if (!names.has(name)) {
        this.#seen.delete(name);
        log.info('worker removed', { worker: name });
      }
    }
    const ready = snap.workers.filter(isReady).length;
    const summary = `${snap.workers.length}/${ready}/${snap.queue.ready}/${snap.queue.processing.length}`;
    if (summary !== this.#lastSummary) {
      this.#lastSummary = summary;
      log.info('fleet', {
        workers: snap.workers.length,
        ready,
        queued: snap.queue.ready,
        inFlight: snap.queue.processing.length,
      });
    }
  }

  /** Draws a last frame and restores the cursor. */
  close(): void {
    if (this.#closed) return;
    if (this.#pending) clearTimeout(this.#pending);
    if (this.#tick) clearInterval(this.#tick);
    this.#pending = undefined;
    this.draw();
    this.#closed = true;
    if (this.#tty) this.#opts.out.write(`${ESC}?25h`);
  }
}
