/** A real winston logger whose JSON lines are kept in memory. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../controller/log.js';

export function captureLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logger: createLogger({ stream, format: 'json', level }), lines };
}
