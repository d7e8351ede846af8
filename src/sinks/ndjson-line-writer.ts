// Raw lines → ndjson records written straight into a request body, bytes to bytes (no per-line string).
//
// The output is byte for byte what NdjsonEncoder.encode gives for the decoded line (unit tests compare
// them on random bytes and random reads): valid UTF-8 is copied as it is, `"`, `\` and control characters
// are escaped the way JSON.stringify does, and a line that is not valid UTF-8 takes the string path (its
// decoder puts U+FFFD for the invalid bytes).
//
// Speed: the message is copied four bytes at a time (DataView words, no allocation), each word checked
// for a byte to escape with bit tricks; only such bytes are handled one by one. Measured in a micro-
// benchmark on this 2-core machine, 1 M lines of 173 bytes: byte loop 143 ns per line, Buffer.copy 51 ns
// plus a view allocated per call (on Node 20) that showed up as ~12% GC in the agent, word copy with the
// checks 98 ns and nothing allocated.
//
// Faster still, when the line and the body are both in a byte arena (src/arena): the whole record is
// written by WebAssembly, the message escaped 16 bytes at a time (json-escape.wat). The JavaScript code
// stays for other buffers (a line that spanned two reads, a body grown past its usual size), for a file
// whose pieces do not fit PIECES_BYTES, for invalid UTF-8, and where WebAssembly SIMD is not available.
import { isUtf8 } from 'node:buffer';
import type { ByteArena, WriteRecord, WriteRecords } from '../arena/byte-arena.js';
import type { LineSource } from './ndjson-encoder.js';

/** What the writer needs of the file a line came from: LineSource plus the read time of its chunk. */
export interface TimedLineSource extends LineSource {
  /** RFC 3339, no characters to escape. */
  readonly timestamp: string;
}

/** JSON.stringify's escapes for bytes below 0x20, `"` and `\`: a letter for the short ones, else 0 (\u00xx). */
const SHORT = new Uint8Array(0x60);
SHORT[0x08] = 0x62; // b
SHORT[0x09] = 0x74; // t
SHORT[0x0a] = 0x6e; // n
SHORT[0x0c] = 0x66; // f
SHORT[0x0d] = 0x72; // r
SHORT[0x22] = 0x22; // "
SHORT[0x5c] = 0x5c; // \
const HEX = Buffer.from('0123456789abcdef');

const HIGH = 0x80808080;
const ONES = 0x01010101;
const QUOTES = 0x22222222;
const BACKSLASHES = 0x5c5c5c5c;
const SPACES = 0x20202020;

const MESSAGE_OPEN = Buffer.from('","message":"');
/** Room for two offsets (at most 16 digits each) and the closing quote of the message. */
const FIXED_ROOM = 40;
/**
 * Arena bytes of a writer: the pieces of a record around its message (see `record` in json-escape.wat),
 * for one file at a time. A file whose path and labels do not fit takes the JavaScript path.
 */
export const PIECES_BYTES = 8192;
const PIECES_HEADER = 32;
/** What `records` may write past its limit before it stops (see json-escape.wat): keep this much room. */
export const RECORDS_SLACK = 16 * 1024;

export class NdjsonLineWriter {
  private readonly tail: Buffer;
  private readonly tailCut: Buffer;
  /** Cache for the source of the last line: lines come in runs from one read of one file. */
  private src: TimedLineSource | null = null;
  private timestamp = '';
  private fileJson = '';
  private idPrefix = '';
  /** `{"timestamp":"…","file":"…","offset":` */
  private head: Buffer = Buffer.alloc(0);
  /** `,"id":"<idPrefix>` */
  private id: Buffer = Buffer.alloc(0);
  /** Word views of the last source and destination buffers (the read buffer and body are reused). */
  private srcBuf: Buffer | null = null;
  private srcView: DataView = new DataView(new ArrayBuffer(0));
  private dstBuf: Buffer | null = null;
  private dstView: DataView = new DataView(new ArrayBuffer(0));
  /** Where the last source and destination buffers start in the arena's memory (-1: not in it). */
  private srcAt = -1;
  private dstAt = -1;
  private readonly arena: ByteArena | null;
  private readonly record: WriteRecord | null;
  private readonly records: WriteRecords | null;
  /** What the last `writeLines` wrote: where its records end in `dst`, and how many. */
  linesEnd = 0;
  linesWritten = 0;
  /** The record's pieces for the current file, in the arena (PIECES_BYTES); where, or -1 when unused. */
  private readonly pieces: Buffer | null;
  private piecesAt = -1;
  /** A line of the current chunk had bytes at or above 0x80 (see `write`). */
  private highSeen = false;

  /**
   * `labelsJson`: `,"labels":{…}` or empty, as NdjsonEncoder writes it. With an arena, the writer takes
   * PIECES_BYTES of it (size the arena for that).
   */
  constructor(labelsJson: string, arena: ByteArena | null = null) {
    this.tail = Buffer.from(`"${labelsJson}}\n`);
    this.tailCut = Buffer.from(`"${labelsJson},"cut":true}\n`);
    this.arena = arena;
    this.record = arena?.record ?? null;
    this.records = arena?.records ?? null;
    this.pieces = arena?.region(PIECES_BYTES) ?? null;
  }

  /**
   * Most bytes the record of a `length`-byte line from `src` can take (every byte escaped as \u00xx).
   * Call it before `write` for the same source: it also refreshes the per-file pieces.
   */
  bound(src: TimedLineSource, length: number): number {
    this.use(src);
    return (
      this.head.length + this.id.length + MESSAGE_OPEN.length + FIXED_ROOM + 6 * length + this.tailCut.length
    );
  }

  /** The next lines come from `src`: its per-file pieces are made again when it changed (`bound` does this too). */
  use(src: TimedLineSource): void {
    if (
      src !== this.src ||
      src.timestamp !== this.timestamp ||
      src.fileJson !== this.fileJson ||
      src.idPrefix !== this.idPrefix
    ) {
      this.refresh(src);
    }
  }

  /** About the bytes of the record of a `length`-byte line with nothing to escape (call `bound` first). */
  estimate(length: number): number {
    return this.head.length + this.id.length + MESSAGE_OPEN.length + 20 + length + this.tail.length;
  }

  /** Write the record of line buf[start, end) into `dst` from `pos` (room: see `bound`); returns its end. */
  write(
    dst: Buffer,
    pos: number,
    buf: Buffer,
    start: number,
    end: number,
    offset: number,
    cut: boolean,
  ): number {
    if (this.piecesAt >= 0) {
      if (buf !== this.srcBuf) this.source(buf);
      if (dst !== this.dstBuf) this.destination(dst);
      const s = this.srcAt;
      const d = this.dstAt;
      if (s >= 0 && d >= 0) {
        const c = cut ? 1 : 0;
        // After a line with bytes at or above 0x80, the lines of the same chunk are checked for valid
        // UTF-8 first (one pass, not a stopped one and then a second): such text comes in runs.
        const q = this.highSeen ? -1 : this.record!(s + start, s + end, d + pos, offset, c, 0, this.piecesAt);
        if (q >= 0) return q - d;
        // Bytes at or above 0x80: written as they are once the line is known to be valid UTF-8; invalid
        // UTF-8 takes the string path below.
        if (isUtf8(buf.subarray(start, end))) {
          this.highSeen = true;
          return this.record!(s + start, s + end, d + pos, offset, c, 1, this.piecesAt) - d;
        }
      }
    }
    let p = pos;
    dst.set(this.head, p);
    const digits = p + this.head.length;
    p = writeDigits(dst, digits, offset);
    const n = p - digits;
    dst.set(this.id, p);
    p += this.id.length;
    // The id ends with the same digits: copied, not computed again (bench:encode, best of 6 runs on a busy
    // machine: plain lines 237 → 221 ns, the others within noise).
    for (let k = 0; k < n; k++) dst[p + k] = dst[digits + k]!;
    p += n;
    dst.set(MESSAGE_OPEN, p);
    p += MESSAGE_OPEN.length;
    const q = this.message(dst, p, buf, start, end);
    // Not valid UTF-8: the string path (its opening quote is already written).
    p = q >= 0 ? q : p - 1 + dst.write(JSON.stringify(buf.toString('utf8', start, end)), p - 1) - 1;
    const tail = cut ? this.tailCut : this.tail;
    dst.set(tail, p);
    return p + tail.length;
  }

  /**
   * The records of as many whole lines of buf[start, end) as WebAssembly takes in one call (the bytes at
   * `offset` of the file; see `records` in json-escape.wat for where it stops), written into `dst` from
   * `pos`, none ending past `limit`, at most `maxLines`. Returns where the first line not written starts
   * (`start` when none was, and always without an arena, for text with bytes at or above 0x80 in this chunk,
   * or where `limit` leaves less than RECORDS_SLACK before the end of `dst`); `linesEnd` and `linesWritten`
   * say what was written. Call `use` first for the same source.
   */
  writeLines(
    dst: Buffer,
    pos: number,
    limit: number,
    buf: Buffer,
    start: number,
    end: number,
    offset: number,
    maxLine: number,
    maxLines: number,
  ): number {
    this.linesWritten = 0;
    if (this.piecesAt < 0 || this.highSeen || limit + RECORDS_SLACK > dst.length) return start;
    if (buf !== this.srcBuf) this.source(buf);
    if (dst !== this.dstBuf) this.destination(dst);
    const s = this.srcAt;
    const d = this.dstAt;
    if (s < 0 || d < 0) return start;
    const stop = this.records!(
      s + start,
      s + end,
      d + pos,
      d + limit,
      offset,
      this.piecesAt,
      maxLine,
      maxLines,
    );
    const result = this.arena!.recordsResult;
    this.linesEnd = result[0]! - d;
    this.linesWritten = result[1]!;
    return stop - s;
  }

  /** The escaped bytes of buf[start, end) at dst[p…]; returns the end, or -1 when they are not valid UTF-8. */
  private message(dst: Buffer, p: number, buf: Buffer, start: number, end: number): number {
    if (buf !== this.srcBuf) this.source(buf);
    if (dst !== this.dstBuf) this.destination(dst);
    const sv = this.srcView;
    const dv = this.dstView;
    /** The line is valid UTF-8: checked (once) at its first byte ≥ 0x80. */
    let valid = false;
    let i = start;
    while (i < end) {
      if (i + 4 <= end) {
        const x = sv.getInt32(i, true);
        const q = x ^ QUOTES;
        const b = x ^ BACKSLASHES;
        // Exact for "is there any": a byte below 0x20, a `"`, a `\` (a zero byte after the xor).
        const toEscape = ((x - SPACES) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b);
        if ((toEscape & HIGH) === 0 && ((x & HIGH) === 0 || valid)) {
          dv.setInt32(p, x, true);
          i += 4;
          p += 4;
          continue;
        }
      }
      // One byte at a time until the next word.
      const c = buf[i]!;
      if (c >= 0x80) {
        if (!valid) {
          if (!isUtf8(buf.subarray(start, end))) return -1;
          valid = true;
        }
        dst[p++] = c;
      } else if (c < 0x20 || c === 0x22 || c === 0x5c) {
        dst[p++] = 0x5c;
        const short = SHORT[c]!;
        if (short !== 0) {
          dst[p++] = short;
        } else {
          dst[p++] = 0x75; // u00xx
          dst[p++] = 0x30;
          dst[p++] = 0x30;
          dst[p++] = HEX[c >> 4]!;
          dst[p++] = HEX[c & 15]!;
        }
      } else {
        dst[p++] = c;
      }
      i++;
    }
    return p;
  }

  private source(buf: Buffer): void {
    this.srcBuf = buf;
    this.srcView = new DataView(buf.buffer, buf.byteOffset, buf.length);
    this.srcAt = this.arena?.at(buf) ?? -1;
  }

  private destination(dst: Buffer): void {
    this.dstBuf = dst;
    this.dstView = new DataView(dst.buffer, dst.byteOffset, dst.length);
    this.dstAt = this.arena?.at(dst) ?? -1;
  }

  private refresh(src: TimedLineSource): void {
    this.src = src;
    this.timestamp = src.timestamp;
    this.fileJson = src.fileJson;
    this.idPrefix = src.idPrefix;
    this.head = Buffer.from(`{"timestamp":"${src.timestamp}","file":${src.fileJson},"offset":`);
    this.id = Buffer.from(`,"id":"${src.idPrefix}`);
    this.piecesAt = -1;
    this.highSeen = false;
    const pieces = this.pieces;
    const parts = [this.head, this.id, MESSAGE_OPEN, this.tail, this.tailCut];
    if (pieces === null || PIECES_HEADER + parts.reduce((n, b) => n + b.length, 0) > pieces.length) return;
    let at = PIECES_HEADER;
    parts.forEach((b, i) => {
      pieces.writeInt32LE(b.length, 4 * i);
      pieces.set(b, at);
      at += b.length;
    });
    this.piecesAt = this.arena!.at(pieces);
  }
}

/** Decimal digits of a non-negative integer at dst[p…]; returns the end. */
function writeDigits(dst: Buffer, p: number, n: number): number {
  const len = digitCount(n);
  let q = p + len;
  if (n <= 0x7fffffff) {
    // Small integers: V8 turns the division by a constant into a multiplication.
    let x = n | 0;
    while (x >= 10) {
      const next = (x / 10) | 0;
      dst[--q] = 48 + x - next * 10;
      x = next;
    }
    dst[--q] = 48 + x;
  } else {
    while (n >= 10) {
      const d = n % 10;
      dst[--q] = 48 + d;
      n = (n - d) / 10;
    }
    dst[--q] = 48 + n;
  }
  return p + len;
}

function digitCount(n: number): number {
  if (n < 100000) return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : 5;
  let len = 6;
  for (let x = n / 1000000; x >= 1; x /= 10) len++;
  return len;
}
