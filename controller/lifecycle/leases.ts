/**
 * The lease sweeper: every leaseSweepMs on the injected clock it ends the sessions whose lease has
 * run out (a job that died does not keep a worker running for ever).
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

export class LeaseSweeper {
  #ac?: AbortController;

  constructor(
    private readonly expire: () => Promise<unknown>,
    private readonly opts: { clock: Clock; intervalMs: number; logger: Logger },
  ) {}

  start(): void {
    if (this.#ac) return;
    const ac = new AbortController();
    this.#ac = ac;
    const { clock, intervalMs, logger } = this.opts;
    void (async () => {
      while (!ac.signal.aborted) {
        try {
          await clock.sleep(intervalMs, ac.signal);
          await this.expire();
        } catch (err) {
          if (ac.signal.aborted) return;
          logger.info('lease sweep failed', { err });
        }
      }
    })();
  }

  stop(): void {
    this.#ac?.abort();
    this.#ac = undefined;
  }
}
