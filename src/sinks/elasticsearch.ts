// Elasticsearch / OpenSearch `_bulk` with `create` actions and `_id` = the record's stable id.
//
// A line delivered twice is a no-op at the index (409 conflict, counted as delivered). Per-item results:
// 429/5xx items are retried alone; items refused for the request (401, 403 such as a cluster block, 404
// index not found) are held and retried; other item errors (mapping, parsing) are refused records.
import { isHeldStatus } from '../send/retry-policy.js';
import { type Acceptance, fieldsOf, type LogRecord, labelsOf, protocolPath, type Sink } from './sink.js';

export const BULK_PATH = '/_bulk';

export interface ElasticsearchOptions {
  endpoint: URL;
  labels: Record<string, string>;
  /** Index or data stream name; `%Y %m %d %H` are replaced from the record's timestamp (UTC). */
  index: string;
}

/** Fields of the document that parsed fields may not overwrite. */
const OWN_FIELDS = new Set(['@timestamp', 'message', 'log', 'labels', 'event']);

/** `logs-%Y.%m.%d` → a function of an RFC 3339 UTC timestamp. */
export function indexNamer(pattern: string): (ts: string) => string {
  if (!pattern.includes('%')) return () => pattern;
  return (ts) =>
    pattern.replace(/%([YmdH%])/g, (_, c: string) => {
      switch (c) {
        case 'Y':
          return ts.slice(0, 4);
        case 'm':
          return ts.slice(5, 7);
        case 'd':
          return ts.slice(8, 10);
        case 'H':
          return ts.slice(11, 13);
        default:
          return '%';
      }
    });
}

export class ElasticsearchSink implements Sink {
  readonly name = 'elasticsearch' as const;
  readonly path: string;
  readonly contentType = 'application/x-ndjson';
  readonly readsSuccessBody = true;
  readonly ack = null;
  private readonly indexOf: (ts: string) => string;
  private lastDay = '';
  private lastIndexJson = '';

  constructor(private readonly opts: ElasticsearchOptions) {
    this.path = protocolPath(opts.endpoint, BULK_PATH);
    this.indexOf = indexNamer(opts.index);
  }

  /** The index name, JSON-quoted; recomputed only when the hour changes. */
  private indexJson(ts: string): string {
    const hour = ts.slice(0, 13);
    if (hour !== this.lastDay) {
      this.lastDay = hour;
      this.lastIndexJson = JSON.stringify(this.indexOf(ts));
    }
    return this.lastIndexJson;
  }

  /** The document (ECS field names). */
  document(r: LogRecord): Record<string, unknown> {
    const doc: Record<string, unknown> = {};
    const fields = fieldsOf(r);
    if (fields) {
      for (const [k, v] of Object.entries(fields)) if (!OWN_FIELDS.has(k)) doc[k] = v;
    }
    doc['@timestamp'] = r.timestamp;
    doc.message = r.message;
    const log: Record<string, unknown> = { file: { path: r.file }, offset: r.offset };
    if (r.level !== undefined) log.level = r.level;
    doc.log = log;
    const labels = labelsOf(r, this.opts.labels);
    if (Object.keys(labels).length > 0) doc.labels = labels;
    doc.event = { id: r.id, ...(r.cut ? { cut: true } : {}) };
    return doc;
  }

  encode(records: readonly LogRecord[]): Buffer {
    let s = '';
    for (const r of records) {
      s += `{"create":{"_index":${this.indexJson(r.timestamp)},"_id":${JSON.stringify(r.id)}}}\n`;
      s += `${JSON.stringify(this.document(r))}\n`;
    }
    return Buffer.from(s, 'utf8');
  }

  accepted(body: Buffer, _contentType: string | undefined, records: number, truncated = false): Acceptance {
    if (truncated) {
      // `errors` comes before `items` in a _bulk answer: false there means every item was stored.
      if (/^\s*\{[^[]*"errors"\s*:\s*false/.test(body.toString('utf8', 0, 4096))) return { kind: 'all' };
      return retryAll(records, '_bulk response too large to read');
    }
    let res: { errors?: boolean; items?: Record<string, { status?: number; error?: unknown }>[] };
    try {
      res = JSON.parse(body.toString('utf8'));
    } catch {
      // A 2xx we cannot read: send everything again; `create` with the same ids makes that harmless.
      return retryAll(records, 'unreadable _bulk response');
    }
    if (res.errors === false) return { kind: 'all' };
    const items = res.items;
    if (!Array.isArray(items) || items.length !== records) {
      return retryAll(records, `_bulk response has ${items?.length ?? 'no'} items for ${records} actions`);
    }
    const retry: number[] = [];
    const reject: { index: number; status: number; reason: string }[] = [];
    let duplicates = 0;
    let retryReason = '';
    let heldStatus: number | undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const result = item.create ?? item[Object.keys(item)[0] ?? ''] ?? {};
      const status = typeof result.status === 'number' ? result.status : 0;
      if (status >= 200 && status < 300) continue;
      if (status === 409) {
        duplicates++;
        continue;
      }
      const reason = errorText(result.error) || `status ${status}`;
      if (status === 429 || status >= 500 || status === 0 || isHeldStatus(status)) {
        retry.push(i);
        retryReason ||= `item status ${status}: ${reason}`;
        if (isHeldStatus(status)) heldStatus ??= status;
      } else {
        reject.push({ index: i, status, reason: `item status ${status}: ${reason}` });
      }
    }
    if (retry.length === 0 && reject.length === 0 && duplicates === 0) return { kind: 'all' };
    const acc: Acceptance = { kind: 'items', retry, reject, duplicates, retryReason };
    if (heldStatus !== undefined) acc.heldStatus = heldStatus;
    return acc;
  }
}

function retryAll(records: number, reason: string): Acceptance {
  return {
    kind: 'items',
    retry: Array.from({ length: records }, (_, i) => i),
    reject: [],
    duplicates: 0,
    retryReason: reason,
  };
}

function errorText(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object') {
    const o = e as { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } };
    let s = [o.type, o.reason].filter(Boolean).join(': ');
    if (o.caused_by) s += ` (caused by ${[o.caused_by.type, o.caused_by.reason].filter(Boolean).join(': ')})`;
    return s;
  }
  return '';
}
