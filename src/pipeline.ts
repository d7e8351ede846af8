// Wires the stages: tailers → encoder → batcher → sender, acknowledgements back to the checkpoints.
import type { Logger } from 'pino';
import { Batcher } from './batch/batcher.js';
import { ByteBudget } from './batch/byte-budget.js';
import { CheckpointStore } from './checkpoint/checkpoint-store.js';
import type { Config } from './config/config.js';
import { Discovery } from './discover/discovery.js';
import { DeadLetterFile } from './send/dead-letter.js';
import { Sender } from './send/sender.js';
import { NdjsonEncoder } from './sinks/ndjson-encoder.js';
import { FileServer, type TailOutput } from './tail/file-server.js';
import type { Tailer } from './tail/tailer.js';
import type { FileStat, MetricsSource, SendStats } from './telemetry/metrics.js';
import { RateLimitedLog } from './telemetry/rate-limited-log.js';

export const VERSION = '0.1.0';

/** A stuck pipeline: files waiting to be read, room in the budget, and no read for this long. */
const STUCK_AFTER_MS = 60_000;

export class Pipeline implements TailOutput, MetricsSource {
  readonly budget: ByteBudget;
  readonly store: CheckpointStore;
  readonly sender: Sender;
  readonly batcher: Batcher;
  readonly files: FileServer;
  readonly discovery: Discovery;
  private readonly encoder: NdjsonEncoder;
  started = false;
  stopping = false;

  constructor(
    cfg: Config,
    private readonly log: Logger,
  ) {
    this.budget = new ByteBudget(cfg.bufferMaxBytes);
    this.store = new CheckpointStore(cfg.stateDir, log);
    this.encoder = new NdjsonEncoder(cfg.labels);
    const noisy = new RateLimitedLog(log);
    this.sender = new Sender(
      {
        endpoint: cfg.endpoint,
        maxInFlight: cfg.maxInFlight,
        requestTimeoutMs: cfg.requestTimeoutMs,
        userAgent: `logferry/${VERSION}`,
        initialMs: cfg.retryInitialMs,
        maxMs: cfg.retryMaxMs,
        retryAfterMaxMs: cfg.retryAfterMaxMs,
      },
      this.budget,
      new DeadLetterFile(cfg.stateDir, cfg.deadLetterMaxBytes),
      log,
      noisy,
    );
    this.batcher = new Batcher(
      {
        maxBytes: cfg.batchMaxBytes,
        maxRecords: cfg.batchMaxRecords,
        flushIntervalMs: cfg.flushIntervalMs,
        compression: cfg.compression,
      },
      this.budget,
      this.sender,
    );
    this.files = new FileServer(cfg, this.store, this.budget, this, log);
    this.discovery = new Discovery(
      { paths: cfg.paths, exclude: cfg.exclude, rescanIntervalMs: cfg.rescanIntervalMs },
      (p) => this.files.pathChanged(p),
      log,
    );
  }

  line(from: Tailer, text: string, rawBytes: number, offset: number, next: number, cut: boolean): void {
    const record = this.encoder.encode(from, text, offset, from.timestamp, cut);
    // UTF-8 size of the record: its characters plus the extra bytes of multi-byte characters.
    const extra = rawBytes - text.length;
    this.batcher.add(record, extra > 0 ? record.length + extra : record.length, from.ack, next);
    from.linesRead++;
  }

  flush(): void {
    this.batcher.flush();
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
    this.store.flushSync();
  }

  /**
   * Liveness: the read loop is not stuck. A collector that is down is not a reason to restart the agent
   * (reading pauses by design, and a restart would not help), so it does not count.
   */
  unhealthy(): string | null {
    const stalled = this.files.stalledMs;
    return stalled > STUCK_AFTER_MS ? `files waiting to be read for ${Math.round(stalled / 1000)} s` : null;
  }

  fileStats(): FileStat[] {
    return this.files.files.map((t) => ({
      path: t.path,
      linesRead: t.linesRead,
      bytesRead: t.bytesRead,
      size: Math.max(t.size, t.readOffset),
      delivered: t.ack.committed,
    }));
  }

  sendStats(): SendStats {
    return { ...this.sender.stats, inFlight: this.sender.requestsInFlight };
  }

  bufferedBytes(): number {
    return this.budget.used;
  }

  oldestUndeliveredAt(): number | null {
    let oldest = this.batcher.openSince;
    for (const t of this.files.files) {
      const at = t.ack.oldestOpenAt;
      if (at !== null && (oldest === null || at < oldest)) oldest = at;
    }
    return oldest;
  }

  checkpointStats(): { writes: number; failures: number } {
    return { writes: this.store.writes, failures: this.store.failures };
  }

  ready(): boolean {
    return this.started && !this.stopping;
  }
}
