// The agent's own logs: pino, JSON on stdout, secrets redacted by field and scrubbed from the text.
import pino, { type Logger } from 'pino';

/** Paths pino blanks out wherever they appear in a log object. */
export const REDACT_PATHS = [
  'password',
  'token',
  'secret',
  'authorization',
  'cookie',
  'headers.authorization',
  'headers["x-scope-orgid"]',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  '*.cookie',
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
  // An error's request or response (err.request.headers, err.response.headers).
  '*.*.headers',
];

/** Shorter values are not scrubbed from text: they would blank out ordinary words, and are not secrets. */
export const SCRUB_MIN_CHARS = 6;

const scrubbed = new Set<string>();

/**
 * Secret values (tokens, passwords, a URL's query string) that no log line may hold, whatever field or
 * message quotes them (an error from the HTTP client, a collector echoing a header). Process-wide: every
 * logger scrubs them, including those created before a value was added (a re-read secret file).
 */
export function addSecrets(values: Iterable<string>): void {
  for (const v of values) {
    if (v.length < SCRUB_MIN_CHARS) continue;
    scrubbed.add(v);
    // As the value appears inside a JSON string.
    const escaped = JSON.stringify(v).slice(1, -1);
    if (escaped !== v) scrubbed.add(escaped);
  }
}

/** The text with every registered secret replaced by `[redacted]`. */
export function scrub(text: string): string {
  if (scrubbed.size === 0) return text;
  let out = text;
  for (const v of scrubbed) if (out.includes(v)) out = out.split(v).join('[redacted]');
  return out;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: 'logferry', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
