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
import { RateLimitedLog } from './telemetry/rate-limited-log.js';

export const VERSION = '0.1.0';

/** A stuck pipeline: batches waiting and no answer from the collector for this long. */
const STUCK_AFTER_MS = 10 * 60_000;

export class Pipeline implements TailOutput {
  readonly budget: ByteBudget;
  readonly store: CheckpointStore;
  readonly sender: Sender;
  readonly batcher: Batcher;
  readonly files: FileServer;
  readonly discovery: Discovery;
  private readonly encoder: NdjsonEncoder;
  linesRead = 0;
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
    this.linesRead++;
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

  unhealthy(): string | null {
    if (this.sender.pending > 0 && Date.now() - this.sender.lastAnswerAt > STUCK_AFTER_MS) {
      return 'no answer from the collector for 10 minutes while batches wait';
    }
    return null;
  }

  ready(): boolean {
    return this.started && !this.stopping;
  }
}
