// Prometheus metrics in the text exposition format, read from the pipeline's state at scrape time.
//
// Written by hand, not with prom-client: every series is a value copied from a running total or read at
// scrape time, so a table of (name, type, help, read) and a renderer is all it takes, at a fraction of
// prom-client's memory (docs/performance.md, Memory at rest). test/unit/metrics.test.ts parses the output
// with a Prometheus text parser.
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { SenderStats } from '../send/sender.js';

export interface FileStat {
  path: string;
  linesRead: number;
  bytesRead: number;
  /** Last known size of the file. */
  size: number;
  /** Every line before this offset is acknowledged. */
  delivered: number;
  /** Records not sent (filters, rate-limit drops). */
  dropped?: number;
  /** LOGFERRY_RATE_LIMIT (lossless): the file waits for its rate limit now, and seconds it waited in all. */
  rateLimited?: boolean;
  rateLimitWaitSeconds?: number;
}

/** The sender's running totals, plus the requests in flight now. */
export type SendStats = Readonly<SenderStats> & { inFlight: number };

/** Why delivery is held, and the dead-letter files. */
export interface DeliveryStats {
  /** Answers that held delivery, per HTTP status. */
  heldTotal: ReadonlyMap<string, number>;
  held: boolean;
  deadLetterBytes: number;
  deadLetterFull: boolean;
}

/** What the metrics read; the pipeline implements it. */
export interface MetricsSource {
  fileStats(): FileStat[];
  sendStats(): SendStats;
  bufferedBytes(): number;
  /** When the oldest line read but not yet acknowledged was read, or null. */
  oldestUndeliveredAt(): number | null;
  checkpointStats(): { writes: number; failures: number };
  /** Records shipped raw with parse_error (0 when no parser is configured). */
  parseErrors(): number;
  /** Batches sealed so far, per reason (full, age, caught_up, flush). */
  batchesSealed(): Readonly<Record<string, number>>;
  /** Paths refused by the trust boundary, per reason. */
  filesRefused(): Readonly<Record<string, number>>;
  /** Files waiting for a descriptor now, lost while waiting, and forgotten while idle (totals). */
  fileLifecycle(): { waiting: number; lostWaiting: number; forgotten: number };
  /** Read once per scrape (it looks at the state directory). */
  deliveryStats(): Promise<DeliveryStats>;
  /** Filters: records not sent per rule, replacements per redaction rule (absent: no filter). */
  filterStats?(): {
    dropped: Readonly<Record<string, number>>;
    redactions: ReadonlyMap<string, number>;
  } | null;
}

/** One sample: a value, or labels and a value. */
export type Sample = number | readonly [Readonly<Record<string, string>>, number];

/** A series: its name (without the `logferry_` prefix), type, help, and its samples at scrape time. */
export interface Series {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  read(): Iterable<Sample> | number;
}

/** What the health server serves at /metrics. */
export interface Metrics {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export const PREFIX = 'logferry_';
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const counter = (name: string, help: string, read: Series['read']): Series => ({
  name,
  type: 'counter',
  help,
  read,
});
const gauge = (name: string, help: string, read: Series['read']): Series => ({
  name,
  type: 'gauge',
  help,
  read,
});

/** The agent's own series. To add one: a line here (and a source method, if it reads new state). */
/** What one scrape reads of the pipeline, once, so every series of the scrape comes from the same moment. */
interface Snapshot {
  files: FileStat[];
  send: SendStats;
  delivery: DeliveryStats;
}

function agentSeries(source: MetricsSource, now: () => Snapshot): Series[] {
  const files = () => now().files;
  const send = () => now().send;
  const delivery = () => now().delivery;
  const perFile = (v: (f: FileStat) => number) => () => files().map((f): Sample => [{ file: f.path }, v(f)]);
  /** Per file, where the value is known (files the feature applies to). */
  const someFiles = (v: (f: FileStat) => number | undefined) => () =>
    files().flatMap((f): Sample[] => {
      const n = v(f);
      return n === undefined ? [] : [[{ file: f.path }, n]];
    });
  const byKey = (
    o: Readonly<Record<string, number>> | ReadonlyMap<string, number> | undefined,
    label: string,
  ) => [...(o instanceof Map ? o : Object.entries(o ?? {}))].map(([k, n]): Sample => [{ [label]: k }, n]);
  const filters = () => source.filterStats?.() ?? null;
  const lifecycle = () => source.fileLifecycle();
  return [
    counter(
      'lines_read_total',
      'Lines read, per file.',
      perFile((f) => f.linesRead),
    ),
    counter(
      'bytes_read_total',
      'Bytes read, per file.',
      perFile((f) => f.bytesRead),
    ),
    counter('records_sent_total', 'Records acknowledged by the collector.', () => send().recordsSent),
    counter('bytes_sent_total', 'Request body bytes (on the wire) acknowledged.', () => send().bytesSent),
    counter('requests_total', 'Requests by outcome (HTTP status, network, timeout).', () =>
      byKey(send().requests, 'status'),
    ),
    counter(
      'batches_sealed_total',
      'Batches sealed, by reason: full, age (the flush interval), caught_up (a backlog read to its end), flush (rotation, shutdown).',
      () => byKey(source.batchesSealed(), 'reason'),
    ),
    counter(
      'files_refused_total',
      'Paths not read, by reason: symlink-outside-roots, special-filesystem, not-regular, changed-during-open, size-mismatch.',
      () => byKey(source.filesRefused(), 'reason'),
    ),
    counter(
      'files_lost_waiting_total',
      'Files rotated away or deleted while they waited for a descriptor (LOGFERRY_MAX_OPEN_FILES), never read.',
      () => lifecycle().lostWaiting,
    ),
    counter(
      'files_forgotten_total',
      'Idle, fully delivered files let go (LOGFERRY_FORGET_IDLE_MS); their checkpoint entry stays.',
      () => lifecycle().forgotten,
    ),
    gauge(
      'files_waiting',
      'Files waiting for a descriptor (LOGFERRY_MAX_OPEN_FILES).',
      () => lifecycle().waiting,
    ),
    counter('retries_total', 'Requests retried.', () => send().retries),
    counter(
      'delivery_held_total',
      'Answers that held delivery, by HTTP status: refusals of the request (401, 403, 404, ...) or of every record; retried, never dead-lettered.',
      () => byKey(delivery().heldTotal, 'status'),
    ),
    gauge(
      'delivery_held',
      '1 while the collector refuses the requests (or every record) and delivery is held, else 0.',
      () => (delivery().held ? 1 : 0),
    ),
    counter(
      'answers_too_large_total',
      'Accepted answers too large to read (their body is not read past 4 MiB).',
      () => send().unreadableAnswers,
    ),
    gauge(
      'dead_letter_bytes',
      'Bytes in the dead-letter files together (bounded by LOGFERRY_DEAD_LETTER_MAX_BYTES).',
      () => delivery().deadLetterBytes,
    ),
    gauge(
      'dead_letter_full',
      '1 while the dead-letter files are full: refused records wait and reading is paused; else 0.',
      () => (delivery().deadLetterFull ? 1 : 0),
    ),
    counter(
      'dead_lettered_records_total',
      'Records written to the dead-letter file.',
      () => send().deadLettered,
    ),
    counter('duplicate_records_total', 'Records the collector already had (409).', () => send().duplicates),
    counter(
      'collector_dropped_records_total',
      'Records in accepted requests the collector did not store (also dead-lettered).',
      () => send().droppedByCollector,
    ),
    counter('parse_errors_total', 'Records shipped raw because they did not parse.', () =>
      source.parseErrors(),
    ),
    counter('checkpoint_writes_total', 'Checkpoint files written.', () => source.checkpointStats().writes),
    counter(
      'checkpoint_failures_total',
      'Checkpoint writes that failed.',
      () => source.checkpointStats().failures,
    ),
    counter(
      'records_dropped_total',
      'Records not sent, by rule: drop, keep, min_level (filters), rate_limit (LOGFERRY_RATE_LIMIT_MODE=drop).',
      () => byKey(filters()?.dropped, 'rule'),
    ),
    counter(
      'redactions_total',
      'Secrets replaced by [REDACTED:<rule>], by rule (field: LOGFERRY_REDACT_FIELDS).',
      () => byKey(filters()?.redactions, 'rule'),
    ),
    counter(
      'file_records_dropped_total',
      'Records not sent, per file (filters and rate-limit drops).',
      someFiles((f) => f.dropped),
    ),
    counter(
      'rate_limit_wait_seconds_total',
      'Per file: time its reading waited for LOGFERRY_RATE_LIMIT (the backlog waits on disk).',
      someFiles((f) => f.rateLimitWaitSeconds),
    ),
    gauge(
      'file_rate_limited',
      'Per file: 1 while its reading waits for LOGFERRY_RATE_LIMIT, else 0.',
      someFiles((f) => (f.rateLimited === undefined ? undefined : f.rateLimited ? 1 : 0)),
    ),
    gauge('requests_in_flight', 'Requests sent and not yet answered.', () => send().inFlight),
    gauge(
      'buffered_bytes',
      'Bytes held in memory: queued records, partial lines, request bodies (the budget in use).',
      () => source.bufferedBytes(),
    ),
    gauge(
      'file_lag_bytes',
      'Per file: size minus the delivered (acknowledged) offset.',
      perFile((f) => Math.max(0, f.size - f.delivered)),
    ),
    gauge(
      'oldest_undelivered_age_seconds',
      'Age of the oldest line read but not yet acknowledged (0 when none).',
      () => {
        const at = source.oldestUndeliveredAt();
        return at === null ? 0 : (Date.now() - at) / 1000;
      },
    ),
  ];
}

/** The event loop's delay is sampled every this many ms (each sample wakes the process). */
const LOOP_RESOLUTION_MS = 500;

/** The process's own series, named as Prometheus clients name them. */
function processSeries(): Series[] {
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const startSeconds = Math.round((Date.now() - process.uptime() * 1000) / 1000);
  return [
    counter(
      'process_cpu_user_seconds_total',
      'User CPU time spent, in seconds.',
      () => process.cpuUsage().user / 1e6,
    ),
    counter(
      'process_cpu_system_seconds_total',
      'System CPU time spent, in seconds.',
      () => process.cpuUsage().system / 1e6,
    ),
    counter('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    }),
    gauge('process_resident_memory_bytes', 'Resident memory size, in bytes.', () =>
      process.memoryUsage.rss(),
    ),
    gauge(
      'process_start_time_seconds',
      'Start time of the process since the Unix epoch, in seconds.',
      () => startSeconds,
    ),
    gauge('process_open_fds', 'Open file descriptors.', () => {
      try {
        return readdirSync('/proc/self/fd').length;
      } catch {
        return [];
      }
    }),
    gauge('nodejs_heap_size_total_bytes', 'V8 heap size, in bytes.', () => process.memoryUsage().heapTotal),
    gauge('nodejs_heap_size_used_bytes', 'V8 heap used, in bytes.', () => process.memoryUsage().heapUsed),
    gauge(
      'nodejs_external_memory_bytes',
      'Memory of C++ objects bound to JavaScript objects (Buffers among them), in bytes.',
      () => process.memoryUsage().external,
    ),
    gauge(
      'nodejs_eventloop_lag_p99_seconds',
      'Event loop delay, 99th percentile since the last scrape.',
      () => {
        const p99 = loop.count > 0 ? loop.percentile(99) / 1e9 : 0;
        loop.reset();
        return p99;
      },
    ),
  ];
}

/** `value` as the exposition format writes it. */
function num(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The text exposition of `series` (names get the prefix). */
export function render(series: readonly Series[]): string {
  const out: string[] = [];
  for (const s of series) {
    const name = PREFIX + s.name;
    out.push(`# HELP ${name} ${escapeHelp(s.help)}`, `# TYPE ${name} ${s.type}`);
    const read = s.read();
    for (const sample of typeof read === 'number' ? [read] : read) {
      if (typeof sample === 'number') {
        out.push(`${name} ${num(sample)}`);
        continue;
      }
      const [labels, value] = sample;
      const ls = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      out.push(`${name}{${ls.join(',')}} ${num(value)}`);
    }
  }
  out.push('');
  return out.join('\n');
}

export function createMetrics(source: MetricsSource): Metrics {
  let snapshot: Snapshot | null = null;
  const series = [...agentSeries(source, () => snapshot!), ...processSeries()];
  return {
    contentType: CONTENT_TYPE,
    metrics: async () => {
      const delivery = await source.deliveryStats();
      snapshot = { files: source.fileStats(), send: source.sendStats(), delivery };
      return render(series);
    },
  };
}
