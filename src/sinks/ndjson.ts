// The `ndjson` protocol of the contract: one JSON object per line; also the format of the dead-letter file.
import type { LogRecord, Sink } from './sink.js';

/** `,"labels":{…}` for a label set, or empty when it has none. */
export function labelsJsonOf(labels: Record<string, string>): string {
  return Object.keys(labels).length > 0 ? `,"labels":${JSON.stringify(labels)}` : '';
}

/**
 * One record as a line of the wire format, newline included: the reference encoder. `labelsJson` is
 * labelsJsonOf(the record's labels). The raw path (src/arena/) writes the same bytes for plain lines.
 */
export function ndjsonRecord(r: LogRecord, labelsJson: string): string {
  let s =
    `{"timestamp":${JSON.stringify(r.timestamp)},"file":${JSON.stringify(r.file)},"offset":${r.offset},` +
    `"id":${JSON.stringify(r.id)},"message":${JSON.stringify(r.message)}`;
  if (r.stream !== undefined) s += `,"stream":${JSON.stringify(r.stream)}`;
  if (r.level !== undefined) s += `,"level":${JSON.stringify(r.level)}`;
  if (r.fields !== undefined) s += `,"fields":${r.fieldsJson ?? JSON.stringify(r.fields)}`;
  s += labelsJson;
  if (r.parseError) s += ',"parse_error":true';
  return s + (r.cut ? ',"cut":true}\n' : '}\n');
}

export class NdjsonSink implements Sink {
  readonly name = 'ndjson';
  readonly path: string;
  readonly contentType = 'application/x-ndjson';
  readonly readsSuccessBody = false;
  readonly ack = null;
  /** labelsJsonOf(the static labels), and the last per-record label set with its JSON (a file's are reused). */
  readonly labelsJson: string;
  private lastLabels: Record<string, string> | undefined;
  private lastLabelsJson = '';

  constructor(
    endpoint: URL,
    private readonly labels: Record<string, string>,
  ) {
    this.path = endpoint.pathname + endpoint.search;
    this.labelsJson = labelsJsonOf(labels);
  }

  encode(records: readonly LogRecord[]): Buffer {
    let s = '';
    for (const r of records) s += this.line(r);
    return Buffer.from(s, 'utf8');
  }

  line(r: LogRecord): string {
    return ndjsonRecord(r, this.labelsOf(r));
  }

  private labelsOf(r: LogRecord): string {
    if (r.labels === undefined) return this.labelsJson;
    if (r.labels !== this.lastLabels) {
      this.lastLabels = r.labels;
      this.lastLabelsJson = labelsJsonOf({ ...this.labels, ...r.labels });
    }
    return this.lastLabelsJson;
  }
}
