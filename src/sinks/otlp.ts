// OTLP/HTTP logs (`POST /v1/logs`): an ExportLogsServiceRequest, binary protobuf by default or JSON.
//
// Records are grouped into ResourceLogs by their labels. Kubernetes labels become resource attributes
// under their semantic-convention names (`k8s.pod.name`, `k8s.namespace.name`, ...); the file path, id and
// offset are log record attributes (`log.file.path`, `log.record.uid`, ...). The read time is the record's
// `observed_time_unix_nano` (the time of the event itself is not known without a parser).
//
// Answers: 408, 429 and every 5xx are retried like in every sink (honouring Retry-After), as the at-least-once
// contract asks; this is wider than the OTLP specification's retryable list (429, 502, 503, 504), so a
// transient 500 from a collector is not turned into lost lines. 401, 403, 404, 415 and the other refusals of
// the request hold delivery (retried); a 400 (data the collector cannot decode or accept) is isolated down to
// the refused records (413 splits). A 200 with `partial_success.rejected_log_records` > 0 is not retried:
// the count and the collector's message are logged and counted. A 200 too large to read is a success (the
// specification makes partial_success optional).
import type { Verdict } from '../send/retry-policy.js';
import { ProtoWriter, readFields } from './protobuf.js';
import {
  type Acceptance,
  fieldsOf,
  type LogRecord,
  labelsOf,
  protocolPath,
  type Sink,
  type SinkVerdict,
  TimeCache,
} from './sink.js';

export const OTLP_LOGS_PATH = '/v1/logs';

export interface OtlpOptions {
  endpoint: URL;
  labels: Record<string, string>;
  encoding: 'protobuf' | 'json';
  version: string;
}

/** Label names (as the Kubernetes metadata and users name them) → resource semantic conventions. */
export const K8S_SEMCONV: Record<string, string> = {
  namespace: 'k8s.namespace.name',
  namespace_name: 'k8s.namespace.name',
  pod: 'k8s.pod.name',
  pod_name: 'k8s.pod.name',
  pod_uid: 'k8s.pod.uid',
  pod_ip: 'k8s.pod.ip',
  host_ip: 'host.ip',
  pod_id: 'k8s.pod.uid',
  container: 'k8s.container.name',
  container_name: 'k8s.container.name',
  node: 'k8s.node.name',
  node_name: 'k8s.node.name',
  cluster: 'k8s.cluster.name',
  deployment: 'k8s.deployment.name',
  statefulset: 'k8s.statefulset.name',
  daemonset: 'k8s.daemonset.name',
  job: 'k8s.job.name',
  service: 'service.name',
  app: 'service.name',
};

/** Resource attribute name of a label. */
export function resourceKey(label: string): string {
  return K8S_SEMCONV[label] ?? label;
}

/** Severity number (OpenTelemetry log data model) of a level name. */
export function severityNumber(level: string): number {
  const l = level.toLowerCase();
  if (l.startsWith('trace')) return 1;
  if (l.startsWith('debug')) return 5;
  if (l.startsWith('info') || l === 'notice') return 9;
  if (l.startsWith('warn')) return 13;
  if (l.startsWith('err')) return 17;
  if (l.startsWith('fatal') || l === 'critical' || l === 'crit' || l === 'panic' || l === 'emerg') return 21;
  return 0;
}

type Attr = [string, string | number | boolean];

export class OtlpSink implements Sink {
  readonly name = 'otlp' as const;
  readonly path: string;
  readonly contentType: string;
  readonly readsSuccessBody = true;
  readonly ack = null;
  private readonly time = new TimeCache();

  constructor(private readonly opts: OtlpOptions) {
    this.path = protocolPath(opts.endpoint, OTLP_LOGS_PATH);
    this.contentType = opts.encoding === 'json' ? 'application/json' : 'application/x-protobuf';
  }

  /** Records grouped by resource (their label set), in order. */
  private group(records: readonly LogRecord[]): Map<string, { resource: Attr[]; records: LogRecord[] }> {
    const groups = new Map<string, { resource: Attr[]; records: LogRecord[] }>();
    for (const r of records) {
      const labels = labelsOf(r, this.opts.labels);
      const key = r.labels ? JSON.stringify(labels) : '';
      let g = groups.get(key);
      if (!g) {
        const resource: Attr[] = [];
        const seen = new Set<string>();
        for (const [k, v] of Object.entries(labels)) {
          const name = resourceKey(k);
          if (seen.has(name)) continue;
          seen.add(name);
          resource.push([name, v]);
        }
        g = { resource, records: [] };
        groups.set(key, g);
      }
      g.records.push(r);
    }
    return groups;
  }

  private attributes(r: LogRecord): Attr[] {
    const a: Attr[] = [
      ['log.file.path', r.file],
      ['log.file.name', r.file.slice(r.file.lastIndexOf('/') + 1)],
      ['log.record.uid', r.id],
      ['logferry.offset', r.offset],
    ];
    if (r.cut) a.push(['logferry.cut', true]);
    const fields = fieldsOf(r);
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (typeof v === 'string' || typeof v === 'boolean') a.push([k, v]);
        else if (typeof v === 'number' && Number.isFinite(v)) a.push([k, v]);
        else if (v !== null && v !== undefined) a.push([k, JSON.stringify(v)]);
      }
    }
    return a;
  }

  private nanos(r: LogRecord): bigint {
    return BigInt(this.time.ms(r.timestamp)) * 1_000_000n;
  }

  encode(records: readonly LogRecord[]): Buffer {
    return this.opts.encoding === 'json' ? this.encodeJson(records) : this.encodeProto(records);
  }

  private encodeJson(records: readonly LogRecord[]): Buffer {
    const resourceLogs = [...this.group(records).values()].map((g) => ({
      resource: { attributes: g.resource.map(jsonKv) },
      scopeLogs: [
        {
          scope: { name: 'logferry', version: this.opts.version },
          logRecords: g.records.map((r) => {
            const o: Record<string, unknown> = { observedTimeUnixNano: this.nanos(r).toString() };
            if (r.level !== undefined) {
              const n = severityNumber(r.level);
              if (n > 0) o.severityNumber = n;
              o.severityText = r.level;
            }
            o.body = { stringValue: r.message };
            o.attributes = this.attributes(r).map(jsonKv);
            return o;
          }),
        },
      ],
    }));
    return Buffer.from(JSON.stringify({ resourceLogs }), 'utf8');
  }

  private encodeProto(records: readonly LogRecord[]): Buffer {
    const req = new ProtoWriter(1024);
    const scope = new ProtoWriter(32).string(1, 'logferry').string(2, this.opts.version).finish();
    for (const g of this.group(records).values()) {
      const resource = new ProtoWriter(256);
      for (const a of g.resource) resource.bytes(1, protoKv(a));
      const scopeLogs = new ProtoWriter(records.length * 128);
      scopeLogs.bytes(1, scope);
      for (const r of g.records) {
        const lr = new ProtoWriter(r.message.length * 2 + 256);
        if (r.level !== undefined) lr.uint(2, severityNumber(r.level)).string(3, r.level);
        lr.bytes(5, new ProtoWriter(r.message.length * 2 + 8).string(1, r.message).finish());
        for (const a of this.attributes(r)) lr.bytes(6, protoKv(a));
        lr.fixed64(11, this.nanos(r));
        scopeLogs.bytes(2, lr.finish());
      }
      const rl = new ProtoWriter(256).bytes(1, resource.finish()).bytes(2, scopeLogs.finish());
      req.bytes(1, rl.finish());
    }
    return Buffer.from(req.finish());
  }

  accepted(body: Buffer, contentType: string | undefined, _records = 0, truncated = false): Acceptance {
    if (body.length === 0 || truncated) return { kind: 'all' };
    const ps = parsePartialSuccess(body, contentType);
    if (ps === null || ps.rejected === 0) return { kind: 'all' };
    return {
      kind: 'dropped',
      count: ps.rejected,
      reason: `OTLP partial success: ${ps.rejected} log records rejected${ps.message ? `: ${ps.message}` : ''}`,
    };
  }

  judge(_status: number, _reason: string, base: Verdict): SinkVerdict {
    // The contract's retry rules (408, 429, 5xx, Retry-After) as they are: no narrower OTLP list.
    return base;
  }

  /** An error answer carries a google.rpc.Status (message = field 2) in the request's encoding. */
  describe(body: Buffer, contentType: string | undefined): string {
    if (contentType?.includes('protobuf')) {
      try {
        const msg = readFields(body).find((f) => f.field === 2 && f.bytes);
        if (msg?.bytes) return msg.bytes.toString('utf8');
      } catch {
        // fall through to the raw text
      }
    }
    return body.toString('utf8');
  }
}

/** ExportLogsServiceResponse.partial_success; null when absent or unreadable. */
export function parsePartialSuccess(
  body: Buffer,
  contentType: string | undefined,
): { rejected: number; message: string } | null {
  try {
    if (contentType?.includes('json') || body[0] === 0x7b) {
      const j = JSON.parse(body.toString('utf8')) as {
        partialSuccess?: { rejectedLogRecords?: string | number; errorMessage?: string };
      };
      const ps = j.partialSuccess;
      if (!ps) return null;
      return { rejected: Number(ps.rejectedLogRecords ?? 0) || 0, message: ps.errorMessage ?? '' };
    }
    const ps = readFields(body).find((f) => f.field === 1 && f.bytes);
    if (!ps?.bytes) return null;
    let rejected = 0;
    let message = '';
    for (const f of readFields(ps.bytes)) {
      if (f.field === 1 && f.num !== undefined) rejected = f.num;
      if (f.field === 2 && f.bytes) message = f.bytes.toString('utf8');
    }
    return { rejected, message };
  } catch {
    return null;
  }
}

function jsonKv([key, v]: Attr): { key: string; value: Record<string, unknown> } {
  if (typeof v === 'string') return { key, value: { stringValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  if (Number.isInteger(v)) return { key, value: { intValue: String(v) } };
  return { key, value: { doubleValue: v } };
}

function protoKv([key, v]: Attr): Buffer {
  const any = new ProtoWriter(typeof v === 'string' ? v.length * 2 + 8 : 16);
  if (typeof v === 'string') any.string(1, v, true);
  else if (typeof v === 'boolean') any.bool(2, v);
  else if (Number.isSafeInteger(v)) any.int64(3, v);
  else any.double(4, v);
  return new ProtoWriter(64).string(1, key).bytes(2, any.finish()).finish();
}
