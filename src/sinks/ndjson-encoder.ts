// Records → NDJSON lines of the contract's wire format, built by concatenation (one JSON.stringify per line).

/** What the encoder needs to know of the file a line came from. */
export interface LineSource {
  /** The file's path, already JSON-quoted. */
  readonly fileJson: string;
  /** Stable per-file prefix of record ids. */
  readonly idPrefix: string;
}

export class NdjsonEncoder {
  private readonly labelsJson: string;

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
}
