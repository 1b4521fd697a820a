/**
 * Daemon logging: pino, one JSON object per line, to stdout by default or to the config's
 * `logfile`. Never used per packet: the hot path counts instead.
 */
import { pino, type Logger } from 'pino';
import { isoUtcFromUnixMs } from '../ntp/calendar.js';

export type { Logger };

/** pino's isoTime, without Date's time-zone lookup through ICU (isoUtcFromUnixMs). */
const isoTime = (): string => `,"time":"${isoUtcFromUnixMs(Date.now())}"`;

export function createLogger(logfile?: string, level = process.env.GNOMON_LOG_LEVEL ?? 'info'): Logger {
  const destination = logfile ? pino.destination({ dest: logfile, mkdir: true, sync: true }) : pino.destination({ dest: 1, sync: true });
  return pino({ level, base: { pid: process.pid }, timestamp: isoTime }, destination);
}
