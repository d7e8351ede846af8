// A batch: encoded records, the file segments they cover, and the bytes they hold in the budget.
import type { AckTracker, Segment } from '../checkpoint/ack-tracker.js';
import type { LogRecord } from '../sinks/sink.js';

export interface SegmentRef {
  tracker: AckTracker;
  segment: Segment;
}

export interface Batch {
  /** Uncompressed NDJSON body; null while compressed-only (kept small in memory). */
  body: Buffer | null;
  /** What goes on the wire (compressed or the body itself). */
  wire: Buffer;
  compressed: boolean;
  records: number;
  /** Bytes this batch holds in the budget until it is done. */
  charged: number;
  segments: SegmentRef[];
  /** When the oldest record entered the batch. */
  firstAt: number;
  /** For parts of a split batch: the batch they came from. */
  parent: Batch | null;
  /** Parts not yet done (split batches). */
  openParts: number;
  /** The records, for sinks that encode whole batches (null for ndjson: the body is the records). */
  items: LogRecord[] | null;
  /** Bytes of `items` held in the budget (part of `charged`; 0 when the parent holds them). */
  itemBytes: number;
  /** The pooled buffer under `body`, given back to the BodyPool once nothing reads it (else null). */
  pooled: Buffer | null;
  /** The pooled buffer under a compressed `wire`, given back to the BodyPool's `wires` once sent (else null). */
  wirePooled: Buffer | null;
}
