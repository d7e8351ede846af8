// Grafana Loki push API (`POST /loki/api/v1/push`, JSON): records grouped into streams by their labels.
//
// Stream labels are the static LOGFERRY_LABELS and the record's own labels (Kubernetes metadata): a small,
// bounded set. High-cardinality data (file path, offset, id, level) goes to structured metadata, never labels.
// Entries of one stream are sent in order with strictly increasing nanosecond timestamps (so Loki neither
// rejects them as out of order within a request nor drops two equal lines read in the same millisecond as
// duplicates). A 400 for out-of-order or too-old entries is not retried: Loki stored the other entries.
import type { Verdict } from '../send/retry-policy.js';
import { type LogRecord, labelsOf, protocolPath, type Sink, type SinkVerdict, TimeCache } from './sink.js';

export const LOKI_PATH = '/loki/api/v1/push';

export interface LokiOptions {
  endpoint: URL;
  labels: Record<string, string>;
  tenant: string;
  /** Send file, offset, id (and level) as structured metadata (Loki 3, schema v13); else nothing extra. */
  structuredMetadata: boolean;
}

/** Loki's answers for entries it will never accept (reasons from Loki's validation). */
const LOKI_DROPPED =
  /out of order|too far behind|too old|greater_than_max_sample_age|older than the oldest|entry too far/i;

/** A Loki label name: [a-zA-Z_][a-zA-Z0-9_]*. Other characters become `_` (as Prometheus does). */
export function lokiLabelName(key: string): string {
  const s = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[a-zA-Z_]/.test(s) ? s : `_${s}`;
}

interface StreamState {
  lastMs: number;
  lastSub: number;
}

/** Keep at most this many streams' last timestamps (the label set is bounded; this is a safety net). */
const MAX_TRACKED_STREAMS = 10_000;

export class LokiSink implements Sink {
  readonly name = 'loki' as const;
  readonly path: string;
  readonly contentType = 'application/json';
  readonly readsSuccessBody = false;
  readonly ack = null;
  /** One request at a time, like Promtail: batches (and retries) reach Loki in order. */
  readonly maxInFlight = 1;
  private readonly time = new TimeCache();
  private readonly streams = new Map<string, StreamState>();
  private readonly staticStreamJson: string;

  constructor(private readonly opts: LokiOptions) {
    this.path = protocolPath(opts.endpoint, LOKI_PATH);
    this.staticStreamJson = JSON.stringify(this.streamLabels(opts.labels));
  }

  headers(): Record<string, string> {
    return this.opts.tenant ? { 'x-scope-orgid': this.opts.tenant } : {};
  }

  private streamLabels(labels: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) out[lokiLabelName(k)] = v;
    // Loki requires at least one label pair per stream.
    if (Object.keys(out).length === 0) out.job = 'logferry';
    return out;
  }

  encode(records: readonly LogRecord[]): Buffer {
    // Group by stream, keeping the read order within each stream.
    const groups = new Map<string, string[]>();
    for (const r of records) {
      const key = r.labels
        ? JSON.stringify(this.streamLabels(labelsOf(r, this.opts.labels)))
        : this.staticStreamJson;
      let values = groups.get(key);
      if (!values) {
        values = [];
        groups.set(key, values);
      }
      values.push(this.value(key, r));
    }
    const streams: string[] = [];
    for (const [key, values] of groups) streams.push(`{"stream":${key},"values":[${values.join(',')}]}`);
    return Buffer.from(`{"streams":[${streams.join(',')}]}`, 'utf8');
  }

  /** One `[ts, line, metadata?]` entry; the timestamp is strictly increasing within its stream. */
  private value(stream: string, r: LogRecord): string {
    let st = this.streams.get(stream);
    if (!st) {
      if (this.streams.size >= MAX_TRACKED_STREAMS) this.streams.clear();
      st = { lastMs: 0, lastSub: -1 };
      this.streams.set(stream, st);
    }
    let ms = this.time.ms(r.timestamp);
    let sub = 0;
    if (ms < st.lastMs || (ms === st.lastMs && st.lastSub >= 0)) {
      // Same millisecond (or the clock stepped back): the next nanosecond after the stream's last entry.
      ms = st.lastMs;
      sub = st.lastSub + 1;
      if (sub > 999_999) {
        ms++;
        sub = 0;
      }
    }
    st.lastMs = ms;
    st.lastSub = sub;
    const ts = `${ms}${String(sub).padStart(6, '0')}`;
    if (!this.opts.structuredMetadata) return `["${ts}",${JSON.stringify(r.message)}]`;
    const md: Record<string, string> = { filename: r.file, offset: String(r.offset), id: r.id };
    if (r.level !== undefined) md.level = r.level;
    if (r.cut) md.cut = 'true';
    return `["${ts}",${JSON.stringify(r.message)},${JSON.stringify(md)}]`;
  }

  judge(status: number, reason: string, base: Verdict): SinkVerdict {
    if (status === 400 && LOKI_DROPPED.test(reason)) {
      return { kind: 'dropped', reason: `Loki refused some entries (out of order or too old): ${reason}` };
    }
    return base;
  }
}
