import pino from 'pino';

/**
 * Structured logs: one JSON object a line, which log shippers read as they are. Tests keep
 * quiet unless LOG_LEVEL asks otherwise.
 */
export const log = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' || process.env.JEST_WORKER_ID ? 'warn' : 'info'),
  base: { service: 'broadsheet' },
});

export type Logger = pino.Logger;
