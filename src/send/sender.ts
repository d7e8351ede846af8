// Batches → HTTP requests over keep-alive connections: a few in flight, retries, 413 split, dead-letter.
//
// The sink (protocol) builds the body, adds its headers and reads the answers; the base retry policy is
// `decide`, which a sink may refine with its protocol's own signals (per-item results, partial success,
// indexer acknowledgement).
import { setTimeout as delay } from 'node:timers/promises';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Batch } from '../batch/batch.js';
import type { BodyPool } from '../batch/body-pool.js';
import type { ByteBudget } from '../batch/byte-budget.js';
import { NdjsonSink } from '../sinks/ndjson.js';
import type { Sink, SinkVerdict } from '../sinks/sink.js';
import type { RateLimitedLog } from '../telemetry/rate-limited-log.js';
import type { Credentials } from './auth.js';
import { plainBody, splitBatch, subBatch } from './batch-split.js';
import {
  type Answer,
  ackQueryOf,
  type CollectorTarget,
  postBody,
  SUCCESS_BODY_MAX_BYTES,
} from './collector-request.js';
import { type DeadLetterFile, deadLetterWrite, groupRefused } from './dead-letter.js';
import { DeliveryState } from './delivery-state.js';
import { HttpPool, poolOptions } from './http-pool.js';
import { RefusalJudge } from './refusal-judge.js';
import { backoff, decide, type RetryOptions } from './retry-policy.js';
import { type AckQuery, awaitAck } from './splunk-ack.js';

export interface SenderOptions extends RetryOptions {
  endpoint: URL;
  maxInFlight: number;
  requestTimeoutMs: number;
  userAgent: string;
  /** The protocol: request path, content type, headers, and how to read the answers. */
  sink: Sink;
  credentials?: Credentials | null;
  tls?: ConnectionOptions;
  /** Static labels, for records written to the dead-letter file by whole-batch sinks. */
  labels?: Record<string, string>;
  /** Where the bodies of finished batches go back to (see Batch.pooled). */
  bodies?: BodyPool;
}

export interface SenderStats {
  requests: Map<string, number>;
  recordsSent: number;
  bytesSent: number;
  retries: number;
  deadLettered: number;
  /** Records the collector already had (Elasticsearch 409 on `create`): delivered before. */
  duplicates: number;
  /** Records the collector said it dropped for good (OTLP partial success, Loki out-of-order/too old). */
  droppedByCollector: number;
  /** 2xx answers too large to read (SUCCESS_BODY_MAX_BYTES). */
  unreadableAnswers: number;
}

export class Sender {
  private readonly queue: Batch[] = [];
  private inFlight = 0;
  private readonly pool: HttpPool;
  private readonly stopping = new AbortController();
  private idleWaiters: (() => void)[] = [];
  readonly stats: SenderStats = {
    requests: new Map(),
    recordsSent: 0,
    bytesSent: 0,
    retries: 0,
    deadLettered: 0,
    duplicates: 0,
    droppedByCollector: 0,
    unreadableAnswers: 0,
  };
  /** Why delivery is held, if it is (status, metrics). */
  readonly delivery = new DeliveryState();
  private readonly judge = new RefusalJudge();
  /** Batches waiting out a hold off the send slots (see `park`), and their timers. */
  private parked = 0;
  private readonly parkTimers = new Set<NodeJS.Timeout>();
  /** Per parked batch: the attempt it resumes at. */
  private readonly heldBefore = new WeakMap<Batch, number>();
  /** Per family (the batch parts were split from): `judge.mark()` when it was first refused for content. */
  private readonly familyMarks = new WeakMap<Batch, number>();
  /** Per batch: the number of the first request that carried it (see RefusalJudge.refusedSingle). */
  private readonly firstSends = new WeakMap<Batch, number>();
  /** A distinct id per lone record's batch, for the judge's "different records" count. */
  private readonly singleIds = new WeakMap<Batch, string>();
  private nextSingleId = 0;
  private readonly sink: Sink;
  /** Records of whole-batch protocols are written to the dead-letter file in the ndjson format. */
  private readonly deadLetterFormat: NdjsonSink;

  constructor(
    private readonly opts: SenderOptions,
    private readonly budget: ByteBudget,
    private readonly deadLetter: DeadLetterFile,
    private readonly log: Logger,
    private readonly noisy: RateLimitedLog,
  ) {
    this.pool = new HttpPool(
      opts.endpoint.origin,
      poolOptions(opts.maxInFlight, opts.requestTimeoutMs, opts.tls),
    );
    this.sink = opts.sink;
    this.target = {
      pool: this.pool,
      sink: this.sink,
      requestTimeoutMs: opts.requestTimeoutMs,
      userAgent: opts.userAgent,
      credentials: opts.credentials,
    };
    this.ackQuery = ackQueryOf(this.target, this.stopping.signal);
    this.deadLetterFormat =
      this.sink instanceof NdjsonSink ? this.sink : new NdjsonSink(opts.endpoint, opts.labels ?? {});
  }

  get pending(): number {
    return this.queue.length + this.inFlight + this.parked;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  send(batch: Batch): void {
    this.queue.push(batch);
    this.pump();
  }

  private pump(): void {
    const max = Math.min(this.opts.maxInFlight, this.sink.maxInFlight ?? Number.POSITIVE_INFINITY);
    while (this.inFlight < max && this.queue.length > 0) {
      const batch = this.queue.shift()!;
      this.inFlight++;
      this.deliver(batch)
        .catch((err) => {
          // Stopping aborts waits; the batch stays behind the checkpoint for the next start.
          if (!this.stopping.signal.aborted) {
            this.log.error({ err, code: 'LOGFERRY_SEND_INTERNAL' }, 'batch delivery failed unexpectedly');
          }
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.pending === 0) {
            const ws = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of ws) w();
            // finish() released the budget while this batch still counted as pending: a read loop woken
            // then saw the sender busy and waits again. Nothing is pending now; let it look again.
            this.budget.wakeAll();
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
    for (const t of this.parkTimers) clearTimeout(t);
    this.parkTimers.clear();
    this.parked = 0;
    await this.pool.destroy().catch(() => {});
  }

  private async deliver(batch: Batch): Promise<void> {
    const signal = this.stopping.signal;
    let current = batch;
    const before = this.heldBefore.get(batch);
    this.heldBefore.delete(batch);
    for (let attempt = before ?? 0; !signal.aborted; attempt++) {
      const request = this.judge.sent();
      if (!this.firstSends.has(current)) this.firstSends.set(current, request);
      const res = await this.post(current);
      const { outcome, retryAfter, reason } = res;
      let verdict: SinkVerdict = decide(outcome, retryAfter, attempt, current.records, this.opts);
      const status = 'status' in outcome ? outcome.status : 0;
      if (this.sink.judge && status > 0 && verdict.kind !== 'ok')
        verdict = this.sink.judge(status, reason ?? '', verdict);
      // A refused credential that was just rotated in its file: try again with the new one at once.
      if (
        (status === 401 || status === 403) &&
        verdict.kind === 'hold' &&
        this.opts.credentials &&
        (await this.opts.credentials.refresh(true))
      ) {
        verdict = {
          kind: 'retry',
          afterMs: backoff(0, this.opts),
          reason: `HTTP ${status}, credentials changed`,
        };
      }
      const label = 'status' in outcome ? String(outcome.status) : outcome.error;
      this.stats.requests.set(label, (this.stats.requests.get(label) ?? 0) + 1);
      switch (verdict.kind) {
        case 'ok': {
          const next = await this.afterSuccess(current, res, attempt, request);
          if (next === 'done') {
            this.noisy.clear('send-retry', 'collector accepts requests again');
            this.noisy.clear('send-held', 'collector accepts requests again; delivery is no longer held');
            return;
          }
          if (next === 'aborted') return;
          if ('refused' in next) {
            await this.isolate(current, status, next.refused, next.refused, attempt, before !== undefined);
            return;
          }
          current = next;
          break;
        }
        case 'dropped':
          // Loki stored the other entries of the request: the collector takes records.
          this.judge.accepted(request);
          this.delivery.accepted();
          this.stats.recordsSent += current.records;
          this.stats.bytesSent += current.wire.length;
          this.stats.droppedByCollector += current.records;
          // We cannot tell which entries were refused: the whole batch goes to the dead-letter file
          // (entries the collector did store appear there too), so nothing passes the checkpoint unseen.
          await this.reject(current, null, status, reason ? `${verdict.reason}: ${reason}` : verdict.reason);
          this.noisy.warn(
            'collector-dropped',
            { code: 'LOGFERRY_COLLECTOR_DROPPED', status, reason: verdict.reason, records: current.records },
            'collector stored a batch except entries it refuses for good; the batch was dead-lettered, not retried',
          );
          this.finish(current);
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
        case 'hold': {
          // A protocol's hold (a sink's `judge`) does not know the attempt: the backoff still grows.
          const afterMs = Math.max(verdict.afterMs, backoff(attempt, this.opts));
          this.stats.retries++;
          this.held('request', status, reason || verdict.reason, afterMs, attempt);
          try {
            await delay(afterMs, undefined, { signal });
          } catch {
            return;
          }
          break;
        }
        case 'split':
          // The parts are sent after this refusal: their acceptance tells a lone refused record is poison.
          this.familyMark(current, true);
          await splitBatch(current, this.sink, this.budget, this.log, (...parts) =>
            this.queue.unshift(...parts),
          );
          return;
        case 'isolate':
          await this.isolate(
            current,
            status,
            reason || verdict.reason,
            reason ? `${verdict.reason}: ${reason}` : verdict.reason,
            attempt,
            before !== undefined,
          );
          return;
      }
    }
  }

  /**
   * Records refused for what they may hold: split until they stand alone; a lone one is dead-lettered on
   * evidence that the collector takes others (refusal-judge.ts), else it waits and is sent again.
   */
  private async isolate(
    current: Batch,
    status: number,
    why: string,
    deadReason: string,
    attempt: number,
    parkedBefore: boolean,
  ): Promise<void> {
    const mark = this.familyMark(current, true);
    if (current.records > 1) {
      if (this.judge.refusedBatch(status, why) === 'hold') {
        this.held('refusals', status, why, backoff(attempt, this.opts), attempt);
        this.park(current, attempt);
        return;
      }
      await splitBatch(current, this.sink, this.budget, this.log, (...parts) => this.queue.unshift(...parts));
      return;
    }
    const verdict = this.judge.refusedSingle(
      status,
      why,
      this.singleId(current),
      mark,
      this.firstSends.get(current),
    );
    if (verdict === 'poison') {
      await this.deadLetterRefused(current, status, deadReason);
      return;
    }
    // No evidence yet that the collector takes other records: wait off the send slots, and send it again.
    // Refused again still without evidence, delivery is held (reported): the collector refuses all.
    if (parkedBefore) this.held('refusals', status, why, backoff(attempt, this.opts), attempt);
    this.park(current, attempt);
  }

  /** Count and report a refusal that holds delivery (rate-limited error log, status). */
  private held(
    cause: 'request' | 'refusals',
    status: number,
    reason: string,
    afterMs: number,
    attempt: number,
  ) {
    this.delivery.hold(cause, status, reason);
    this.noisy.error(
      'send-held',
      { code: 'LOGFERRY_DELIVERY_HELD', status, cause, reason, retryInMs: afterMs, attempt },
      cause === 'request'
        ? 'collector refuses the requests (not their records); delivery is held and retried, nothing is dead-lettered'
        : 'collector refuses every record sent for the same reason; delivery is held and retried, nothing is dead-lettered',
    );
  }

  /** Wait out a hold without taking a send slot (other batches may show that the collector takes records). */
  private park(batch: Batch, attempt: number): void {
    this.heldBefore.set(batch, attempt + 1);
    this.parked++;
    const t = setTimeout(
      () => {
        this.parkTimers.delete(t);
        this.parked--;
        this.queue.unshift(batch);
        this.pump();
      },
      backoff(attempt, this.opts),
    );
    this.parkTimers.add(t);
  }

  /** `judge.mark()` of the batch's family (the batch it was split from), set at its first content refusal. */
  private familyMark(batch: Batch, set = false): number {
    let root = batch;
    while (root.parent !== null) root = root.parent;
    let mark = this.familyMarks.get(root);
    if (mark === undefined) {
      mark = this.judge.mark();
      if (set) this.familyMarks.set(root, mark);
    }
    return mark;
  }

  private singleId(batch: Batch): string {
    let id = this.singleIds.get(batch);
    if (id === undefined) {
      id = `batch ${++this.nextSingleId}`; // apart from the record ids of per-item answers
      this.singleIds.set(batch, id);
    }
    return id;
  }

  /** A lone record refused for its content, with evidence that the collector takes others: dead-letter it. */
  private async deadLetterRefused(batch: Batch, status: number, reason: string): Promise<void> {
    const n = await this.reject(batch, null, status, reason);
    this.log.error(
      { code: 'LOGFERRY_DEAD_LETTER', status, reason, records: n, file: this.deadLetter.file },
      'collector refused a record for good (it takes the others); it was written to the dead-letter file',
    );
    this.finish(batch);
  }

  /**
   * A 2xx: read what the protocol says about the records. Returns 'done' when the batch is finished,
   * or the sub-batch to send next (records to retry, or the same batch when an acknowledgement timed out).
   */
  private async afterSuccess(
    batch: Batch,
    res: Answer,
    attempt: number,
    request: number,
  ): Promise<Batch | 'done' | 'aborted' | { refused: string }> {
    if (res.truncated) {
      this.stats.unreadableAnswers++;
      this.noisy.warn(
        'answer-too-large',
        { code: 'LOGFERRY_ANSWER_TOO_LARGE', maxBytes: SUCCESS_BODY_MAX_BYTES },
        'collector answered 2xx with a body too large to read; acting on what the protocol allows without it',
      );
    }
    const acc =
      this.sink.readsSuccessBody && this.sink.accepted && res.body
        ? this.sink.accepted(res.body, res.contentType, batch.records, res.truncated === true)
        : ({ kind: 'all' } as const);
    // Every record of the request rejected (OTLP partial success): a refusal, isolated like a 400.
    if (acc.kind === 'dropped' && acc.count >= batch.records) return { refused: acc.reason };
    if (acc.kind !== 'items') {
      this.judge.accepted(request);
      this.delivery.accepted();
    }
    switch (acc.kind) {
      case 'all':
        break;
      case 'dropped':
        this.stats.droppedByCollector += acc.count;
        // Which records were dropped is not said: the batch is dead-lettered whole, then finished.
        await this.reject(
          batch,
          null,
          'status' in res.outcome ? res.outcome.status : 200,
          `collector dropped ${acc.count} records: ${acc.reason}`,
        );
        this.noisy.warn(
          'collector-dropped',
          { code: 'LOGFERRY_COLLECTOR_DROPPED', records: acc.count, reason: acc.reason },
          'collector accepted a batch but dropped some of its records; the batch was dead-lettered, not retried',
        );
        break;
      case 'ack': {
        const acked = await awaitAck(this.sink.ack!, acc.ackId, this.ackQuery, this.stopping.signal);
        if (acked === 'aborted') return 'aborted';
        if (acked === 'timeout') {
          this.stats.retries++;
          this.noisy.warn(
            'ack-timeout',
            { code: 'LOGFERRY_ACK_TIMEOUT', ackId: acc.ackId, records: batch.records },
            'no indexer acknowledgement in time; sending the batch again (duplicates possible, no loss)',
          );
          return batch;
        }
        break;
      }
      case 'items': {
        const items = batch.items ?? [];
        let refused = acc.reject;
        const retryIndexes = [...acc.retry];
        const stored = batch.records - acc.retry.length - acc.reject.length;
        if (stored > 0) {
          // The same request stored other records: the refused ones are refused for what they hold.
          this.judge.accepted(request);
          this.delivery.accepted();
        } else if (refused.length > 0) {
          // Nothing of it stored: poison only on evidence that the collector takes other records.
          const mark = this.familyMark(batch, true);
          const held = refused.filter(
            (it) =>
              this.judge.refusedSingle(
                it.status,
                it.reason,
                items[it.index]?.id ?? String(it.index),
                mark,
                this.firstSends.get(batch),
              ) === 'hold',
          );
          if (held.length > 0) {
            refused = refused.filter((it) => !held.includes(it));
            for (const it of held) retryIndexes.push(it.index);
            retryIndexes.sort((a, b) => a - b);
            this.held('refusals', held[0]!.status, held[0]!.reason, backoff(attempt, this.opts), attempt);
          }
        }
        if (acc.heldStatus !== undefined)
          this.held('request', acc.heldStatus, acc.retryReason, backoff(attempt, this.opts), attempt);
        const retry = retryIndexes.map((i) => items[i]!).filter(Boolean);
        const delivered = batch.records - retry.length - refused.length;
        this.stats.recordsSent += delivered;
        this.stats.duplicates += acc.duplicates;
        if (refused.length > 0) {
          const n = await this.reject(batch, refused, 0, '');
          this.log.error(
            {
              code: 'LOGFERRY_DEAD_LETTER',
              records: n,
              reason: refused[0]!.reason,
              file: this.deadLetter.file,
            },
            'collector refused records of a batch for good; they were written to the dead-letter file',
          );
        }
        if (retry.length === 0) {
          this.finish(batch);
          return 'done';
        }
        // The batch is done when the records still to retry are: a sub-batch of them, with this one as parent.
        const sub = await subBatch(batch, retry, this.sink, this.budget);
        batch.openParts = 1;
        this.stats.retries++;
        const afterMs = backoff(attempt, this.opts);
        this.noisy.warn(
          'send-retry',
          {
            code: 'LOGFERRY_SEND_RETRY',
            reason: `${retry.length} of ${batch.records} records not stored`,
            detail: acc.retryReason || refused[0]?.reason,
            retryInMs: afterMs,
            attempt,
          },
          'collector did not store some records of a batch; retrying them alone',
        );
        try {
          await delay(afterMs, undefined, { signal: this.stopping.signal });
        } catch {
          return 'aborted';
        }
        return sub;
      }
    }
    this.stats.recordsSent += batch.records;
    this.stats.bytesSent += batch.wire.length;
    this.finish(batch);
    return 'done';
  }

  /** One indexer-acknowledgement query, with this sender's credentials and protocol headers. */
  private readonly target: CollectorTarget;
  private readonly ackQuery: AckQuery;

  /** Dead-letter a batch (indexes null) or some of its records; returns the number written. */
  private async reject(
    batch: Batch,
    indexes: { index: number; status: number; reason: string }[] | null,
    status: number,
    reason: string,
  ): Promise<number> {
    const write = (body: Buffer, s: number, r: string) =>
      deadLetterWrite(this.deadLetter, body, s, r, this.opts, this.noisy, this.stopping.signal);
    let n = 0;
    if (indexes === null) {
      const body = batch.items ? this.deadLetterFormat.encode(batch.items) : await plainBody(batch);
      n = await write(body, status, reason);
    } else {
      // One write per distinct (item status, reason).
      for (const g of groupRefused(batch.items, indexes))
        n += await write(this.deadLetterFormat.encode(g.records), g.status, g.reason);
    }
    this.stats.deadLettered += n;
    return n;
  }

  private async post(batch: Batch): Promise<Answer> {
    // Waits while a re-read secret file cannot be used (nothing is sent); rejects when stopping.
    await this.opts.credentials?.usable(this.stopping.signal);
    return postBody(this.target, batch.wire, batch.compressed, this.stopping.signal);
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
    // A collector that answers before reading the whole body (some proxies do, on errors) may leave its
    // unsent tail queued on the socket while the buffer is reused: only that already-answered request's
    // bytes could change, and the framing of the connection stays intact.
    this.opts.bodies?.release(batch);
    for (const { tracker, segment } of batch.segments) tracker.done(segment);
  }
}
