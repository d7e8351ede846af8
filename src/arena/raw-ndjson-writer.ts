// The raw path: lines framed in a read buffer → ndjson records in a request body, by WebAssembly.
//
// Output is byte for byte what the reference encoder (`ndjsonRecord` in src/sinks/ndjson.ts) gives for the
// same line; a unit test compares the two on random lines. Lines it does not take (not valid UTF-8, past
// the batch's limit) are left to the caller, which sends them through the records path.
import type { ByteArena, WriteRecords } from './byte-arena.js';

/** What the writer needs of the file a line came from. */
export interface RawLineSource {
  /** The file's path, JSON-quoted. */
  readonly fileJson: string;
  /** Stable per-file prefix of record ids. */
  readonly idPrefix: string;
  /** Read time of the chunk, RFC 3339 (no characters to escape). */
  readonly timestamp: string;
}

/** Arena bytes for the pieces of a record around its message, for one file at a time (see json-escape.wat). */
export const PIECES_BYTES = 8192;
const PIECES_HEADER = 32;
/** What `records` may write past its limit before it stops (see json-escape.wat): keep this much room. */
const RECORDS_SLACK = 16 * 1024;
/** Lines framed for one call: the framer fills `lineTable` with up to this many (start, end) pairs. */
const TABLE_LINES = 4096;
/** Arena bytes the writer takes: its pieces and its line table. */
export const WRITER_BYTES = PIECES_BYTES + 8 * TABLE_LINES;
const MESSAGE_OPEN = Buffer.from('","message":"');

export class RawNdjsonWriter {
  private readonly tail: Buffer;
  private readonly records: WriteRecords;
  private readonly pieces: Buffer;
  /** The source the pieces were made for, and what they were made of (a source's fields change). */
  private src: RawLineSource | null = null;
  private timestamp = '';
  private fileJson = '';
  private idPrefix = '';
  /** Where the pieces start in the arena's memory; -1 when the current file's do not fit PIECES_BYTES. */
  private piecesAt = -1;
  /** Where the framer writes the lines of one call: (start, end) pairs, offsets in the read buffer. */
  readonly lineTable: Int32Array;
  private readonly tableAt: number;
  /** Where the records of the last `writeLines` end in `dst`. */
  linesEnd = 0;

  /** `labelsJson`: `,"labels":{…}` or empty, as the reference encoder writes it. Takes WRITER_BYTES of the arena. */
  constructor(
    labelsJson: string,
    private readonly arena: ByteArena,
  ) {
    this.tail = Buffer.from(`"${labelsJson}}\n`);
    this.records = arena.records;
    this.pieces = arena.region(PIECES_BYTES);
    const table = arena.region(8 * TABLE_LINES);
    this.tableAt = arena.at(table);
    this.lineTable = new Int32Array(table.buffer, table.byteOffset, 2 * TABLE_LINES);
  }

  /** The next lines come from `src`: its pieces are made again when it changed. */
  use(src: RawLineSource): void {
    if (
      src !== this.src ||
      src.timestamp !== this.timestamp ||
      src.fileJson !== this.fileJson ||
      src.idPrefix !== this.idPrefix
    ) {
      this.refresh(src);
    }
  }

  /**
   * The records of `count` lines of `lineTable` from index `first` (framed in `buf`, whose first byte is at file
   * offset `offset`), written into `dst` from `pos`, none ending past `limit`. Returns how many were written
   * (0 when `buf` or `dst` is not in the arena, or `limit` leaves less than RECORDS_SLACK before the end of
   * `dst`); `linesEnd` says where they end. Call `use` first for the same source.
   */
  writeLines(
    dst: Buffer,
    pos: number,
    limit: number,
    buf: Buffer,
    first: number,
    count: number,
    offset: number,
  ): number {
    const s = this.arena.at(buf);
    const d = this.arena.at(dst);
    if (this.piecesAt < 0 || s < 0 || d < 0 || limit + RECORDS_SLACK > dst.length) return 0;
    const n = this.records(s, this.tableAt + 8 * first, count, d + pos, d + limit, offset, this.piecesAt);
    this.linesEnd = this.arena.recordsResult[0]! - d;
    return n;
  }

  private refresh(src: RawLineSource): void {
    this.src = src;
    this.timestamp = src.timestamp;
    this.fileJson = src.fileJson;
    this.idPrefix = src.idPrefix;
    const head = Buffer.from(`{"timestamp":"${src.timestamp}","file":${src.fileJson},"offset":`);
    const id = Buffer.from(`,"id":"${src.idPrefix}`);
    const parts = [head, id, MESSAGE_OPEN, this.tail];
    this.piecesAt = -1;
    if (PIECES_HEADER + parts.reduce((n, b) => n + b.length, 0) > this.pieces.length) return;
    let at = PIECES_HEADER;
    parts.forEach((b, i) => {
      this.pieces.writeInt32LE(b.length, 4 * i);
      this.pieces.set(b, at);
      at += b.length;
    });
    this.piecesAt = this.arena.at(this.pieces);
  }
}
