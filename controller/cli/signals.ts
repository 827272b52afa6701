/**
 * SIGTERM and SIGINT for plan, apply and run. The first signal aborts `signal`: the command stops
 * waiting, takes no new work and shuts down cleanly. Whatever that clean stop waits for (a Proxmox
 * that does not answer, a reconcile that ignores the abort), the process ends within the grace
 * period: then it exits with code 1, and what was in flight is resumed from the intent recorded in
 * the database at the next start (invariant 4). A second signal exits at once (130).
 */
import { formatDuration } from '../duration.js';

export interface StopHandle {
  /** Aborted by the first SIGTERM or SIGINT. */
  readonly signal: AbortSignal;
  /** The signal received, if any. */
  readonly received: string | undefined;
  /** Removes the handlers and the deadline (the command has ended). */
  dispose(): void;
}

export interface StopOptions {
  /** The whole stop, from the signal to the exit, takes at most this long. */
  graceMs: number;
  /** Called on the first signal, after `signal` is aborted. */
  onSignal?: (name: string) => void;
  /** Where the two forced exits go (tests). */
  exit?: (code: number) => void;
}

let anyStop = false;

/**
 * True once a stop signal was handled: the command has returned, but work it left behind (a request
 * to an unresponsive Proxmox) may still hold the event loop, so main.ts exits right away.
 */
export function stopRequested(): boolean {
  return anyStop;
}

/** The part of the grace period kept for the last steps (abort, flush the database). */
export function stopReserveMs(graceMs: number): number {
  return Math.min(2_000, Math.floor(graceMs / 4));
}

/** Installs the handlers; call dispose() when the command ends. */
export function onStopSignals(opts: StopOptions): StopHandle {
  const abort = new AbortController();
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let received: string | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const handler = (name: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`workerctl: second ${name}: exiting now\n`);
      exit(130);
      return;
    }
    received = name;
    anyStop = true;
    deadline = setTimeout(() => {
      process.stderr.write(
        `workerctl: not stopped within the grace period (${formatDuration(opts.graceMs)}) after ${name}; exiting\n`,
      );
      exit(1);
    }, opts.graceMs);
    deadline.unref();
    abort.abort(new Error(`stopped by ${name}`));
    opts.onSignal?.(name);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: abort.signal,
    get received() {
      return received;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      if (deadline) clearTimeout(deadline);
    },
  };
}

/** `work`, or a rejection with the stop reason as soon as `signal` aborts (the work is left behind). */
export function untilStopped<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/**
 * Runs a command that has nothing to drain (plan, adopt, recover): the first signal ends it at once
 * with exit code 1, whatever it was waiting for; main.ts then exits.
 */
export async function interruptible(
  command: string,
  graceMs: number,
  work: (signal: AbortSignal) => Promise<number>,
): Promise<number> {
  const stop = onStopSignals({ graceMs });
  try {
    return await untilStopped(work(stop.signal), stop.signal);
  } catch (err) {
    if (!stop.received) throw err;
    process.stderr.write(`workerctl: ${command} interrupted by ${stop.received}\n`);
    return 1;
  } finally {
    stop.dispose();
  }
}
