// Prometheus metrics (prom-client), read from the pipeline's state at scrape time: nothing on the hot path.

import type { SenderStats } from '../send/sender.js';
import { Counter, collectDefaultMetrics, Gauge, Registry } from './prom-client-parts.js';

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
  deliveryStats(): Promise<DeliveryStats>;
  /** Filters: records not sent per rule, replacements per redaction rule (absent: no filter). */
  filterStats?(): {
    dropped: Readonly<Record<string, number>>;
    redactions: ReadonlyMap<string, number>;
  } | null;
}

/** A counter whose value is copied from a running total at scrape time. */
function mirrored(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: (c: Counter) => void | Promise<void>,
) {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      return read(this);
    },
  });
}

export function createMetrics(source: MetricsSource): Registry {
  const registry = new Registry();
  // The event-loop-lag sampler wakes the process every `precision` ms; prom-client's 10 ms default was
  // most of the agent's CPU at rest (measured: ~1.5% of a core with 1,000 quiet files). 500 ms is plenty.
  collectDefaultMetrics({ register: registry, prefix: 'logferry_', eventLoopMonitoringPrecision: 500 });
  const files = () => source.fileStats();
  mirrored(registry, 'logferry_lines_read_total', 'Lines read, per file.', ['file'], (c) => {
    for (const f of files()) c.inc({ file: f.path }, f.linesRead);
  });
  mirrored(registry, 'logferry_bytes_read_total', 'Bytes read, per file.', ['file'], (c) => {
    for (const f of files()) c.inc({ file: f.path }, f.bytesRead);
  });
  mirrored(registry, 'logferry_records_sent_total', 'Records acknowledged by the collector.', [], (c) =>
    c.inc(source.sendStats().recordsSent),
  );
  mirrored(registry, 'logferry_bytes_sent_total', 'Request body bytes (on the wire) acknowledged.', [], (c) =>
    c.inc(source.sendStats().bytesSent),
  );
  mirrored(
    registry,
    'logferry_requests_total',
    'Requests by outcome (HTTP status, network, timeout).',
    ['status'],
    (c) => {
      for (const [status, n] of source.sendStats().requests) c.inc({ status }, n);
    },
  );
  mirrored(
    registry,
    'logferry_batches_sealed_total',
    'Batches sealed, by reason: full, age (the flush interval), caught_up (a backlog read to its end), flush (rotation, shutdown).',
    ['reason'],
    (c) => {
      for (const [reason, n] of Object.entries(source.batchesSealed())) c.inc({ reason }, n);
    },
  );
  mirrored(
    registry,
    'logferry_files_refused_total',
    'Paths not read, by reason: symlink-outside-roots, special-filesystem, not-regular, changed-during-open, size-mismatch.',
    ['reason'],
    (c) => {
      for (const [reason, n] of Object.entries(source.filesRefused())) c.inc({ reason }, n);
    },
  );
  mirrored(registry, 'logferry_retries_total', 'Requests retried.', [], (c) =>
    c.inc(source.sendStats().retries),
  );
  mirrored(
    registry,
    'logferry_dead_lettered_records_total',
    'Records written to the dead-letter file.',
    [],
    (c) => c.inc(source.sendStats().deadLettered),
  );
  mirrored(
    registry,
    'logferry_delivery_held_total',
    'Answers that held delivery, by HTTP status: refusals of the request (401, 403, 404, ...) or of every record; retried, never dead-lettered.',
    ['status'],
    async (c) => {
      for (const [status, n] of (await source.deliveryStats()).heldTotal) c.inc({ status }, n);
    },
  );
  mirrored(
    registry,
    'logferry_answers_too_large_total',
    'Accepted answers too large to read (their body is not read past 4 MiB).',
    [],
    (c) => c.inc(source.sendStats().unreadableAnswers),
  );
  new Gauge({
    name: 'logferry_delivery_held',
    help: '1 while the collector refuses the requests (or every record) and delivery is held, else 0.',
    registers: [registry],
    async collect() {
      this.set((await source.deliveryStats()).held ? 1 : 0);
    },
  });
  new Gauge({
    name: 'logferry_dead_letter_bytes',
    help: 'Bytes in the dead-letter files together (bounded by LOGFERRY_DEAD_LETTER_MAX_BYTES).',
    registers: [registry],
    async collect() {
      this.set((await source.deliveryStats()).deadLetterBytes);
    },
  });
  new Gauge({
    name: 'logferry_dead_letter_full',
    help: '1 while the dead-letter files are full: refused records wait and reading is paused; else 0.',
    registers: [registry],
    async collect() {
      this.set((await source.deliveryStats()).deadLetterFull ? 1 : 0);
    },
  });
  mirrored(
    registry,
    'logferry_duplicate_records_total',
    'Records the collector already had (409).',
    [],
    (c) => c.inc(source.sendStats().duplicates),
  );
  mirrored(
    registry,
    'logferry_collector_dropped_records_total',
    'Records in accepted requests the collector did not store (also dead-lettered).',
    [],
    (c) => c.inc(source.sendStats().droppedByCollector),
  );
  mirrored(
    registry,
    'logferry_parse_errors_total',
    'Records shipped raw because they did not parse.',
    [],
    (c) => c.inc(source.parseErrors()),
  );
  mirrored(registry, 'logferry_checkpoint_writes_total', 'Checkpoint files written.', [], (c) =>
    c.inc(source.checkpointStats().writes),
  );
  mirrored(registry, 'logferry_checkpoint_failures_total', 'Checkpoint writes that failed.', [], (c) =>
    c.inc(source.checkpointStats().failures),
  );
  mirrored(
    registry,
    'logferry_files_lost_waiting_total',
    'Files rotated away or deleted while they waited for a descriptor (LOGFERRY_MAX_OPEN_FILES), never read.',
    [],
    (c) => c.inc(source.fileLifecycle().lostWaiting),
  );
  mirrored(
    registry,
    'logferry_files_forgotten_total',
    'Idle, fully delivered files let go (LOGFERRY_FORGET_IDLE_MS); their checkpoint entry stays.',
    [],
    (c) => c.inc(source.fileLifecycle().forgotten),
  );
  new Gauge({
    name: 'logferry_files_waiting',
    help: 'Files waiting for a descriptor (LOGFERRY_MAX_OPEN_FILES).',
    registers: [registry],
    collect() {
      this.set(source.fileLifecycle().waiting);
    },
  });
  const filters = () => source.filterStats?.() ?? null;
  mirrored(
    registry,
    'logferry_records_dropped_total',
    'Records not sent, by rule: drop, keep, min_level (filters), rate_limit (LOGFERRY_RATE_LIMIT_MODE=drop).',
    ['rule'],
    (c) => {
      for (const [rule, n] of Object.entries(filters()?.dropped ?? {})) c.inc({ rule }, n);
    },
  );
  mirrored(
    registry,
    'logferry_redactions_total',
    'Secrets replaced by [REDACTED:<rule>], by rule (field: LOGFERRY_REDACT_FIELDS).',
    ['rule'],
    (c) => {
      for (const [rule, n] of filters()?.redactions ?? []) c.inc({ rule }, n);
    },
  );
  mirrored(
    registry,
    'logferry_file_records_dropped_total',
    'Records not sent, per file (filters and rate-limit drops).',
    ['file'],
    (c) => {
      for (const f of files()) if (f.dropped !== undefined) c.inc({ file: f.path }, f.dropped);
    },
  );
  mirrored(
    registry,
    'logferry_rate_limit_wait_seconds_total',
    'Per file: time its reading waited for LOGFERRY_RATE_LIMIT (the backlog waits on disk).',
    ['file'],
    (c) => {
      for (const f of files())
        if (f.rateLimitWaitSeconds !== undefined) c.inc({ file: f.path }, f.rateLimitWaitSeconds);
    },
  );
  new Gauge({
    name: 'logferry_file_rate_limited',
    help: 'Per file: 1 while its reading waits for LOGFERRY_RATE_LIMIT, else 0.',
    labelNames: ['file'],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of files())
        if (f.rateLimited !== undefined) this.set({ file: f.path }, f.rateLimited ? 1 : 0);
    },
  });
  new Gauge({
    name: 'logferry_requests_in_flight',
    help: 'Requests sent and not yet answered.',
    registers: [registry],
    collect() {
      this.set(source.sendStats().inFlight);
    },
  });
  new Gauge({
    name: 'logferry_buffered_bytes',
    help: 'Bytes held in memory: queued records, partial lines, request bodies (the budget in use).',
    registers: [registry],
    collect() {
      this.set(source.bufferedBytes());
    },
  });
  new Gauge({
    name: 'logferry_file_lag_bytes',
    help: 'Per file: size minus the delivered (acknowledged) offset.',
    labelNames: ['file'],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of files()) this.set({ file: f.path }, Math.max(0, f.size - f.delivered));
    },
  });
  new Gauge({
    name: 'logferry_oldest_undelivered_age_seconds',
    help: 'Age of the oldest line read but not yet acknowledged (0 when none).',
    registers: [registry],
    collect() {
      const at = source.oldestUndeliveredAt();
      this.set(at === null ? 0 : (Date.now() - at) / 1000);
    },
  });
  return registry;
}
