/**
 * Logging on winston: JSON lines when stderr is not a terminal, readable text lines when it is
 * (`--log-format json|text` chooses).
 * Messages are constant; details go in fields (worker, vmid, node, err). Every entry passes through
 * the redaction format, so a secret that slips into a field is still masked.
 */
import winston from 'winston';
import { redact, redactText } from './redact.js';
import { safeJson, safeLine } from './terminal-text.js';

export type Logger = winston.Logger;
export type LogFormat = 'auto' | 'json' | 'text';

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  /** Defaults to stderr; tests pass a stream to capture output. */
  stream?: NodeJS.WritableStream;
  /** Treat the stream as a terminal (for 'auto'). */
  isTTY?: boolean;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    const v = info[key];
    if (key === 'err' || key === 'error') {
      info[key] = v instanceof Error ? redactText(v.message) : redact(v);
    } else {
      info[key] = redact(v);
    }
  }
  return info;
});

/** JSON lines keep their value; C1 and bidirectional characters are \u-escaped like C0 ones (terminal-text.ts). */
const safeJsonFormat = winston.format((info) => {
  const key = Symbol.for('message') as unknown as string;
  const line = info[key];
  if (typeof line === 'string') info[key] = safeJson(line);
  return info;
});

function prettyLine(info: winston.Logform.TransformableInfo): string {
  const { level, message, timestamp, ...fields } = info;
  const rest = Object.entries(fields)
    .filter(([k]) => typeof k === 'string')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const time = typeof timestamp === 'string' ? timestamp.slice(11, 23) : '';
  // One entry, one line: a newline or escape sequence in a field (a manifest key, a Proxmox answer) shows escaped.
  return safeLine(`${time} ${level.padEnd(5)} ${String(message)}${rest ? '  ' + rest : ''}`);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const isTTY = options.isTTY ?? Boolean((stream as NodeJS.WriteStream).isTTY);
  const pretty = options.format === 'text' || (options.format !== 'json' && isTTY);
  const format = pretty
    ? winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.printf(prettyLine))
    : winston.format.combine(
        redactFormat(),
        winston.format.timestamp(),
        winston.format.json(),
        safeJsonFormat(),
      );
  return winston.createLogger({
    level: options.level ?? process.env.WORKERCTL_LOG_LEVEL ?? 'info',
    format,
    transports: [new winston.transports.Stream({ stream })],
  });
}

/** A logger that drops everything (tests, quiet commands). */
export function silentLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}
