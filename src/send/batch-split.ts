// Child batches of a batch: the 413 split in two, and sub-batches of records to send again.
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { Logger } from 'pino';
import type { Batch } from '../batch/batch.js';
import type { ByteBudget } from '../batch/byte-budget.js';
import { GZIP_LEVEL } from '../batch/gzip-compressor.js';
import type { LogRecord, Sink } from '../sinks/sink.js';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

/** The batch's uncompressed body. */
export async function plainBody(batch: Batch): Promise<Buffer> {
  return batch.body ?? (await gunzip(batch.wire));
}

/** A part of `parent` with this body: compressed like it, charged to the budget; `parent` holds the records. */
async function childBatch(
  parent: Batch,
  plain: Buffer,
  records: number,
  items: LogRecord[] | null,
  budget: ByteBudget,
): Promise<Batch> {
  const wire = parent.compressed ? await gzip(plain, { level: GZIP_LEVEL }) : plain;
  budget.take(wire.length);
  return {
    body: parent.compressed ? null : plain,
    wire,
    compressed: parent.compressed,
    records,
    charged: wire.length,
    segments: [],
    firstAt: parent.firstAt,
    parent,
    openParts: 0,
    items,
    itemBytes: 0,
    pooled: null,
    wirePooled: null,
  };
}

/** A batch of some of `parent`'s records, encoded (and compressed) like it; `parent` holds the records. */
export function subBatch(
  parent: Batch,
  records: LogRecord[],
  sink: Sink,
  budget: ByteBudget,
): Promise<Batch> {
  return childBatch(parent, sink.encode(records), records.length, records, budget);
}

/**
 * 413: cut the batch in two halves, each its own request; the batch is done when both are.
 * `enqueue` puts parts at the front of the send queue.
 */
export async function splitBatch(
  batch: Batch,
  sink: Sink,
  budget: ByteBudget,
  log: Logger,
  enqueue: (...parts: Batch[]) => void,
): Promise<void> {
  if (batch.items) {
    const half = Math.floor(batch.items.length / 2);
    batch.openParts = 2;
    log.info({ records: batch.records }, 'collector answered 413; splitting the batch in two');
    const parts = [batch.items.slice(0, half), batch.items.slice(half)];
    enqueue(await subBatch(batch, parts[0]!, sink, budget), await subBatch(batch, parts[1]!, sink, budget));
    return;
  }
  const body = await plainBody(batch);
  const lines: number[] = [];
  for (let i = body.indexOf(0x0a); i !== -1; i = body.indexOf(0x0a, i + 1)) lines.push(i + 1);
  const mid = lines[Math.floor(lines.length / 2) - 1]!;
  batch.openParts = 2;
  log.info({ records: batch.records }, 'collector answered 413; splitting the batch in two');
  const halves = [body.subarray(0, mid), body.subarray(mid)];
  const counts = [Math.floor(lines.length / 2), lines.length - Math.floor(lines.length / 2)];
  for (let i = 0; i < 2; i++) {
    enqueue(await childBatch(batch, Buffer.from(halves[i]!), counts[i]!, null, budget));
  }
}
