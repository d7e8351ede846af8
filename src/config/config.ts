// Environment variables → a validated, typed Config; every problem reported at once by variable name.
import { accessSync, constants } from 'node:fs';
import { z } from 'zod/v3';
import { ConfigError, type ConfigProblem } from '../errors.js';
import {
  type FilterOptions,
  parseMatchRules,
  parseMinLevel,
  parseRateLimit,
  parseRedact,
} from '../filter/rules.js';
import { kubernetesLabels, splitParserRules } from '../parse/enrich.js';
import { compileMultiline } from '../parse/multiline.js';
import { parseParserSpec } from '../parse/parsers.js';
import { compileUserRegex, groupNames } from '../parse/safe-regex.js';
import type { ParseOptions } from '../parse/stage.js';
import { compileTimeFormat } from '../parse/time.js';
import type { AuthOptions, TlsOptions } from '../send/auth.js';
import { SINKS, type SinkName } from '../sinks/sink.js';

const PINO_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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

/**
 * A `key=value,key2=value2` list → a record (empty parts skipped, keys and values trimmed); the first bad
 * part is reported and nothing is returned.
 */
const pairList = (o: {
  /** What a key must match. */
  key: RegExp;
  /** The message for a part without a valid key (`key` is '' and `hasEq` false when the part has no `=`). */
  badKey: (part: string, key: string, hasEq: boolean) => string;
  /** The message for a valid key that may not be used, or undefined. */
  forbidden: (key: string) => string | undefined;
  /** The key as stored (default: as given). */
  storeAs?: (key: string) => string;
}) =>
  z
    .string()
    .default('')
    .transform((s, ctx) => {
      const out: Record<string, string> = {};
      for (const part of s.split(',')) {
        if (part.trim() === '') continue;
        const eq = part.indexOf('=');
        const key = eq > 0 ? part.slice(0, eq).trim() : '';
        const problem = o.key.test(key) ? o.forbidden(key) : o.badKey(part, key, eq > 0);
        if (problem !== undefined) {
          ctx.addIssue({ code: 'custom', message: problem });
          return z.NEVER;
        }
        out[o.storeAs ? o.storeAs(key) : key] = part.slice(eq + 1).trim();
      }
      return out;
    });

const labels = pairList({
  key: /^[A-Za-z_][A-Za-z0-9_.-]*$/,
  badKey: (part) => `expected key=value pairs separated by commas, got ${JSON.stringify(part)}`,
  forbidden: (key) =>
    RESERVED_FIELDS.has(key) ? `label ${JSON.stringify(key)} would overwrite a record field` : undefined,
});

const bool = (def: boolean) =>
  z
    .string()
    .trim()
    .default(String(def))
    .transform((s, ctx) => {
      const v = s.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: `must be true or false, got ${JSON.stringify(s)}` });
      return z.NEVER;
    });

/** A secret given inline: kept as is (trimmed), never echoed. */
const secret = z.string().trim().default('');

/** A path to a file (secrets, certificates); that it is readable is checked at start (checkConfigFiles). */
const filePath = z
  .string()
  .trim()
  .default('')
  .refine((s) => s === '' || s.startsWith('/'), { message: 'must be an absolute path' });

/** Extra request headers, `Name=value,Name2=value2`. */
const headers = pairList({
  key: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
  badKey: (_part, name, hasEq) =>
    `expected Header-Name=value pairs separated by commas, got a part without a valid header name${hasEq ? ` (${JSON.stringify(name)})` : ''}`,
  forbidden: (name) =>
    ['content-type', 'content-encoding', 'content-length', 'host', 'transfer-encoding'].includes(
      name.toLowerCase(),
    )
      ? `header ${JSON.stringify(name)} is set by logferry itself`
      : undefined,
  storeAs: (name) => name.toLowerCase(),
});

/** Record fields a label may not shadow. */
export const RESERVED_FIELDS = new Set([
  'message',
  'file',
  'offset',
  'timestamp',
  'id',
  'cut',
  'labels',
  'fields',
  'level',
  'stream',
  'parse_error',
]);

/** A value checked by `check` (null: fine; a string: what is wrong), kept as the trimmed text. */
const checked = (def: string, check: (s: string) => string | null) =>
  z
    .string()
    .trim()
    .default(def)
    .transform((s, ctx) => {
      const problem = check(s);
      if (problem !== null) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return s;
    });

const problemOf = (r: unknown): string | null => (typeof r === 'string' ? r : null);

const parserRules = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const rules = splitParserRules(s);
    const problem =
      typeof rules === 'string'
        ? rules
        : rules.map((r) => problemOf(parseParserSpec(r.parser))).find((p) => p !== null);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return rules as { glob: string; parser: string }[];
  });

const schema = z.object({
  LOGFERRY_PATHS: z
    .string({ required_error: 'is required (comma-separated glob patterns of files to tail)' })
    .transform(splitList)
    .refine((l) => l.length > 0, 'is required (comma-separated glob patterns of files to tail)')
    .refine((l) => l.every((p) => p.startsWith('/')), 'every pattern must be an absolute path'),
  LOGFERRY_EXCLUDE: list,
  LOGFERRY_ENDPOINT: z
    .string({ required_error: 'is required (the collector URL, http:// or https://)' })
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
      // OpenSearch speaks the Elasticsearch `_bulk` API.
      if (v === 'opensearch') return 'elasticsearch' as SinkName;
      if (!(SINKS as readonly string[]).includes(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be one of ${SINKS.join(', ')}, got ${JSON.stringify(s)}`,
        });
        return z.NEVER;
      }
      return v as SinkName;
    }),
  LOGFERRY_STATE_DIR: z.string().trim().min(1, 'must not be empty').default('/var/lib/logferry'),
  LOGFERRY_START_AT: oneOf(['beginning', 'end'] as const, 'beginning'),
  LOGFERRY_BATCH_MAX_BYTES: int(1024, 64 * 1024 * 1024, 1024 * 1024),
  LOGFERRY_BATCH_MAX_RECORDS: int(1, 1_000_000, 10_000),
  LOGFERRY_FLUSH_INTERVAL_MS: int(1, 1000, 200),
  LOGFERRY_BUFFER_MAX_BYTES: int(64 * 1024, 4 * 1024 * 1024 * 1024, 8 * 1024 * 1024),
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
  LOGFERRY_RESCAN_INTERVAL_MS: int(100, 3_600_000, 10_000),
  LOGFERRY_READ_CHUNK_BYTES: int(4096, 16 * 1024 * 1024, 256 * 1024),
  LOGFERRY_DEAD_LETTER_MAX_BYTES: int(0, Number.MAX_SAFE_INTEGER, 100 * 1024 * 1024),
  // Parsing, multiline, enrichment (src/parse/).
  LOGFERRY_PARSER: checked('none', (s) => problemOf(parseParserSpec(s))),
  LOGFERRY_PARSERS: parserRules,
  LOGFERRY_MULTILINE: checked('none', (s) => problemOf(compileMultiline(s, 1))),
  LOGFERRY_MULTILINE_TIMEOUT_MS: int(10, 600_000, 1000),
  LOGFERRY_MULTILINE_MAX_LINES: int(1, 1_000_000, 500),
  LOGFERRY_MULTILINE_MAX_BYTES: int(256, 64 * 1024 * 1024, 1024 * 1024),
  LOGFERRY_PARSE_MAX_BYTES: int(256, 64 * 1024 * 1024, 256 * 1024),
  LOGFERRY_TIME_FIELD: z.string().default('time,timestamp,ts,@timestamp').transform(splitList),
  LOGFERRY_TIME_FORMAT: checked('auto', (s) => problemOf(compileTimeFormat(s))),
  LOGFERRY_LEVEL_FIELD: z.string().default('level,lvl,severity,loglevel').transform(splitList),
  LOGFERRY_K8S_LABELS: oneOf(['true', 'false'] as const, 'true').transform((v) => v === 'true'),
  LOGFERRY_PATH_LABELS: checked('', (s) => {
    if (s === '') return null;
    const re = problemOf(compileUserRegex(s));
    if (re !== null) return re;
    return groupNames(s).length === 0 ? 'has no named group (?<label>...)' : null;
  }),
  // Filters, redaction, rate limit (src/filter/).
  LOGFERRY_DROP: checked('', (s) => problemOf(parseMatchRules(s))),
  LOGFERRY_KEEP: checked('', (s) => problemOf(parseMatchRules(s))),
  LOGFERRY_MIN_LEVEL: checked('', (s) => problemOf(parseMinLevel(s))),
  LOGFERRY_REDACT: checked('', (s) => problemOf(parseRedact(s))),
  LOGFERRY_REDACT_FIELDS: list,
  LOGFERRY_RATE_LIMIT: checked('', (s) => problemOf(parseRateLimit(s))),
  LOGFERRY_RATE_LIMIT_MODE: oneOf(['wait', 'drop'] as const, 'wait'),
  // Sinks, auth and TLS (secret values are never echoed in messages).
  LOGFERRY_HEADERS: headers,
  LOGFERRY_BEARER_TOKEN: secret,
  LOGFERRY_BEARER_TOKEN_FILE: filePath,
  LOGFERRY_BASIC_AUTH_USER: z.string().trim().default(''),
  LOGFERRY_BASIC_AUTH_PASSWORD: secret,
  LOGFERRY_BASIC_AUTH_PASSWORD_FILE: filePath,
  LOGFERRY_TLS_CA_FILE: filePath,
  LOGFERRY_TLS_CERT_FILE: filePath,
  LOGFERRY_TLS_KEY_FILE: filePath,
  LOGFERRY_TLS_SERVER_NAME: z.string().trim().default(''),
  LOGFERRY_TLS_INSECURE_SKIP_VERIFY: bool(false),
  LOGFERRY_LOKI_TENANT: z.string().trim().default(''),
  LOGFERRY_LOKI_STRUCTURED_METADATA: bool(true),
  LOGFERRY_ES_INDEX: z
    .string()
    .trim()
    .default('logferry-%Y.%m.%d')
    .refine(
      (s) =>
        s.length > 0 &&
        !/[\\/*?"<>| ,#]/.test(s) &&
        s.replace(/%[YmdH%]/g, '') === s.replace(/%[YmdH%]/g, '').toLowerCase(),
      {
        message: 'must be a lowercase index or data stream name without \\ / * ? " < > | , # or spaces',
      },
    ),
  LOGFERRY_OTLP_ENCODING: oneOf(['protobuf', 'json'] as const, 'protobuf'),
  LOGFERRY_SPLUNK_TOKEN: secret,
  LOGFERRY_SPLUNK_TOKEN_FILE: filePath,
  LOGFERRY_SPLUNK_ACK: bool(false),
  LOGFERRY_SPLUNK_ACK_TIMEOUT_MS: int(100, 3_600_000, 120_000),
  LOGFERRY_SPLUNK_INDEX: z.string().trim().default(''),
  LOGFERRY_SPLUNK_SOURCETYPE: z.string().trim().default(''),
});

export type Env = Record<string, string | undefined>;

/** The whole configuration; parsing, auth and TLS settings are declared by the stages that use them. */
export interface Config extends ParseOptions, FilterOptions, AuthOptions, TlsOptions {
  paths: string[];
  exclude: string[];
  endpoint: URL;
  sink: SinkName;
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
  /** Kubernetes Downward API variables become labels. */
  k8sLabels: boolean;
  /** Labels from those variables (empty when k8sLabels is off); LOGFERRY_LABELS win over them. */
  podLabels: Record<string, string>;
  lokiTenant: string;
  lokiStructuredMetadata: boolean;
  esIndex: string;
  otlpEncoding: 'protobuf' | 'json';
  splunkAck: boolean;
  splunkAckTimeoutMs: number;
  splunkIndex: string;
  splunkSourcetype: string;
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
    // Unset: 8 MiB, or room for four full batches (the default number in flight) when that is more.
    bufferMaxBytes:
      input.LOGFERRY_BUFFER_MAX_BYTES === undefined
        ? Math.max(c.LOGFERRY_BUFFER_MAX_BYTES, 4 * c.LOGFERRY_BATCH_MAX_BYTES)
        : c.LOGFERRY_BUFFER_MAX_BYTES,
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
    parser: c.LOGFERRY_PARSER,
    parsers: c.LOGFERRY_PARSERS,
    multiline: c.LOGFERRY_MULTILINE,
    multilineTimeoutMs: c.LOGFERRY_MULTILINE_TIMEOUT_MS,
    multilineMaxLines: c.LOGFERRY_MULTILINE_MAX_LINES,
    multilineMaxBytes: c.LOGFERRY_MULTILINE_MAX_BYTES,
    parseMaxBytes: c.LOGFERRY_PARSE_MAX_BYTES,
    timeField: c.LOGFERRY_TIME_FIELD,
    timeFormat: c.LOGFERRY_TIME_FORMAT,
    levelField: c.LOGFERRY_LEVEL_FIELD,
    k8sLabels: c.LOGFERRY_K8S_LABELS,
    podLabels: c.LOGFERRY_K8S_LABELS ? kubernetesLabels(env) : {},
    pathLabels: c.LOGFERRY_PATH_LABELS,
    drop: c.LOGFERRY_DROP,
    keep: c.LOGFERRY_KEEP,
    minLevel: c.LOGFERRY_MIN_LEVEL,
    redact: c.LOGFERRY_REDACT,
    redactFields: c.LOGFERRY_REDACT_FIELDS,
    rateLimit: c.LOGFERRY_RATE_LIMIT,
    rateLimitMode: c.LOGFERRY_RATE_LIMIT_MODE,
    headers: c.LOGFERRY_HEADERS,
    bearerToken: c.LOGFERRY_BEARER_TOKEN,
    bearerTokenFile: c.LOGFERRY_BEARER_TOKEN_FILE,
    basicAuthUser: c.LOGFERRY_BASIC_AUTH_USER,
    basicAuthPassword: c.LOGFERRY_BASIC_AUTH_PASSWORD,
    basicAuthPasswordFile: c.LOGFERRY_BASIC_AUTH_PASSWORD_FILE,
    tlsCaFile: c.LOGFERRY_TLS_CA_FILE,
    tlsCertFile: c.LOGFERRY_TLS_CERT_FILE,
    tlsKeyFile: c.LOGFERRY_TLS_KEY_FILE,
    tlsServerName: c.LOGFERRY_TLS_SERVER_NAME,
    tlsInsecureSkipVerify: c.LOGFERRY_TLS_INSECURE_SKIP_VERIFY,
    lokiTenant: c.LOGFERRY_LOKI_TENANT,
    lokiStructuredMetadata: c.LOGFERRY_LOKI_STRUCTURED_METADATA,
    esIndex: c.LOGFERRY_ES_INDEX,
    otlpEncoding: c.LOGFERRY_OTLP_ENCODING,
    splunkToken: c.LOGFERRY_SPLUNK_TOKEN,
    splunkTokenFile: c.LOGFERRY_SPLUNK_TOKEN_FILE,
    splunkAck: c.LOGFERRY_SPLUNK_ACK,
    splunkAckTimeoutMs: c.LOGFERRY_SPLUNK_ACK_TIMEOUT_MS,
    splunkIndex: c.LOGFERRY_SPLUNK_INDEX,
    splunkSourcetype: c.LOGFERRY_SPLUNK_SOURCETYPE,
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
  cross.push(...authProblems(cfg));
  if (cross.length > 0) throw new ConfigError(cross);
  return cfg;
}

/** Variables naming files that must be readable at start. */
const FILE_VARIABLES = [
  ['LOGFERRY_BEARER_TOKEN_FILE', 'bearerTokenFile'],
  ['LOGFERRY_BASIC_AUTH_PASSWORD_FILE', 'basicAuthPasswordFile'],
  ['LOGFERRY_SPLUNK_TOKEN_FILE', 'splunkTokenFile'],
  ['LOGFERRY_TLS_CA_FILE', 'tlsCaFile'],
  ['LOGFERRY_TLS_CERT_FILE', 'tlsCertFile'],
  ['LOGFERRY_TLS_KEY_FILE', 'tlsKeyFile'],
] as const;

/**
 * At start, before reading anything: every secret and certificate file must be readable now (a missing
 * mounted Secret is a configuration error, exit 2). Kept out of loadConfig, which only reads the environment.
 */
export function checkConfigFiles(cfg: Config): void {
  const problems: ConfigProblem[] = [];
  for (const [variable, key] of FILE_VARIABLES) {
    const path = cfg[key];
    if (!path) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      problems.push({
        variable,
        message: `cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Auth and TLS settings that contradict each other or the sink. */
function authProblems(cfg: Config): ConfigProblem[] {
  const p: ConfigProblem[] = [];
  const both = (a: string, b: string, va: string, vb: string) => {
    if (va && vb) p.push({ variable: b, message: `set either ${a} or ${b}, not both` });
  };
  both('LOGFERRY_BEARER_TOKEN', 'LOGFERRY_BEARER_TOKEN_FILE', cfg.bearerToken, cfg.bearerTokenFile);
  both(
    'LOGFERRY_BASIC_AUTH_PASSWORD',
    'LOGFERRY_BASIC_AUTH_PASSWORD_FILE',
    cfg.basicAuthPassword,
    cfg.basicAuthPasswordFile,
  );
  both('LOGFERRY_SPLUNK_TOKEN', 'LOGFERRY_SPLUNK_TOKEN_FILE', cfg.splunkToken, cfg.splunkTokenFile);
  const bearer = Boolean(cfg.bearerToken || cfg.bearerTokenFile);
  const basic = Boolean(cfg.basicAuthUser);
  const splunk = Boolean(cfg.splunkToken || cfg.splunkTokenFile);
  if ((cfg.basicAuthPassword || cfg.basicAuthPasswordFile) && !basic) {
    p.push({
      variable: 'LOGFERRY_BASIC_AUTH_USER',
      message: 'is required when a basic auth password is set',
    });
  }
  if (bearer && basic) {
    p.push({
      variable: 'LOGFERRY_BASIC_AUTH_USER',
      message: 'set either a bearer token or basic auth, not both',
    });
  }
  if (cfg.headers.authorization !== undefined && (bearer || basic || splunk)) {
    p.push({
      variable: 'LOGFERRY_HEADERS',
      message: 'sets Authorization, and so does a token or basic auth',
    });
  }
  if (cfg.sink === 'splunk' && !splunk) {
    p.push({
      variable: 'LOGFERRY_SPLUNK_TOKEN',
      message: 'is required with LOGFERRY_SINK=splunk (or LOGFERRY_SPLUNK_TOKEN_FILE)',
    });
  }
  if (splunk && cfg.sink !== 'splunk') {
    p.push({ variable: 'LOGFERRY_SPLUNK_TOKEN', message: 'is only used with LOGFERRY_SINK=splunk' });
  }
  if (splunk && (bearer || basic)) {
    p.push({
      variable: 'LOGFERRY_SPLUNK_TOKEN',
      message: 'the HEC token is the authorization; drop bearer/basic auth',
    });
  }
  if (Boolean(cfg.tlsCertFile) !== Boolean(cfg.tlsKeyFile)) {
    p.push({
      variable: cfg.tlsCertFile ? 'LOGFERRY_TLS_KEY_FILE' : 'LOGFERRY_TLS_CERT_FILE',
      message: 'a client certificate needs both LOGFERRY_TLS_CERT_FILE and LOGFERRY_TLS_KEY_FILE',
    });
  }
  const tls =
    cfg.tlsCaFile || cfg.tlsCertFile || cfg.tlsKeyFile || cfg.tlsServerName || cfg.tlsInsecureSkipVerify;
  if (tls && cfg.endpoint.protocol !== 'https:') {
    p.push({
      variable: 'LOGFERRY_ENDPOINT',
      message: 'TLS settings are set, so it must start with https://',
    });
  }
  return p;
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
