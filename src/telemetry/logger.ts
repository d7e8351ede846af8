// The agent's own logs: pino, JSON on stdout, secrets redacted.
import pino, { type Logger } from 'pino';

/** Paths pino blanks out wherever they appear in a log object. */
export const REDACT_PATHS = [
  'password',
  'token',
  'authorization',
  'headers.authorization',
  'headers["x-scope-orgid"]',
  '*.password',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
  'config.endpoint',
  // Credentials of the sinks (LOGFERRY_BEARER_TOKEN, LOGFERRY_BASIC_AUTH_PASSWORD, LOGFERRY_SPLUNK_TOKEN, ...).
  'bearerToken',
  'basicAuthPassword',
  'splunkToken',
  'headers',
  '*.bearerToken',
  '*.basicAuthPassword',
  '*.splunkToken',
  '*.headers',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'logferry', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
