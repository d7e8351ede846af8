// Wires the stages: tailers → encoder → batcher → sender, acknowledgements back to the checkpoints.
import type { Logger } from 'pino';
import { ByteArena } from './arena/byte-arena.js';
import { RawNdjsonWriter, WRITER_BYTES } from './arena/raw-ndjson-writer.js';
import { Batcher, bodyBytes, GZIP_STREAMS } from './batch/batcher.js';
import { BodyPool } from './batch/body-pool.js';
import { ByteBudget } from './batch/byte-budget.js';
import { wireBytes } from './batch/gzip-compressor.js';
import { CheckpointStore } from './checkpoint/checkpoint-store.js';
import type { Config } from './config/config.js';
import { Discovery } from './discover/discovery.js';
import { Refusals, type Trust, TrustPolicy } from './discover/trust.js';
import { FilterStage } from './filter/filter-stage.js';
import { ReadThrottle } from './filter/rate-limit.js';
import { filteringIsOff, parseRateLimit } from './filter/rules.js';
import { ParseStage, parsingIsOff, type RecordSink, toLogRecord } from './parse/stage.js';
import { Credentials, tlsConnectOptions } from './send/auth.js';
import { DeadLetterFile } from './send/dead-letter.js';
import { Sender } from './send/sender.js';
import { createSink } from './sinks/create.js';
import { NdjsonSink } from './sinks/ndjson.js';
import type { LogRecord, Sink } from './sinks/sink.js';
import { type AgentStatus, heldExplanation, iso } from './status/agent-status.js';
import { FileServer, type TailOutput } from './tail/file-server.js';
import type { LineOutput, Tailer } from './tail/tailer.js';
import type { DeliveryStats, FileStat, MetricsSource, SendStats } from './telemetry/metrics.js';
import { RateLimitedLog } from './telemetry/rate-limited-log.js';

export const VERSION = '0.1.0';

/** Memory of one kept record beyond its text and path (object, id, timestamp), for the budget. */
const RECORD_OVERHEAD_BYTES = 160;

/**
 * Most request bodies kept in the byte arena. Its memory stays resident once touched (WebAssembly memory
 * cannot be given back), so bodies beyond this come from the heap, where idle ones are dropped.
 */
const ARENA_BODY_BYTES = 16 * 1024 * 1024;

/** A stuck pipeline: files waiting to be read, room in the budget, and no read for this long. */
const STUCK_AFTER_MS = 60_000;

export class Pipeline implements TailOutput, MetricsSource {
  readonly budget: ByteBudget;
  readonly store: CheckpointStore;
  readonly sender: Sender;
  readonly batcher: Batcher;
  readonly files: FileServer;
  readonly discovery: Discovery;
  /** Which files may be read (LOGFERRY_PATHS' roots, LOGFERRY_ALLOWED_ROOTS), and those refused. */
  private readonly trust: Trust;
  readonly deadLetter: DeadLetterFile;
  /** Parsers, multiline, path labels; null when none is configured. */
  readonly parse: ParseStage | null;
  /** Drop/keep, minimum level, redaction, rate-limit drops; null when none is set (records go straight on). */
  readonly filter: FilterStage | null;
  /** LOGFERRY_RATE_LIMIT in its lossless mode: files past it are read later. */
  readonly throttle: ReadThrottle | null;
  /** The protocol: encodes records into request bodies and reads the collector's answers. */
  private readonly sink: Sink;
  /** The raw path (ndjson, no parsing, WebAssembly available): whole lines are written many at a time. */
  private readonly writer: RawNdjsonWriter | null;
  readonly lines?: LineOutput['lines'];
  readonly lineTable?: Int32Array;
  started = false;
  stopping = false;

  constructor(
    cfg: Config,
    private readonly log: Logger,
  ) {
    this.budget = new ByteBudget(cfg.bufferMaxBytes);
    this.store = new CheckpointStore(cfg.stateDir, log);
    // Kubernetes labels from the Downward API, under the static LOGFERRY_LABELS.
    const labels = { ...cfg.podLabels, ...cfg.labels };
    const noisy = new RateLimitedLog(log);
    this.sink = createSink(cfg, VERSION, labels);
    // Free bodies kept: every body that can be in use at once (as many sealed as the budget holds, the open
    // one, one spare), so none of them becomes garbage: keeping two fewer raised peak RSS (figures:
    // docs/performance.md).
    const bodySize = bodyBytes(cfg.batchMaxBytes);
    const keep = Math.floor(cfg.bufferMaxBytes / bodySize) + 2;
    // The raw path (no parser, the ndjson sink) writes records from the read buffer into the bodies with
    // WebAssembly: both live in one arena.
    const inArena = Math.min(keep, Math.floor(ARENA_BODY_BYTES / bodySize));
    // Filters need records, as parsing does: either one takes the records path.
    const noParsing = parsingIsOff(cfg) && filteringIsOff(cfg);
    const arena =
      noParsing && this.sink instanceof NdjsonSink && inArena > 0
        ? ByteArena.create([WRITER_BYTES, cfg.readChunkBytes, ...new Array<number>(inArena).fill(bodySize)])
        : null;
    this.writer = arena === null ? null : new RawNdjsonWriter((this.sink as NdjsonSink).labelsJson, arena);
    if (this.writer !== null) {
      this.lines = this.rawLines;
      this.lineTable = this.writer.lineTable;
    }
    const bodies = new BodyPool(bodySize, keep, arena, inArena);
    // Compressed bodies: those being compressed, those in flight, and one sealed waiting to go, reused.
    if (cfg.compression === 'gzip')
      bodies.wires = new BodyPool(wireBytes(bodySize), GZIP_STREAMS + cfg.maxInFlight + 1);
    this.deadLetter = new DeadLetterFile(cfg.stateDir, cfg.deadLetterMaxBytes);
    this.sender = new Sender(
      {
        endpoint: cfg.endpoint,
        maxInFlight: cfg.maxInFlight,
        requestTimeoutMs: cfg.requestTimeoutMs,
        userAgent: `logferry/${VERSION}`,
        initialMs: cfg.retryInitialMs,
        maxMs: cfg.retryMaxMs,
        retryAfterMaxMs: cfg.retryAfterMaxMs,
        sink: this.sink,
        credentials: new Credentials(cfg, log),
        tls: cfg.endpoint.protocol === 'https:' ? tlsConnectOptions(cfg, log) : undefined,
        labels,
        bodies,
      },
      this.budget,
      this.deadLetter,
      log,
      noisy,
    );
    this.batcher = new Batcher(
      {
        maxBytes: cfg.batchMaxBytes,
        maxRecords: cfg.batchMaxRecords,
        flushIntervalMs: cfg.flushIntervalMs,
        compression: cfg.compression,
        sink: this.sink,
        bodies,
      },
      this.budget,
      this.sender,
    );
    const toBatch: RecordSink = (src, rec, tracker, ack) =>
      // The record keeps its message and its parsed fields: count both.
      this.batcher.add(
        toLogRecord(src.path, rec),
        rec.bytes +
          (rec.fields === null ? 0 : (rec.fieldsJson?.length ?? rec.bytes)) +
          src.path.length +
          RECORD_OVERHEAD_BYTES,
        tracker,
        ack,
      );
    this.filter = filteringIsOff(cfg)
      ? null
      : new FilterStage(cfg, toBatch, (tracker, ack) => this.batcher.skip(tracker, ack));
    const limit = cfg.rateLimitMode === 'wait' ? parseRateLimit(cfg.rateLimit) : null;
    this.throttle = limit !== null && typeof limit !== 'string' ? new ReadThrottle(limit) : null;
    this.parse = noParsing
      ? null
      : new ParseStage(cfg, labels, this.filter?.record ?? toBatch, (delta) =>
          delta > 0 ? this.budget.take(delta) : this.budget.release(-delta),
        );
    this.trust = { policy: new TrustPolicy(cfg.roots), refusals: new Refusals(log) };
    this.files = new FileServer(
      cfg,
      this.store,
      this.budget,
      this,
      log,
      arena?.region(cfg.readChunkBytes) ?? null,
      this.trust,
    );
    this.discovery = new Discovery(
      {
        paths: cfg.paths,
        exclude: cfg.exclude,
        stateDir: cfg.stateDir,
        rescanIntervalMs: cfg.rescanIntervalMs,
        isKnown: (p) => this.files.follows(p),
        trust: this.trust,
      },
      (p) => this.files.pathChanged(p),
      log,
    );
  }

  line(
    from: Tailer,
    buf: Buffer,
    start: number,
    end: number,
    rawBytes: number,
    offset: number,
    next: number,
    cut: boolean,
  ): void {
    from.linesRead++;
    const text = buf.toString('utf8', start, end);
    if (this.parse !== null) {
      this.parse.line(from, text, rawBytes, offset, next, cut);
      return;
    }
    const record: LogRecord = {
      message: text,
      file: from.path,
      offset,
      id: `${from.idPrefix}${offset}`,
      timestamp: from.timestamp,
      cut,
    };
    // Held in memory with its batch (protocols that keep records): the line's bytes, the path, an overhead.
    this.batcher.add(record, rawBytes + from.path.length + RECORD_OVERHEAD_BYTES, from.ack, next);
  }

  /** The raw path, many framed lines in one call: their records are written by WebAssembly (see writeLines). */
  private rawLines(
    from: Tailer,
    buf: Buffer,
    first: number,
    count: number,
    offset: number,
    end: number,
  ): number {
    const writer = this.writer!;
    const batcher = this.batcher;
    writer.use(from);
    const n = writer.writeLines(
      batcher.linesBody(),
      batcher.writeAt,
      batcher.linesLimit,
      buf,
      first,
      Math.min(count, batcher.linesRoom),
      offset,
    );
    if (n > 0) {
      from.linesRead += n;
      // Covered up to the start of the first line not taken, or past the last line's ending.
      const next = offset + (n < count ? writer.lineTable[2 * (first + n)]! : end);
      batcher.commitLines(writer.linesEnd, n, from.ack, next);
    }
    return n;
  }

  readPause(): Promise<void> | null {
    // Full dead-letter files: refused records wait behind the checkpoint, and reading waits for room.
    return this.deadLetter.whenRoom() ?? this.batcher.readPause();
  }

  /** LOGFERRY_RATE_LIMIT (lossless): true when `t` waits; `resume` is called when it may be read again. */
  deferRead(t: Tailer, resume: () => void): boolean {
    return this.throttle?.defer(t, resume) ?? false;
  }

  /** How much of `t` to read next (less than a chunk only for a rate-limited file). */
  readBytes(t: Tailer, max: number): number {
    return this.throttle === null ? max : this.throttle.readBytes(t, max);
  }

  drained(): boolean {
    return this.batcher.idle && this.sender.pending === 0;
  }

  flush(): void {
    // Pending multiline records of finished files (or of all files, when stopping) go first.
    this.parse?.flush(this.stopping);
    this.filter?.flush();
    this.batcher.flush();
  }

  caughtUp(): void {
    this.batcher.caughtUp();
  }

  async start(): Promise<void> {
    await this.store.load();
    const initial = await this.discovery.start();
    await this.files.start(initial);
    this.started = true;
    this.log.info({ files: this.files.files.length }, 'logferry started');
  }

  /**
   * SIGTERM: stop discovering, read tracked files to their end, deliver within the deadline,
   * persist checkpoints. Undelivered lines stay behind the checkpoint for the next start.
   */
  async stop(timeoutMs: number): Promise<{ delivered: boolean }> {
    this.stopping = true;
    await this.discovery.close();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const work = (async () => {
      await this.files.drain();
      await this.batcher.settled();
      await this.sender.idle();
      return true;
    })();
    const delivered = await Promise.race([work, deadline]);
    clearTimeout(timer);
    this.batcher.stop();
    this.parse?.stop();
    this.deadLetter.release();
    this.filter?.stop();
    this.throttle?.stop();
    await this.files.stop();
    await this.sender.close();
    try {
      await this.files.checkpoint();
    } catch {
      // Logged by the file server; the previous checkpoint on disk is still valid.
    }
    await this.files.closeFiles();
    return { delivered };
  }

  /** Second signal: write what is acknowledged so far, synchronously, and let the process exit. */
  emergencyCheckpoint(): void {
    this.files.checkpointSync();
  }

  /**
   * Liveness: the read loop is not stuck. A collector that is down is not a reason to restart the agent
   * (reading pauses by design, and a restart would not help), so it does not count.
   */
  unhealthy(): string | null {
    // Reading waits for room in the dead-letter files by design (the status says so).
    if (this.deadLetter.full) return null;
    const stalled = this.files.stalledMs;
    return stalled > STUCK_AFTER_MS ? `files waiting to be read for ${Math.round(stalled / 1000)} s` : null;
  }

  fileStats(): FileStat[] {
    const filter = this.filter;
    const throttle = this.throttle;
    return this.files.files.map((t) => {
      const f: FileStat = {
        path: t.path,
        linesRead: t.linesRead,
        bytesRead: t.bytesRead,
        size: Math.max(t.size, t.readOffset),
        delivered: t.ack.committed,
      };
      if (filter !== null) f.dropped = filter.droppedFrom(t);
      if (throttle !== null) {
        const s = throttle.stats(t);
        f.rateLimited = s.waiting;
        f.rateLimitWaitSeconds = s.waitedSeconds;
      }
      return f;
    });
  }

  filterStats(): ReturnType<FilterStage['stats']> | null {
    return this.filter?.stats() ?? null;
  }

  sendStats(): SendStats {
    return { ...this.sender.stats, inFlight: this.sender.requestsInFlight };
  }

  bufferedBytes(): number {
    return this.budget.used;
  }

  async deliveryStats(): Promise<DeliveryStats> {
    return {
      heldTotal: this.sender.delivery.heldTotal,
      held: this.sender.delivery.held !== null,
      deadLetterBytes: await this.deadLetter.measure(),
      deadLetterFull: this.deadLetter.full,
    };
  }

  /** `GET /status`: whether delivery is held and why, and the dead-letter files. */
  async status(): Promise<AgentStatus> {
    const held = this.sender.delivery.held;
    const oldest = this.oldestUndeliveredAt();
    const dl = this.deadLetter;
    await dl.measure();
    return {
      delivery: held !== null ? 'held' : dl.full ? 'paused' : 'ok',
      held:
        held === null
          ? null
          : {
              cause: held.cause,
              since: new Date(held.since).toISOString(),
              lastAt: new Date(held.lastAt).toISOString(),
              status: held.status,
              reason: held.reason,
              explanation: heldExplanation(held.cause),
            },
      deadLetter: {
        file: dl.file,
        bytes: dl.bytes,
        maxBytes: dl.maxBytes,
        full: dl.full,
        fullSince: iso(dl.fullSince),
        recordsWritten: dl.records,
      },
      lastAcceptedAt: iso(this.sender.delivery.lastAcceptedAt),
      bufferedBytes: this.budget.used,
      requestsInFlight: this.sender.requestsInFlight,
      oldestUndeliveredAgeSeconds: oldest === null ? 0 : (Date.now() - oldest) / 1000,
    };
  }

  oldestUndeliveredAt(): number | null {
    let oldest = this.batcher.openSince;
    for (const t of this.files.files) {
      const at = t.ack.oldestOpenAt;
      if (at !== null && (oldest === null || at < oldest)) oldest = at;
    }
    return oldest;
  }

  parseErrors(): number {
    return this.parse?.parseErrors ?? 0;
  }

  batchesSealed(): Readonly<Record<string, number>> {
    return this.batcher.sealed;
  }

  filesRefused(): Readonly<Record<string, number>> {
    return this.trust.refusals.byReason;
  }

  fileLifecycle(): { waiting: number; lostWaiting: number; forgotten: number } {
    return {
      waiting: this.files.waitingFiles,
      lostWaiting: this.files.lostWaiting,
      forgotten: this.files.forgottenTotal,
    };
  }

  checkpointStats(): { writes: number; failures: number } {
    return { writes: this.store.writes, failures: this.store.failures };
  }

  ready(): boolean {
    return this.started && !this.stopping;
  }
}
