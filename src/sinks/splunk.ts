// Splunk HTTP Event Collector (`POST /services/collector/event`): one JSON event object per record,
// concatenated. Token auth (`Authorization: Splunk <token>`, set by Credentials). With indexer
// acknowledgement on, every request carries a channel (`X-Splunk-Request-Channel`), the answer holds an
// `ackId`, and the batch counts as delivered only once `/services/collector/ack` says that id is indexed.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type Acceptance,
  type AckProtocol,
  fieldsOf,
  type LogRecord,
  labelsOf,
  protocolPath,
  type Sink,
  TimeCache,
} from './sink.js';

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

  accepted(body: Buffer): Acceptance {
    if (!this.opts.ack) return { kind: 'all' };
    try {
      const j = JSON.parse(body.toString('utf8')) as { ackId?: number };
      if (typeof j.ackId === 'number') return { kind: 'ack', ackId: j.ackId };
    } catch {
      // no ack id: indexer acknowledgement is off for this token; the 200 is all there is
    }
    return { kind: 'all' };
  }
}
