// Batches → HTTP requests through an undici keep-alive pool: a few in flight, retries, 413 split, dead-letter.
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import type { Batch } from '../batch/batch.js';
import { GZIP_LEVEL } from '../batch/batcher.js';
import type { ByteBudget } from '../batch/byte-budget.js';
import type { RateLimitedLog } from '../telemetry/rate-limited-log.js';
import type { DeadLetterFile } from './dead-letter.js';
import { decide, type Outcome, type RetryOptions } from './retry-policy.js';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

/** Most of an error response body kept for the log and the dead-letter file. */
const REASON_MAX_CHARS = 1024;

export interface SenderOptions extends RetryOptions {
  endpoint: URL;
  maxInFlight: number;
  requestTimeoutMs: number;
  userAgent: string;
}

export interface SenderStats {
  requests: Map<string, number>;
  recordsSent: number;
  bytesSent: number;
  retries: number;
  deadLettered: number;
}

export class Sender {
  private readonly queue: Batch[] = [];
  private inFlight = 0;
  private readonly pool: Pool;
  private readonly path: string;
  private stopping: AbortController = new AbortController();
  private idleWaiters: (() => void)[] = [];
  readonly stats: SenderStats = {
    requests: new Map(),
    recordsSent: 0,
    bytesSent: 0,
    retries: 0,
    deadLettered: 0,
  };
  /** Time of the last request that got any answer; for the health check. */
  lastAnswerAt = Date.now();

  constructor(
    private readonly opts: SenderOptions,
    private readonly budget: ByteBudget,
    private readonly deadLetter: DeadLetterFile,
    private readonly log: Logger,
    private readonly noisy: RateLimitedLog,
  ) {
    this.pool = new Pool(opts.endpoint.origin, {
      connections: opts.maxInFlight,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
      connect: { timeout: Math.min(opts.requestTimeoutMs, 10_000) },
    });
    this.path = opts.endpoint.pathname + opts.endpoint.search;
  }

  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  send(batch: Batch): void {
    this.queue.push(batch);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.shift()!;
      this.inFlight++;
      this.deliver(batch)
        .catch((err) =>
          this.log.error({ err, code: 'LOGFERRY_SEND_INTERNAL' }, 'batch delivery failed unexpectedly'),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.pending === 0) {
            const ws = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of ws) w();
          }
        });
    }
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Abort requests and retry waits; undelivered batches stay behind the checkpoint. */
  async close(): Promise<void> {
    this.stopping.abort();
    this.queue.length = 0;
    await this.pool.destroy().catch(() => {});
  }

  private async deliver(batch: Batch): Promise<void> {
    const signal = this.stopping.signal;
    for (let attempt = 0; !signal.aborted; attempt++) {
      const { outcome, retryAfter, reason } = await this.post(batch);
      const verdict = decide(outcome, retryAfter, attempt, batch.records, this.opts);
      const label = 'status' in outcome ? String(outcome.status) : outcome.error;
      this.stats.requests.set(label, (this.stats.requests.get(label) ?? 0) + 1);
      switch (verdict.kind) {
        case 'ok':
          this.stats.recordsSent += batch.records;
          this.stats.bytesSent += batch.wire.length;
          this.noisy.clear('send-retry', 'collector accepts requests again');
          this.finish(batch);
          return;
        case 'retry':
          this.stats.retries++;
          this.noisy.warn(
            'send-retry',
            {
              code: 'LOGFERRY_SEND_RETRY',
              reason: verdict.reason,
              detail: reason,
              retryInMs: verdict.afterMs,
              attempt,
            },
            'collector did not accept a batch; retrying (lines wait in their files, nothing is lost)',
          );
          try {
            await delay(verdict.afterMs, undefined, { signal });
          } catch {
            return;
          }
          break;
        case 'split':
          await this.split(batch);
          return;
        case 'reject': {
          const status = 'status' in outcome ? outcome.status : 0;
          const body = await this.plainBody(batch);
          const n = await this.deadLetter.write(
            body,
            status,
            reason ? `${verdict.reason}: ${reason}` : verdict.reason,
          );
          this.stats.deadLettered += n;
          this.log.error(
            {
              code: 'LOGFERRY_DEAD_LETTER',
              status,
              reason: reason || verdict.reason,
              records: n,
              file: this.deadLetter.file,
            },
            'collector refused a batch for good; its records were written to the dead-letter file',
          );
          this.finish(batch);
          return;
        }
      }
    }
  }

  private async post(batch: Batch): Promise<{ outcome: Outcome; retryAfter?: string; reason?: string }> {
    const headers: Record<string, string> = {
      'content-type': 'application/x-ndjson',
      'user-agent': this.opts.userAgent,
    };
    if (batch.compressed) headers['content-encoding'] = 'gzip';
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.opts.requestTimeoutMs)]);
    try {
      const res = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers,
        body: batch.wire,
        signal,
      });
      this.lastAnswerAt = Date.now();
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const reason = ok ? '' : await readReason(res.body);
      if (ok) await res.body.dump();
      const ra = res.headers['retry-after'];
      return { outcome: { status: res.statusCode }, retryAfter: Array.isArray(ra) ? ra[0] : ra, reason };
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      const name = (err as Error).name;
      const timeout =
        code === 'UND_ERR_HEADERS_TIMEOUT' ||
        code === 'UND_ERR_BODY_TIMEOUT' ||
        name === 'TimeoutError' ||
        code === 'UND_ERR_CONNECT_TIMEOUT';
      return {
        outcome: { error: timeout ? 'timeout' : 'network' },
        reason: `${code || name}: ${(err as Error).message}`,
      };
    }
  }

  /** 413: send each half as its own request; the batch is done when both are. */
  private async split(batch: Batch): Promise<void> {
    const body = await this.plainBody(batch);
    const lines: number[] = [];
    for (let i = body.indexOf(0x0a); i !== -1; i = body.indexOf(0x0a, i + 1)) lines.push(i + 1);
    const mid = lines[Math.floor(lines.length / 2) - 1]!;
    batch.openParts = 2;
    this.log.info({ records: batch.records }, 'collector answered 413; splitting the batch in two');
    const halves = [body.subarray(0, mid), body.subarray(mid)];
    const counts = [Math.floor(lines.length / 2), lines.length - Math.floor(lines.length / 2)];
    for (let i = 0; i < 2; i++) {
      const plain = Buffer.from(halves[i]!);
      const wire = batch.compressed ? await gzip(plain, { level: GZIP_LEVEL }) : plain;
      this.budget.take(wire.length);
      this.queue.unshift({
        body: batch.compressed ? null : plain,
        wire,
        compressed: batch.compressed,
        records: counts[i]!,
        charged: wire.length,
        segments: [],
        firstAt: batch.firstAt,
        parent: batch,
        openParts: 0,
      });
    }
  }

  private async plainBody(batch: Batch): Promise<Buffer> {
    return batch.body ?? (await gunzip(batch.wire));
  }

  /** Acknowledge: free the budget, and once every part is done move the files' checkpoints. */
  private finish(batch: Batch): void {
    this.budget.release(batch.charged);
    batch.charged = 0;
    const parent = batch.parent;
    if (parent !== null) {
      if (--parent.openParts === 0) this.finish(parent);
      return;
    }
    for (const { tracker, segment } of batch.segments) tracker.done(segment);
  }
}

async function readReason(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += chunk.toString('utf8');
      if (text.length >= REASON_MAX_CHARS) {
        body.destroy();
        break;
      }
    }
  } catch {
    // The reason is best effort; the status decides.
  }
  return text.slice(0, REASON_MAX_CHARS).trim();
}
