// The one table of environment variables: name, kind, default, limits and meaning; parsing and docs come from it.
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { z } from 'zod/v3';
import { parseMatchRules, parseMinLevel, parseRateLimit, parseRedact } from '../filter/rules.js';
import { splitParserRules } from '../parse/enrich.js';
import { compileMultiline } from '../parse/multiline.js';
import { parseParserSpec } from '../parse/parsers.js';
import { compileUserRegex, groupNames } from '../parse/safe-regex.js';
import { compileTimeFormat } from '../parse/time.js';
import { SINKS, type SinkName } from '../sinks/sink.js';
import {
  bool,
  custom,
  fail,
  filePath,
  group,
  int,
  list,
  oneOf,
  pairList,
  secret,
  splitList,
  text,
  type Variable,
} from './kinds.js';
import { redactUrl } from './redact-url.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const PINO_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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

const problemOf = (r: unknown): string | null => (typeof r === 'string' ? r : null);

const paths = custom(
  'LOGFERRY_PATHS',
  z
    .string({ required_error: 'is required (comma-separated glob patterns of files to tail)' })
    .transform(splitList)
    .refine((l) => l.length > 0, 'is required (comma-separated glob patterns of files to tail)')
    .refine((l) => l.every((p) => p.startsWith('/')), 'every pattern must be an absolute path'),
  {
    type: 'list',
    default: undefined,
    doc: 'Comma-separated absolute glob patterns of the files to tail (`/var/log/app/*.log,/var/log/app/**/*.json`).',
  },
);

const endpoint = custom(
  'LOGFERRY_ENDPOINT',
  z
    .string({ required_error: 'is required (the collector URL, http:// or https://)' })
    .trim()
    .transform((s, ctx) => {
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        return fail(ctx, `is not a valid URL: ${JSON.stringify(redactUrl(s))}`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        return fail(ctx, `must start with http:// or https://, got ${u.protocol}`);
      return u;
    }),
  {
    type: 'URL',
    default: undefined,
    doc: 'Collector URL, `http://` or `https://`; for `loki`, `elasticsearch`, `otlp` and `splunk` the base URL, to which the protocol path is appended unless the URL already ends with it.',
  },
);

const sink = oneOf(
  'LOGFERRY_SINK',
  SINKS as unknown as readonly [SinkName, ...SinkName[]],
  'ndjson',
  'Wire protocol; `opensearch` is accepted as `elasticsearch` (see collectors.md).',
  { opensearch: 'elasticsearch' },
);

const parsers = custom(
  'LOGFERRY_PARSERS',
  z
    .string()
    .default('')
    .transform((s, ctx) => {
      const rules = splitParserRules(s);
      if (typeof rules === 'string') return fail(ctx, rules);
      const problem = rules.map((r) => problemOf(parseParserSpec(r.parser))).find((p) => p !== null);
      return problem ? fail(ctx, problem) : (rules as { glob: string; parser: string }[]);
    }),
  {
    type: 'rule list',
    default: '',
    doc: 'Parsers per file, `<glob>=<parser>;<glob>=<parser>`; the first matching glob wins; a glob without `/` matches the file name; `;;` is a literal `;`.',
  },
);

const HEADER_SET_BY_US = ['content-type', 'content-encoding', 'content-length', 'host', 'transfer-encoding'];

/** Every variable, in the order of the reference. */
export const VARIABLES = [
  ...group('Files', [
    paths,
    list(
      'LOGFERRY_EXCLUDE',
      'Comma-separated globs to skip; a pattern without `/` matches the file name (`*.gz`).',
    ),
    custom(
      'LOGFERRY_ALLOWED_ROOTS',
      z
        .string()
        .default('')
        .transform((s, ctx) => {
          const l = splitList(s);
          const bad = l.find((p) => !p.startsWith('/') || p.includes('\0'));
          if (bad !== undefined)
            return fail(ctx, `every entry must be an absolute directory, got ${JSON.stringify(bad)}`);
          return l.map((p) => posix.resolve(p));
        }),
      {
        type: 'list',
        default: '',
        limits: 'absolute directories',
        doc: "Directories outside the patterns' fixed prefixes where a matched file's real path may lead (`/var/log/pods` for `/var/log/containers/*.log`).",
      },
    ),
    text(
      'LOGFERRY_STATE_DIR',
      '/var/lib/logferry',
      'Checkpoints and dead letters; on a pod volume the app cannot write.',
      {
        type: 'directory',
        check: (s) => (s === '' ? 'must not be empty' : null),
      },
    ),
    oneOf(
      'LOGFERRY_START_AT',
      ['beginning', 'end'] as const,
      'beginning',
      'Where to start in files that exist at the very first start (no state yet); later files are read from their beginning.',
    ),
    int(
      'LOGFERRY_MAX_LINE_BYTES',
      { min: 256, max: 64 * MiB, def: MiB, unit: 'bytes' },
      'Longer lines are cut into pieces of at most this size, each marked `"cut":true`.',
    ),
    int(
      'LOGFERRY_MAX_OPEN_FILES',
      { min: 4, max: 1_000_000, def: 1024 },
      'Descriptor budget; idle files are closed first when it is reached.',
    ),
    int(
      'LOGFERRY_IDLE_CLOSE_MS',
      { min: 100, max: DAY, def: 60_000, unit: 'ms' },
      'A fully delivered file idle this long releases its descriptor (reopened on change).',
    ),
    int(
      'LOGFERRY_FORGET_IDLE_MS',
      { min: 1000, max: 30 * DAY, def: HOUR, unit: 'ms' },
      'A fully delivered file idle this long is forgotten (tailer, metric series); its checkpoint entry stays while it is at its path.',
    ),
    int(
      'LOGFERRY_ROTATE_WAIT_MS',
      { min: 0, max: DAY, def: 5000, unit: 'ms' },
      'A renamed or deleted file is kept until read to its end, acknowledged, and quiet this long.',
    ),
    int(
      'LOGFERRY_POLL_INTERVAL_MS',
      { min: 10, max: 60_000, def: 250, unit: 'ms' },
      'How often rotated files (which get no watcher events) are polled for growth.',
    ),
    int(
      'LOGFERRY_RESCAN_INTERVAL_MS',
      { min: 100, max: HOUR, def: 10_000, unit: 'ms' },
      'Full re-walk of the watched directories, a safety net for missed watcher events.',
    ),
    int(
      'LOGFERRY_READ_CHUNK_BYTES',
      { min: 4 * KiB, max: 16 * MiB, def: 256 * KiB, unit: 'bytes' },
      'Size of one read.',
    ),
    int(
      'LOGFERRY_CHECKPOINT_INTERVAL_MS',
      { min: 10, max: 600_000, def: 1000, unit: 'ms' },
      'How often changed checkpoints are written (and always at shutdown).',
    ),
  ]),
  ...group('Collector', [
    endpoint,
    sink,
    oneOf('LOGFERRY_COMPRESSION', ['gzip', 'none'] as const, 'gzip', 'Request body compression.'),
    pairList('LOGFERRY_LABELS', 'Static labels `key=value,key2=value2`, sent as `labels` on every record.', {
      key: /^[A-Za-z_][A-Za-z0-9_.-]*$/,
      badKey: (part) => `expected key=value pairs separated by commas, got ${JSON.stringify(part)}`,
      forbidden: (key) =>
        RESERVED_FIELDS.has(key) ? `label ${JSON.stringify(key)} would overwrite a record field` : undefined,
    }),
    int(
      'LOGFERRY_REQUEST_TIMEOUT_MS',
      { min: 100, max: 600_000, def: 10_000, unit: 'ms' },
      'A request without a full answer by then is retried.',
    ),
    int('LOGFERRY_MAX_IN_FLIGHT', { min: 1, max: 64, def: 4 }, 'Requests in flight at once.'),
    int(
      'LOGFERRY_RETRY_INITIAL_MS',
      { min: 1, max: 600_000, def: 250, unit: 'ms' },
      'First retry delay; it doubles each attempt.',
    ),
    int('LOGFERRY_RETRY_MAX_MS', { min: 1, max: HOUR, def: 30_000, unit: 'ms' }, 'Cap of the retry delay.'),
    int(
      'LOGFERRY_RETRY_AFTER_MAX_MS',
      { min: 0, max: HOUR, def: 300_000, unit: 'ms' },
      'Cap on an honoured `Retry-After`, so a bogus header cannot stall shipping for days.',
    ),
    int(
      'LOGFERRY_DEAD_LETTER_MAX_BYTES',
      { min: 0, max: Number.MAX_SAFE_INTEGER, def: 100 * MiB, unit: 'bytes' },
      'The dead-letter files together, at most (0: no bound); when they are full, reading pauses until `logferry replay` or an operator frees room.',
    ),
  ]),
  ...group('Batching and memory', [
    int(
      'LOGFERRY_BATCH_MAX_BYTES',
      { min: KiB, max: 64 * MiB, def: MiB, unit: 'bytes' },
      'Largest request body before compression.',
    ),
    int(
      'LOGFERRY_BATCH_MAX_RECORDS',
      { min: 1, max: 1_000_000, def: 10_000 },
      'Most records in one request.',
    ),
    int(
      'LOGFERRY_FLUSH_INTERVAL_MS',
      { min: 1, max: 1000, def: 200, unit: 'ms' },
      'Longest time a line waits for its batch to fill; the last batch of a backlog goes as soon as every file is read to its end.',
    ),
    int(
      'LOGFERRY_BUFFER_MAX_BYTES',
      { min: 64 * KiB, max: 4 * GiB, def: 8 * MiB, unit: 'bytes' },
      'The memory budget (queued records, partial lines, bodies in flight); reading pauses when it is spent.',
      { shownDefault: '8388608 (8 MiB), or 4 × LOGFERRY_BATCH_MAX_BYTES when that is more' },
    ),
  ]),
  ...group('Agent', [
    int(
      'LOGFERRY_HTTP_PORT',
      { min: 0, max: 65535, def: 9780 },
      'Port of `/healthz`, `/readyz` and `/metrics`; `0` turns the server off.',
    ),
    custom(
      'LOGFERRY_HTTP_HOST',
      z
        .string()
        .trim()
        .default('0.0.0.0')
        .transform((s, ctx) => {
          // An IPv6 address may be given as in a URL, in brackets.
          const host = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
          if (host.toLowerCase() === 'localhost') return 'localhost';
          if (isIP(host) !== 0) return host;
          return fail(
            ctx,
            `must be an IP address (such as 0.0.0.0, 127.0.0.1, ::) or localhost, got ${JSON.stringify(s)}`,
          );
        }),
      {
        type: 'address',
        default: '0.0.0.0',
        limits: 'an IPv4 or IPv6 address (`[::1]` too), or `localhost`',
        doc: 'Address the health and metrics server binds (`127.0.0.1` keeps it inside the pod; see security.md).',
      },
    ),
    oneOf('LOGFERRY_LOG_LEVEL', PINO_LEVELS, 'info', "The agent's own log level."),
    int(
      'LOGFERRY_SHUTDOWN_TIMEOUT_MS',
      { min: 0, max: HOUR, def: 10_000, unit: 'ms' },
      'On SIGTERM, how long to keep reading and delivering before exiting.',
    ),
  ]),
  ...group('Parsing', [
    text(
      'LOGFERRY_PARSER',
      'none',
      'Parser of every file no `LOGFERRY_PARSERS` pattern takes: `none`, `json`, `logfmt`, `regex:<pattern>`, `cri`, `docker`, or a container format with an inner parser (`cri+json`).',
      { type: 'parser', check: (s) => problemOf(parseParserSpec(s)) },
    ),
    parsers,
    text(
      'LOGFERRY_MULTILINE',
      'none',
      '`none`, a preset (`java`, `python`, `go`, `nodejs`, `timestamp`) or a regex matching the first line of a record.',
      { type: 'multiline rule', check: (s) => problemOf(compileMultiline(s, 1)) },
    ),
    int(
      'LOGFERRY_MULTILINE_TIMEOUT_MS',
      { min: 10, max: 600_000, def: 1000, unit: 'ms' },
      'A record whose stream got no new line for this long is sent as it is.',
    ),
    int(
      'LOGFERRY_MULTILINE_MAX_LINES',
      { min: 1, max: 1_000_000, def: 500 },
      'A multiline record is cut (pieces marked `"cut":true`) at this many lines.',
    ),
    int(
      'LOGFERRY_MULTILINE_MAX_BYTES',
      { min: 256, max: 64 * MiB, def: MiB, unit: 'bytes' },
      '... or at this many bytes (also caps a container line joined from partial lines).',
    ),
    int(
      'LOGFERRY_PARSE_MAX_BYTES',
      { min: 256, max: 64 * MiB, def: 256 * KiB, unit: 'bytes' },
      'Longer records are not parsed (shipped raw, `"parse_error":true`); regexes never see more of a line.',
    ),
    list(
      'LOGFERRY_TIME_FIELD',
      'Fields to take the event time from (first present and valid wins; `a.b` looks into objects).',
      { def: 'time,timestamp,ts,@timestamp' },
    ),
    text(
      'LOGFERRY_TIME_FORMAT',
      'auto',
      '`auto`, `rfc3339`, `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`, `common_log`, `syslog`, or a strftime layout.',
      { type: 'time format', check: (s) => problemOf(compileTimeFormat(s)) },
    ),
    list('LOGFERRY_LEVEL_FIELD', 'Fields holding the level, normalised to `trace` ... `fatal`.', {
      def: 'level,lvl,severity,loglevel',
    }),
    bool(
      'LOGFERRY_K8S_LABELS',
      true,
      'Kubernetes Downward API variables (`POD_NAME`, `POD_NAMESPACE`, `NODE_NAME`, ...) become labels when set.',
    ),
    text('LOGFERRY_PATH_LABELS', '', 'A regex over the file path whose named groups become labels.', {
      type: 'regex',
      check: (s) => {
        if (s === '') return null;
        const re = problemOf(compileUserRegex(s));
        if (re !== null) return re;
        return groupNames(s).length === 0 ? 'has no named group (?<label>...)' : null;
      },
    }),
  ]),
  ...group('Filters, redaction and rate limits', [
    text(
      'LOGFERRY_DROP',
      '',
      'Records matching a rule are not sent: `[<glob>=][<field>=]<regex>;...` (see filters.md).',
      { type: 'rule list', check: (s) => problemOf(parseMatchRules(s)) },
    ),
    text(
      'LOGFERRY_KEEP',
      '',
      'Where rules apply to a file, only its records matching one are sent; same syntax as `LOGFERRY_DROP`.',
      { type: 'rule list', check: (s) => problemOf(parseMatchRules(s)) },
    ),
    text(
      'LOGFERRY_MIN_LEVEL',
      '',
      'Records with a level below it are not sent; records without a level are kept.',
      {
        type: 'level',
        limits: '`trace`, `debug`, `info`, `warn`, `error`, `fatal` (and common aliases)',
        check: (s) => problemOf(parseMinLevel(s)),
      },
    ),
    text(
      'LOGFERRY_REDACT',
      '',
      'Secrets and personal data in messages and fields become `[REDACTED:<rule>]` before anything leaves the agent.',
      {
        type: 'list',
        limits:
          '`credit-card`, `email`, `jwt`, `bearer`, `aws-key`, `private-key`, `iban`, `default` (all), `regex:<pattern>[=><replacement>]`',
        check: (s) => problemOf(parseRedact(s)),
      },
    ),
    list(
      'LOGFERRY_REDACT_FIELDS',
      'Parsed fields with these names (any depth, any case), and `name=value` in the message, become `[REDACTED:field]`.',
    ),
    text(
      'LOGFERRY_RATE_LIMIT',
      '',
      'Per file, the most lines per second shipped: `<lines/s>[,burst=<lines>]`.',
      {
        type: 'rate',
        limits: '1 to 10000000 lines per second; burst defaults to the rate',
        check: (s) => problemOf(parseRateLimit(s)),
      },
    ),
    oneOf(
      'LOGFERRY_RATE_LIMIT_MODE',
      ['wait', 'drop'] as const,
      'wait',
      '`wait`: a file past its limit is read more slowly (its backlog waits on disk); `drop`: excess lines are dropped and counted in a summary record.',
    ),
  ]),
  ...group('Authentication and TLS', [
    pairList('LOGFERRY_HEADERS', 'Extra request headers, `Name=value,Name2=value2` (every sink).', {
      key: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
      badKey: (_part, name, hasEq) =>
        `expected Header-Name=value pairs separated by commas, got a part without a valid header name${hasEq ? ` (${JSON.stringify(name)})` : ''}`,
      forbidden: (name) =>
        HEADER_SET_BY_US.includes(name.toLowerCase())
          ? `header ${JSON.stringify(name)} is set by logferry itself`
          : undefined,
      storeAs: (name) => name.toLowerCase(),
    }),
    secret('LOGFERRY_BEARER_TOKEN', '`Authorization: Bearer <token>`.'),
    filePath(
      'LOGFERRY_BEARER_TOKEN_FILE',
      'The bearer token read from a file (a mounted Secret), re-read when it changes.',
    ),
    text('LOGFERRY_BASIC_AUTH_USER', '', 'Basic auth user name.'),
    secret('LOGFERRY_BASIC_AUTH_PASSWORD', 'Basic auth password.'),
    filePath(
      'LOGFERRY_BASIC_AUTH_PASSWORD_FILE',
      'The basic auth password read from a file, re-read when it changes.',
    ),
    filePath(
      'LOGFERRY_TLS_CA_FILE',
      "PEM file of the CA(s) that signed the collector's certificate (instead of the system CAs).",
    ),
    filePath(
      'LOGFERRY_TLS_CERT_FILE',
      'PEM client certificate, for mutual TLS (with `LOGFERRY_TLS_KEY_FILE`).',
    ),
    filePath('LOGFERRY_TLS_KEY_FILE', 'PEM private key of the client certificate.'),
    text(
      'LOGFERRY_TLS_SERVER_NAME',
      '',
      "Name to verify the collector's certificate against (and SNI), when it differs from the URL's host.",
    ),
    bool(
      'LOGFERRY_TLS_INSECURE_SKIP_VERIFY',
      false,
      '`true` turns certificate verification off (a loud warning at start).',
    ),
  ]),
  ...group('Sinks', [
    text('LOGFERRY_LOKI_TENANT', '', '`loki`: tenant, sent as `X-Scope-OrgID`.'),
    bool(
      'LOGFERRY_LOKI_STRUCTURED_METADATA',
      true,
      '`loki`: send file, offset, id and level as structured metadata (Loki 3, schema v13).',
    ),
    text(
      'LOGFERRY_ES_INDEX',
      'logferry-%Y.%m.%d',
      "`elasticsearch`: index or data stream; `%Y`, `%m`, `%d`, `%H` are replaced from the record's time (UTC).",
      {
        type: 'index name',
        check: (s) =>
          s.length > 0 &&
          !/[\\/*?"<>| ,#]/.test(s) &&
          s.replace(/%[YmdH%]/g, '') === s.replace(/%[YmdH%]/g, '').toLowerCase()
            ? null
            : 'must be a lowercase index or data stream name without \\ / * ? " < > | , # or spaces',
      },
    ),
    oneOf('LOGFERRY_OTLP_ENCODING', ['protobuf', 'json'] as const, 'protobuf', '`otlp`: body encoding.'),
    secret('LOGFERRY_SPLUNK_TOKEN', '`splunk`: HEC token (`Authorization: Splunk <token>`).'),
    filePath(
      'LOGFERRY_SPLUNK_TOKEN_FILE',
      '`splunk`: the HEC token read from a file, re-read when it changes.',
    ),
    bool(
      'LOGFERRY_SPLUNK_ACK',
      false,
      '`splunk`: wait for indexer acknowledgement before a batch counts as delivered.',
    ),
    int(
      'LOGFERRY_SPLUNK_ACK_TIMEOUT_MS',
      { min: 100, max: HOUR, def: 120_000, unit: 'ms' },
      '`splunk`: with acknowledgement on, a batch not acknowledged by then is sent again.',
    ),
    text('LOGFERRY_SPLUNK_INDEX', '', "`splunk`: `index` of every event (else the token's default)."),
    text(
      'LOGFERRY_SPLUNK_SOURCETYPE',
      '',
      "`splunk`: `sourcetype` of every event (else the token's default).",
    ),
  ]),
] as const;

/** LOGFERRY_FOO_BAR → fooBar, the field of Config that holds it. */
type Camel<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Lowercase<H>}${Capitalize<Camel<T>>}`
  : Lowercase<S>;
export type FieldOf<N extends string> = N extends `LOGFERRY_${infer R}` ? Camel<R> : never;

export function fieldOf(name: string): string {
  return name
    .slice('LOGFERRY_'.length)
    .toLowerCase()
    .replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The parsed values, one field per variable. */
export type Settings = {
  [V in (typeof VARIABLES)[number] as FieldOf<V['name']>]: V extends Variable<string, infer T> ? T : never;
};
