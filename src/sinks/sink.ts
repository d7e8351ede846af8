// What every wire protocol implements: encode a whole batch of records, and read the collector's answer.
import type { Verdict } from '../send/retry-policy.js';

export const SINKS = ['ndjson', 'loki', 'elasticsearch', 'otlp', 'splunk'] as const;
export type SinkName = (typeof SINKS)[number];

/**
 * One record in a protocol-neutral form: what every sink encodes. (The raw path writes the `ndjson`
 * encoding of plain lines straight into request bodies without building these; see src/arena/.)
 */
export interface LogRecord {
  message: string;
  /** Path the line was read from. */
  file: string;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** Stable id: the same line re-sent after a retry or a restart has the same id. */
  id: string;
  /** Read time, RFC 3339 UTC (`Date.toISOString()`). */
  timestamp: string;
  /** A piece of a line longer than LOGFERRY_MAX_LINE_BYTES. */
  cut: boolean;
  /** Per-record labels (Kubernetes metadata, ...), added to the static LOGFERRY_LABELS. */
  labels?: Record<string, string>;
  /** Fields parsed from the line, when a parser is configured. */
  fields?: Record<string, unknown>;
  /** `fields` as JSON, when the line already was that JSON (an encoder may use it as is). */
  fieldsJson?: string;
  /** Severity, when known (parsed or detected). */
  level?: string;
  /** Container logs: `stdout` or `stderr`. */
  stream?: string;
  /** The line did not parse; `message` holds it as read. */
  parseError?: boolean;
}

/** The record's fields with `stream` and `parse_error`, for protocols that have no place of their own for them. */
export function fieldsOf(r: LogRecord): Record<string, unknown> | undefined {
  if (r.stream === undefined && !r.parseError) return r.fields;
  const fields: Record<string, unknown> = { ...r.fields };
  if (r.stream !== undefined) fields.stream = r.stream;
  if (r.parseError) fields.parse_error = true;
  return fields;
}

/** What a 2xx answer says about the records of the request. */
export type Acceptance =
  /** Every record is stored. */
  | { kind: 'all' }
  /** Per-record results (Elasticsearch `_bulk`): indexes into the request's records. */
  | {
      kind: 'items';
      retry: number[];
      reject: { index: number; status: number; reason: string }[];
      /** Already stored (409 on `create`): counted as delivered. */
      duplicates: number;
      /** First retryable item error, for the log. */
      retryReason: string;
      /** Some items to retry were refused for the request, not their content (an item 401/403/404): held. */
      heldStatus?: number;
    }
  /** The collector stored what it could and says it dropped some records for good (not retried). */
  | { kind: 'dropped'; count: number; reason: string }
  /** Stored only once the indexer acknowledges this id (Splunk HEC indexer acknowledgement). */
  | { kind: 'ack'; ackId: number };

/** The sender's decision: the base retry policy's, or "stored except what the collector dropped". */
export type SinkVerdict = Verdict | { kind: 'dropped'; reason: string };

export interface AckProtocol {
  /** Request path of the acknowledgement query. */
  path: string;
  body(ackIds: number[]): Buffer;
  /** The ids the answer says are indexed. */
  acked(body: Buffer): Set<number>;
  /** Give up waiting and send the batch again after this long. */
  timeoutMs: number;
}

export interface Sink {
  readonly name: SinkName;
  /** Request path (with query) on the endpoint's origin. */
  readonly path: string;
  readonly contentType: string;
  /** The 2xx answer's body must be read (per-item results, partial success, ack ids). */
  readonly readsSuccessBody: boolean;
  /** Indexer acknowledgement, when the protocol has one and it is enabled. */
  readonly ack: AckProtocol | null;
  /** Requests in flight at most (1 keeps entries in order per stream, as Loki wants). */
  readonly maxInFlight?: number;
  /** Protocol headers of every request (tenant, channel), if any; auth headers come from Credentials. */
  headers?(): Record<string, string>;
  /** The whole batch as one request body (uncompressed). */
  encode(records: readonly LogRecord[]): Buffer;
  /**
   * Protocols whose body is one line per record: one record's line (newline included). Records are then
   * encoded as they come and batches keep only their body, split by lines; the others keep their records
   * for per-record answers, splits and dead letters, and encode them at seal.
   */
  line?(r: LogRecord): string;
  /**
   * Read a 2xx answer (when `readsSuccessBody`); without it every record is stored. `truncated`: the answer
   * was too large to read whole and `body` is only its start (answer what the protocol allows, losing nothing).
   */
  accepted?(body: Buffer, contentType: string | undefined, records: number, truncated: boolean): Acceptance;
  /** This protocol's reading of a non-2xx answer, on top of the base retry policy's verdict (default: as is). */
  judge?(status: number, reason: string, base: Verdict): SinkVerdict;
  /** Human-readable text of an error answer's body (binary protocols). */
  describe?(body: Buffer, contentType: string | undefined): string;
}

/**
 * The endpoint's path with the protocol path appended, unless it already ends with it
 * (`http://loki:3100` → `/loki/api/v1/push`; `http://gw/loki/api/v1/push` stays as it is).
 */
export function protocolPath(endpoint: URL, suffix: string): string {
  let path = endpoint.pathname;
  if (!path.endsWith(suffix)) path = path.replace(/\/+$/, '') + suffix;
  return path + endpoint.search;
}

/** Epoch milliseconds of an RFC 3339 timestamp; 0 when unparsable. Cached for runs of equal stamps. */
export class TimeCache {
  private last = '';
  private lastMs = 0;

  ms(ts: string): number {
    if (ts !== this.last) {
      this.last = ts;
      const ms = Date.parse(ts);
      this.lastMs = Number.isNaN(ms) ? 0 : ms;
    }
    return this.lastMs;
  }
}

/** Labels of a record: the static ones with the record's own on top. */
export function labelsOf(r: LogRecord, staticLabels: Record<string, string>): Record<string, string> {
  return r.labels ? { ...staticLabels, ...r.labels } : staticLabels;
}
