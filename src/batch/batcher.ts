// Records → batches sealed by bytes, records or age; hands sealed batches to the sender.
import type { AckTracker } from '../checkpoint/ack-tracker.js';
import type { LogRecord, Sink } from '../sinks/sink.js';
import type { Batch } from './batch.js';
import type { BodyPool } from './body-pool.js';
import type { ByteBudget } from './byte-budget.js';
import { GzipCompressor } from './gzip-compressor.js';

/**
 * Bodies compressed at once (each on a thread of libuv's pool): two streams were slower than three, and four
 * held more malloc heap than three (figures: docs/performance.md).
 */
export const GZIP_STREAMS = 3;
/** Sealed bodies waiting for or in compression past which reading waits: one for each stream, one ready. */
const COMPRESS_QUEUE = GZIP_STREAMS + 1;

export interface BatchConsumer {
  send(batch: Batch): void;
}

export interface BatcherOptions {
  maxBytes: number;
  maxRecords: number;
  flushIntervalMs: number;
  compression: 'gzip' | 'none';
  /** The protocol: encodes each record as it comes (`line`) or the batch's records at seal. */
  sink: Pick<Sink, 'encode' | 'line'>;
  /** Bodies reused across batches (of bodyBytes(maxBytes)); given back here after compression. */
  bodies?: BodyPool | null;
}

/** Room past LOGFERRY_BATCH_MAX_BYTES in a body buffer, so the record that fills a batch fits. */
const BODY_HEADROOM = 64 * 1024;

/** Why a batch was sealed (counted per reason, for the metrics). */
export type SealReason = 'full' | 'age' | 'caught_up' | 'flush';

/** The size of a body buffer for batches of at most `maxBytes`. */
export function bodyBytes(maxBytes: number): number {
  return maxBytes + BODY_HEADROOM;
}

export class Batcher {
  /**
   * The body of a line protocol, written record by record as they come (no per-record strings kept, no
   * join at seal). Sized for a full batch plus headroom; grown only for a record larger than that.
   */
  private body: Buffer | null = null;
  private pos = 0;
  private items: LogRecord[] = [];
  private bytes = 0;
  private records = 0;
  private firstAt = 0;
  private readonly ends = new Map<AckTracker, number>();
  private timer: NodeJS.Timeout | null = null;
  private sealing = 0;
  private readonly sealWaiters: (() => void)[] = [];
  /** Waiting for fewer sealed bodies to compress (see `readPause`). */
  private readonly pauseWaiters: (() => void)[] = [];
  private readonly gzip: GzipCompressor | null;
  /** The open batch has seen the reader catch up (with records in it): lines come live, not from a backlog. */
  private idleInBatch = false;
  /** The last batch was sealed full without the reader catching up while it filled: a backlog (`caughtUp`). */
  private lastFullUnbroken = false;
  /** Batches sealed, per reason. */
  readonly sealed: Record<SealReason, number> = { full: 0, age: 0, caught_up: 0, flush: 0 };

  constructor(
    private readonly opts: BatcherOptions,
    private readonly budget: ByteBudget,
    private readonly consumer: BatchConsumer,
  ) {
    this.gzip =
      opts.compression === 'gzip' ? new GzipCompressor(GZIP_STREAMS, opts.bodies?.wires ?? null) : null;
  }

  /**
   * Add one record covering its file up to `next`. `held`: the memory it takes while kept (protocols that
   * keep their records until the batch is done); a line protocol's record counts at its encoded size.
   */
  add(record: LogRecord, held: number, tracker: AckTracker, next: number): void {
    const line = this.opts.sink.line;
    if (line === undefined) {
      this.admit(held);
      this.items.push(record);
      this.counted(held, tracker, next);
      return;
    }
    const encoded = line.call(this.opts.sink, record);
    const size = Buffer.byteLength(encoded);
    this.admit(size);
    const body = this.room(this.pos + size);
    this.pos += body.write(encoded, this.pos);
    this.counted(size, tracker, next);
  }

  /** Where records written into `linesBody` start. */
  get writeAt(): number {
    return this.pos;
  }

  /**
   * For many records written at once (bytes to bytes, see `commitLines`): the open body (a new one when
   * none is open). They go from `writeAt`, up to `linesLimit`, at most `linesRoom` of them.
   */
  linesBody(): Buffer {
    return this.body ?? this.room(1);
  }

  /** Where records written into `linesBody` must end so the batch stays within LOGFERRY_BATCH_MAX_BYTES. */
  get linesLimit(): number {
    return this.pos + this.opts.maxBytes - this.bytes;
  }

  /** How many records the open batch takes before it is full. */
  get linesRoom(): number {
    return this.opts.maxRecords - this.records;
  }

  /** `lines` records were written into `linesBody` from `writeAt` to `end`; they cover their file up to `next`. */
  commitLines(end: number, lines: number, tracker: AckTracker, next: number): void {
    this.admit(0);
    const size = end - this.pos;
    this.pos = end;
    this.counted(size, tracker, next, lines);
  }

  /**
   * A record that is not sent (filtered out) covers its file up to `next`: with the open batch when that
   * holds records of the file, else at once, committed after every segment of the file before it.
   */
  skip(tracker: AckTracker, next: number): void {
    if (this.ends.has(tracker)) this.ends.set(tracker, next);
    else tracker.done(tracker.open(next));
  }

  /** Before a record: seal a batch it would overfill; start the age timer of a new batch. */
  private admit(size: number): void {
    if (this.records > 0 && this.bytes + size > this.opts.maxBytes) this.seal('full');
    if (this.records === 0) {
      this.firstAt = Date.now();
      this.timer ??= setTimeout(() => this.onTimer(), this.opts.flushIntervalMs);
    }
  }

  private counted(size: number, tracker: AckTracker, next: number, records = 1): void {
    this.bytes += size;
    this.records += records;
    this.budget.take(size);
    this.ends.set(tracker, next);
    if (this.records >= this.opts.maxRecords || this.bytes >= this.opts.maxBytes) this.seal('full');
  }

  /** A body with room for `need` bytes in all (what is written included). */
  private room(need: number): Buffer {
    const cur = this.body;
    if (cur !== null && need <= cur.length) return cur;
    const pool = this.opts.bodies;
    const size = bodyBytes(this.opts.maxBytes);
    const grown = pool && need <= size ? pool.take() : Buffer.allocUnsafe(Math.max(need, size));
    if (cur !== null) {
      cur.copy(grown, 0, 0, this.pos);
      pool?.give(cur);
    }
    this.body = grown;
    return grown;
  }

  private onTimer(): void {
    this.timer = null;
    if (this.records === 0) return;
    const age = Date.now() - this.firstAt;
    if (age >= this.opts.flushIntervalMs) this.seal('age');
    else this.timer = setTimeout(() => this.onTimer(), this.opts.flushIntervalMs - age);
  }

  /** Seal the open batch now (shutdown, or a file rotated away). */
  flush(): void {
    if (this.records > 0) this.seal('flush');
  }

  /**
   * Every file has been read to its end. If the batch before the open one filled up without the reader
   * catching up once, a backlog was being read and has just ended: its last batch goes now rather than
   * after the flush interval, which would add that wait to every catch-up (figures: docs/performance.md).
   * Lines written live (a trickle, or a high rate the reader keeps up with) fill batches across such
   * moments, so they still wait for the interval or a full batch and go in few requests.
   */
  caughtUp(): void {
    if (this.records === 0) {
      // A backlog that ended on a batch boundary: the next line, however late, is not part of it.
      this.lastFullUnbroken = false;
      return;
    }
    if (this.lastFullUnbroken) this.seal('caught_up');
    else this.idleInBatch = true;
  }

  /**
   * Null, or (with gzip) a promise the reader waits on before reading more: resolved once fewer than
   * COMPRESS_QUEUE sealed bodies wait for or are in compression. The budget bounds the bytes held, but
   * the bodies that held them stay resident once written (the arena's are never given back), and a reader
   * faster than deflate (it is, by far: docs/performance.md, Catch-up) would write every one of them at the
   * start of a catch-up, before the compressed batches fill the budget on top.
   */
  readPause(): Promise<void> | null {
    if (this.gzip === null || this.sealing < COMPRESS_QUEUE) return null;
    return new Promise<void>((resolve) => this.pauseWaiters.push(resolve));
  }

  /** Resolves when every sealed batch has been handed to the consumer (compression is async). */
  async settled(): Promise<void> {
    if (this.sealing === 0) return;
    await new Promise<void>((resolve) => this.sealWaiters.push(resolve));
  }

  /** When the oldest record of the open batch was added, or null. */
  get openSince(): number | null {
    return this.records > 0 ? this.firstAt : null;
  }

  /** No record open and no batch being compressed. */
  get idle(): boolean {
    return this.records === 0 && this.sealing === 0;
  }

  get openRecords(): number {
    return this.records;
  }

  private seal(reason: SealReason): void {
    this.sealed[reason]++;
    this.lastFullUnbroken = reason === 'full' && !this.idleInBatch;
    this.idleInBatch = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const estimate = this.bytes;
    const items = this.opts.sink.line === undefined ? this.items : null;
    const { body, pooled } = items ? { body: this.opts.sink.encode(items), pooled: null } : this.takeBody();
    // Records of whole-batch protocols stay in memory with their batch (partial retries, splits, dead-letter).
    const itemBytes = items ? estimate : 0;
    const segments = [...this.ends].map(([tracker, end]) => ({
      tracker,
      segment: tracker.open(end, this.firstAt),
    }));
    const batch: Batch = {
      body,
      wire: body,
      compressed: false,
      records: this.records,
      charged: body.length + itemBytes,
      segments,
      firstAt: this.firstAt,
      parent: null,
      openParts: 0,
      items,
      itemBytes,
      pooled,
      wirePooled: null,
    };
    this.budget.take(body.length);
    if (items === null) this.budget.release(estimate);
    else this.items = [];
    this.bytes = 0;
    this.records = 0;
    this.ends.clear();
    if (this.gzip === null) {
      this.consumer.send(batch);
      return;
    }
    // Compression runs on libuv's thread pool, off the main thread; batches stay in order.
    this.sealing++;
    const ready = this.gzip.compress(body).then(
      ({ wire, pooled }) => {
        batch.wire = wire;
        batch.compressed = true;
        batch.body = null;
        this.opts.bodies?.release(batch);
        batch.wirePooled = pooled;
        // A pooled buffer is held whole until the batch is done: charged whole.
        const held = pooled === null ? wire.length : pooled.length;
        this.budget.take(held);
        this.budget.release(batch.charged - batch.itemBytes);
        batch.charged = held + batch.itemBytes;
        return batch;
      },
      // Compression failed (out of memory, say): the batch goes uncompressed rather than never.
      () => batch,
    );
    this.chain = this.chain.then(() =>
      ready.then((b) => {
        this.consumer.send(b);
        if (--this.sealing < COMPRESS_QUEUE) for (const w of this.pauseWaiters.splice(0)) w();
        if (this.sealing === 0) for (const w of this.sealWaiters.splice(0)) w();
      }),
    );
  }

  /**
   * The written body: handed over when mostly full (with the whole buffer under it, `pooled`, for the pool
   * once the batch no longer needs it), else copied so a small batch holds little memory.
   */
  private takeBody(): { body: Buffer; pooled: Buffer | null } {
    const buf = this.body!;
    const n = this.pos;
    this.pos = 0;
    if (n * 2 >= buf.length) {
      this.body = null;
      return { body: buf.subarray(0, n), pooled: buf };
    }
    return { body: Buffer.from(buf.subarray(0, n)), pooled: null };
  }

  private chain: Promise<void> = Promise.resolve();

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
