// Environment variables → a validated, typed Config; every problem reported at once by variable name.
import { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';

const PINO_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const SINKS = ['ndjson'] as const;
const LATER_SINKS = ['loki', 'elasticsearch', 'otlp', 'splunk'];

const int = (min: number, max: number, def: number) =>
  z
    .string()
    .trim()
    .default(String(def))
    .transform((s, ctx) => {
      if (!/^\d+$/.test(s)) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      const n = Number(s);
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min} and ${max}, got ${n}` });
        return z.NEVER;
      }
      return n;
    });

const splitList = (s: string): string[] =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);

const list = z.string().default('').transform(splitList);

const oneOf = <T extends readonly [string, ...string[]]>(values: T, def: T[number]) =>
  z
    .string()
    .trim()
    .default(def)
    .transform((s, ctx) => {
      const v = s.toLowerCase();
      if (!(values as readonly string[]).includes(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be one of ${values.join(', ')}, got ${JSON.stringify(s)}`,
        });
        return z.NEVER;
      }
      return v as T[number];
    });

const labels = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const out: Record<string, string> = {};
    for (const part of s.split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      const key = eq > 0 ? part.slice(0, eq).trim() : '';
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) {
        ctx.addIssue({
          code: 'custom',
          message: `expected key=value pairs separated by commas, got ${JSON.stringify(part)}`,
        });
        return z.NEVER;
      }
      if (RESERVED_FIELDS.has(key)) {
        ctx.addIssue({
          code: 'custom',
          message: `label ${JSON.stringify(key)} would overwrite a record field`,
        });
        return z.NEVER;
      }
      out[key] = part.slice(eq + 1).trim();
    }
    return out;
  });

/** Record fields a label may not shadow. */
export const RESERVED_FIELDS = new Set(['message', 'file', 'offset', 'timestamp', 'id', 'cut']);

const schema = z.object({
  LOGFERRY_PATHS: z
    .string({ error: 'is required (comma-separated glob patterns of files to tail)' })
    .transform(splitList)
    .refine((l) => l.length > 0, 'is required (comma-separated glob patterns of files to tail)')
    .refine((l) => l.every((p) => p.startsWith('/')), 'every pattern must be an absolute path'),
  LOGFERRY_EXCLUDE: list,
  LOGFERRY_ENDPOINT: z
    .string({ error: 'is required (the collector URL, http:// or https://)' })
    .trim()
    .transform((s, ctx) => {
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        ctx.addIssue({ code: 'custom', message: `is not a valid URL: ${JSON.stringify(redactUrl(s))}` });
        return z.NEVER;
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        ctx.addIssue({ code: 'custom', message: `must start with http:// or https://, got ${u.protocol}` });
        return z.NEVER;
      }
      return u;
    }),
  LOGFERRY_SINK: z
    .string()
    .trim()
    .default('ndjson')
    .transform((s, ctx) => {
      const v = s.toLowerCase();
      if (LATER_SINKS.includes(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `sink ${JSON.stringify(v)} is not implemented yet; use ndjson`,
        });
        return z.NEVER;
      }
      if (!(SINKS as readonly string[]).includes(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be one of ${SINKS.join(', ')}, got ${JSON.stringify(s)}`,
        });
        return z.NEVER;
      }
      return v as (typeof SINKS)[number];
    }),
  LOGFERRY_STATE_DIR: z.string().trim().min(1, 'must not be empty').default('/var/lib/logferry'),
  LOGFERRY_START_AT: oneOf(['beginning', 'end'] as const, 'beginning'),
  LOGFERRY_BATCH_MAX_BYTES: int(1024, 64 * 1024 * 1024, 1024 * 1024),
  LOGFERRY_BATCH_MAX_RECORDS: int(1, 1_000_000, 10_000),
  LOGFERRY_FLUSH_INTERVAL_MS: int(1, 1000, 200),
  LOGFERRY_BUFFER_MAX_BYTES: int(64 * 1024, 4 * 1024 * 1024 * 1024, 32 * 1024 * 1024),
  LOGFERRY_COMPRESSION: oneOf(['gzip', 'none'] as const, 'gzip'),
  LOGFERRY_LABELS: labels,
  LOGFERRY_HTTP_PORT: int(0, 65535, 9780),
  LOGFERRY_LOG_LEVEL: oneOf(PINO_LEVELS, 'info'),
  LOGFERRY_SHUTDOWN_TIMEOUT_MS: int(0, 3_600_000, 10_000),
  LOGFERRY_MAX_LINE_BYTES: int(256, 64 * 1024 * 1024, 1024 * 1024),
  LOGFERRY_REQUEST_TIMEOUT_MS: int(100, 600_000, 10_000),
  LOGFERRY_MAX_IN_FLIGHT: int(1, 64, 4),
  LOGFERRY_RETRY_INITIAL_MS: int(1, 600_000, 250),
  LOGFERRY_RETRY_MAX_MS: int(1, 3_600_000, 30_000),
  LOGFERRY_RETRY_AFTER_MAX_MS: int(0, 3_600_000, 300_000),
  LOGFERRY_CHECKPOINT_INTERVAL_MS: int(10, 600_000, 1000),
  LOGFERRY_MAX_OPEN_FILES: int(4, 1_000_000, 1024),
  LOGFERRY_IDLE_CLOSE_MS: int(100, 86_400_000, 60_000),
  LOGFERRY_ROTATE_WAIT_MS: int(0, 86_400_000, 5000),
  LOGFERRY_POLL_INTERVAL_MS: int(10, 60_000, 250),
  LOGFERRY_RESCAN_INTERVAL_MS: int(100, 3_600_000, 5000),
  LOGFERRY_READ_CHUNK_BYTES: int(4096, 16 * 1024 * 1024, 256 * 1024),
  LOGFERRY_DEAD_LETTER_MAX_BYTES: int(0, Number.MAX_SAFE_INTEGER, 100 * 1024 * 1024),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  paths: string[];
  exclude: string[];
  endpoint: URL;
  sink: 'ndjson';
  stateDir: string;
  startAt: 'beginning' | 'end';
  batchMaxBytes: number;
  batchMaxRecords: number;
  flushIntervalMs: number;
  bufferMaxBytes: number;
  compression: 'gzip' | 'none';
  labels: Record<string, string>;
  httpPort: number;
  logLevel: (typeof PINO_LEVELS)[number];
  shutdownTimeoutMs: number;
  maxLineBytes: number;
  requestTimeoutMs: number;
  maxInFlight: number;
  retryInitialMs: number;
  retryMaxMs: number;
  retryAfterMaxMs: number;
  checkpointIntervalMs: number;
  maxOpenFiles: number;
  idleCloseMs: number;
  rotateWaitMs: number;
  pollIntervalMs: number;
  rescanIntervalMs: number;
  readChunkBytes: number;
  deadLetterMaxBytes: number;
  /** LOGFERRY_ variables this version does not know (a typo, most often). */
  unknownVariables: string[];
}

/** Parse the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env): Config {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    // An empty optional variable means "use the default", as in most shippers.
    input[key] = v === '' && key !== 'LOGFERRY_PATHS' && key !== 'LOGFERRY_ENDPOINT' ? undefined : v;
  }
  const problems: ConfigProblem[] = [];
  const unknown = Object.keys(env).filter(
    (k) => k.startsWith('LOGFERRY_') && !(k in schema.shape) && !IGNORED_UNKNOWN.has(k),
  );
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({ variable: String(issue.path[0] ?? '?'), message: issue.message });
    }
  }
  if (problems.length > 0) throw new ConfigError(dedupe(problems));
  const c = parsed.data!;
  const cfg: Config = {
    paths: c.LOGFERRY_PATHS,
    exclude: c.LOGFERRY_EXCLUDE,
    endpoint: c.LOGFERRY_ENDPOINT,
    sink: c.LOGFERRY_SINK,
    stateDir: c.LOGFERRY_STATE_DIR,
    startAt: c.LOGFERRY_START_AT,
    batchMaxBytes: c.LOGFERRY_BATCH_MAX_BYTES,
    batchMaxRecords: c.LOGFERRY_BATCH_MAX_RECORDS,
    flushIntervalMs: c.LOGFERRY_FLUSH_INTERVAL_MS,
    bufferMaxBytes: c.LOGFERRY_BUFFER_MAX_BYTES,
    compression: c.LOGFERRY_COMPRESSION,
    labels: c.LOGFERRY_LABELS,
    httpPort: c.LOGFERRY_HTTP_PORT,
    logLevel: c.LOGFERRY_LOG_LEVEL,
    shutdownTimeoutMs: c.LOGFERRY_SHUTDOWN_TIMEOUT_MS,
    maxLineBytes: c.LOGFERRY_MAX_LINE_BYTES,
    requestTimeoutMs: c.LOGFERRY_REQUEST_TIMEOUT_MS,
    maxInFlight: c.LOGFERRY_MAX_IN_FLIGHT,
    retryInitialMs: c.LOGFERRY_RETRY_INITIAL_MS,
    retryMaxMs: c.LOGFERRY_RETRY_MAX_MS,
    retryAfterMaxMs: c.LOGFERRY_RETRY_AFTER_MAX_MS,
    checkpointIntervalMs: c.LOGFERRY_CHECKPOINT_INTERVAL_MS,
    maxOpenFiles: c.LOGFERRY_MAX_OPEN_FILES,
    idleCloseMs: c.LOGFERRY_IDLE_CLOSE_MS,
    rotateWaitMs: c.LOGFERRY_ROTATE_WAIT_MS,
    pollIntervalMs: c.LOGFERRY_POLL_INTERVAL_MS,
    rescanIntervalMs: c.LOGFERRY_RESCAN_INTERVAL_MS,
    readChunkBytes: c.LOGFERRY_READ_CHUNK_BYTES,
    deadLetterMaxBytes: c.LOGFERRY_DEAD_LETTER_MAX_BYTES,
    unknownVariables: unknown,
  };
  const cross: ConfigProblem[] = [];
  if (cfg.retryInitialMs > cfg.retryMaxMs) {
    cross.push({ variable: 'LOGFERRY_RETRY_INITIAL_MS', message: 'must not exceed LOGFERRY_RETRY_MAX_MS' });
  }
  if (cfg.bufferMaxBytes < cfg.batchMaxBytes) {
    cross.push({
      variable: 'LOGFERRY_BUFFER_MAX_BYTES',
      message: 'must be at least LOGFERRY_BATCH_MAX_BYTES',
    });
  }
  if (cross.length > 0) throw new ConfigError(cross);
  return cfg;
}

/** Variables a later feature reads (parsers, auth, ...) are not reported as unknown. */
const IGNORED_UNKNOWN = new Set<string>([]);

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.variable}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The URL without user:password, for messages and logs. */
export function redactUrl(s: string): string {
  return s.replace(/\/\/[^/@]*@/, '//[redacted]@');
}
