// Splunk HTTP Event Collector (`POST /services/collector/event`): one JSON event object per record.
//
// Events are concatenated in the body. Token auth (`Authorization: Splunk <token>`, set by Credentials).
// With indexer acknowledgement on, every request carries a channel (`X-Splunk-Request-Channel`), the answer
// holds an `ackId`, and the batch counts as delivered only once `/services/collector/ack` says that id is
// indexed.
// HEC's answers carry a `code`: those about the request (no data, incorrect index, data channel missing or
// invalid, ack disabled, query-string auth off) hold delivery; those about events (invalid data format,
// event field missing or blank, indexed fields) are refused records, isolated before any is dead-lettered.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Verdict } from '../send/retry-policy.js';
import {
  type Acceptance,
  type AckProtocol,
  fieldsOf,
  type LogRecord,
  labelsOf,
  protocolPath,
  type Sink,
  type SinkVerdict,
  TimeCache,
} from './sink.js';

/** HEC codes of a 400 that are about the request or the token's setup, not the events sent. */
const HEC_REQUEST_CODES = new Set([5, 7, 10, 11, 14, 16]);

/** The `code` of a HEC error answer (`{"text":"Incorrect index","code":7}`), or null. */
function hecCode(answer: string): number | null {
  const m = /"code"\s*:\s*(\d+)/.exec(answer);
  return m ? Number(m[1]) : null;
}

export const HEC_EVENT_PATH = '/services/collector/event';
export const HEC_ACK_PATH = '/services/collector/ack';

export interface SplunkOptions {
  endpoint: URL;
  labels: Record<string, string>;
  /** Wait for indexer acknowledgement before a batch counts as delivered. */
  ack: boolean;
  ackTimeoutMs: number;
  index: string;
  sourcetype: string;
  host?: string;
}

export class SplunkSink implements Sink {
  readonly name = 'splunk' as const;
  readonly path: string;
  readonly contentType = 'application/json';
  readonly readsSuccessBody: boolean;
  readonly ack: AckProtocol | null;
  /** This agent's data channel (a GUID), for indexer acknowledgement. */
  readonly channel = randomUUID();
  private readonly time = new TimeCache();
  private readonly host: string;
  private readonly constant: string;

  constructor(private readonly opts: SplunkOptions) {
    this.path = protocolPath(opts.endpoint, HEC_EVENT_PATH);
    this.readsSuccessBody = opts.ack;
    this.host = opts.host ?? hostname();
    let c = `,"host":${JSON.stringify(this.host)}`;
    if (opts.index) c += `,"index":${JSON.stringify(opts.index)}`;
    if (opts.sourcetype) c += `,"sourcetype":${JSON.stringify(opts.sourcetype)}`;
    this.constant = c;
    const eventPath = new URL(opts.endpoint.href);
    eventPath.pathname = this.path.split('?')[0]!;
    const ackUrl = new URL(eventPath.href);
    ackUrl.pathname = eventPath.pathname.replace(/\/services\/collector\/event$/, HEC_ACK_PATH);
    this.ack = opts.ack
      ? {
          path: ackUrl.pathname + opts.endpoint.search,
          body: (ids) => Buffer.from(JSON.stringify({ acks: ids }), 'utf8'),
          acked: (body) => {
            const out = new Set<number>();
            try {
              const j = JSON.parse(body.toString('utf8')) as { acks?: Record<string, boolean> };
              for (const [id, ok] of Object.entries(j.acks ?? {})) if (ok === true) out.add(Number(id));
            } catch {
              // unreadable: nothing acknowledged yet
            }
            return out;
          },
          timeoutMs: opts.ackTimeoutMs,
        }
      : null;
  }

  headers(): Record<string, string> {
    return this.opts.ack ? { 'x-splunk-request-channel': this.channel } : {};
  }

  /** HEC `time`: epoch seconds with milliseconds. */
  private seconds(r: LogRecord): string {
    const ms = this.time.ms(r.timestamp);
    return (ms / 1000).toFixed(3);
  }

  encode(records: readonly LogRecord[]): Buffer {
    let s = '';
    for (const r of records) {
      const fields: Record<string, string> = { ...labelsOf(r, this.opts.labels) };
      if (r.level !== undefined) fields.level = r.level;
      const parsed = fieldsOf(r);
      const event = parsed ? { ...parsed, message: r.message } : r.message;
      s +=
        `{"time":${this.seconds(r)}${this.constant},"source":${JSON.stringify(r.file)},` +
        `"event":${JSON.stringify(event)}` +
        (Object.keys(fields).length > 0 ? `,"fields":${JSON.stringify(fields)}}\n` : '}\n');
    }
    return Buffer.from(s, 'utf8');
  }

  judge(status: number, reason: string, base: Verdict): SinkVerdict {
    const code = hecCode(reason);
    if (status === 400 && code !== null && HEC_REQUEST_CODES.has(code))
      // The sender grows the wait with the attempt (a sink does not know it).
      return { kind: 'hold', afterMs: 0, reason: `HTTP 400, HEC code ${code}` };
    return base;
  }

  accepted(body: Buffer, _contentType?: string, records = 0, truncated = false): Acceptance {
    if (!this.opts.ack) return { kind: 'all' };
    if (truncated) {
      // No ack id to wait for: send the batch again (duplicates possible, nothing lost).
      return {
        kind: 'items',
        retry: Array.from({ length: records }, (_, i) => i),
        reject: [],
        duplicates: 0,
        retryReason: 'HEC answer too large to read its ackId',
      };
    }
    try {
      const j = JSON.parse(body.toString('utf8')) as { ackId?: number };
      if (typeof j.ackId === 'number') return { kind: 'ack', ackId: j.ackId };
    } catch {
      // no ack id: indexer acknowledgement is off for this token; the 200 is all there is
    }
    return { kind: 'all' };
  }
}
