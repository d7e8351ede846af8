// Records → NDJSON lines of the contract's wire format, built by concatenation (one JSON.stringify per line).
import type { ParsedRecord } from '../parse/stage.js';

/** What the encoder needs to know of the file a line came from. */
export interface LineSource {
  /** The file's path, already JSON-quoted. */
  readonly fileJson: string;
  /** Stable per-file prefix of record ids. */
  readonly idPrefix: string;
}

export class NdjsonEncoder {
  /** `,"labels":{…}`, or empty without labels. */
  readonly labelsJson: string;

  constructor(labels: Record<string, string>) {
    this.labelsJson = Object.keys(labels).length > 0 ? `,"labels":${JSON.stringify(labels)}` : '';
  }

  /** One record, newline included. `timestamp` is an RFC 3339 string without characters to escape. */
  encode(src: LineSource, text: string, offset: number, timestamp: string, cut: boolean): string {
    return (
      `{"timestamp":"${timestamp}","file":${src.fileJson},"offset":${offset},"id":"${src.idPrefix}${offset}",` +
      `"message":${JSON.stringify(text)}${this.labelsJson}${cut ? ',"cut":true}\n' : '}\n'}`
    );
  }

  /**
   * A record of the parse stage: `stream` (container logs), `level` (normalised), `fields` (what the
   * parser found), `labels`, `parse_error: true` (the line did not parse; `message` holds it as it is).
   */
  encodeParsed(fileJson: string, r: ParsedRecord): string {
    let s =
      `{"timestamp":"${r.timestamp}","file":${fileJson},"offset":${r.offset},"id":"${r.idPrefix}${r.offset}",` +
      `"message":${JSON.stringify(r.message)}`;
    if (r.stream !== null) s += `,"stream":${JSON.stringify(r.stream)}`;
    if (r.level !== null) s += `,"level":"${r.level}"`;
    if (r.fields !== null) s += `,"fields":${r.fieldsJson ?? JSON.stringify(r.fields)}`;
    s += r.labelsJson === null ? this.labelsJson : `,"labels":${r.labelsJson}`;
    if (r.parseError) s += ',"parse_error":true';
    return s + (r.cut ? ',"cut":true}\n' : '}\n');
  }
}
