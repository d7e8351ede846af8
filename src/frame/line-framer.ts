// Bytes → lines with exact byte offsets; CR stripped, invalid UTF-8 replaced, overlong lines cut into marked pieces.
//
// Why not split2: split2 decodes to strings before splitting, so byte offsets are lost as soon as a
// read ends inside a multi-byte character or the file holds invalid UTF-8, and it buffers a long
// line without bound. Framing on Buffers keeps offsets exact and touches each byte once (indexOf).

/**
 * Receives every framed line as bytes: its content is buf[start, end) (line ending removed), valid only
 * during the call (the buffer is reused); `offset` is where it starts in the file, `next` where the line
 * after it starts. Bytes, not a string: the raw ndjson path copies them into the request body as they are.
 */
export interface LineReceiver {
  line(...line: FramedLine): void;
  /**
   * Optional, with `lines`, for receivers that take many lines in one call: the framer writes the start and
   * end (pairs, offsets in the read buffer, the end without the line ending) of up to half its length
   * whole lines here, none longer than the line limit and none the rest of a cut one.
   */
  readonly lineTable?: Int32Array;
  /**
   * Takes the `count` lines of `lineTable` from index `first`, in `buf` (whose first byte is at file offset
   * `offset`; the last line's ending ends at `end`), returning how many it took; the framer passes the next
   * one to `line` as usual, then offers the rest, without framing them again.
   */
  lines?(buf: Buffer, first: number, count: number, offset: number, end: number): number;
}

/** What a framed line is made of (see LineReceiver). */
export type FramedLine = [
  buf: Buffer,
  start: number,
  end: number,
  rawBytes: number,
  offset: number,
  next: number,
  cut: boolean,
];

/** A receiver for stages that work on text: each line decoded from UTF-8 (invalid bytes become U+FFFD). */
export function textLines(
  fn: (text: string, rawBytes: number, offset: number, next: number, cut: boolean) => void,
): LineReceiver {
  return {
    line: (buf, start, end, rawBytes, offset, next, cut) =>
      fn(buf.toString('utf8', start, end), rawBytes, offset, next, cut),
  };
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Capacity of the unfinished-line buffer kept between reads. Grown for a longer line (up to maxLineBytes),
 * it is let go once that line is out, so one long line does not pin maxLineBytes per file for good.
 */
export const PENDING_KEEP_BYTES = 64 * 1024;

export class LineFramer {
  /** Absolute file offset of the next byte pushed. */
  private position: number;
  /** Bytes of an unfinished line, kept across reads; never more than maxLineBytes. */
  private pending: Buffer;
  private pendingLen = 0;
  /** True while the unfinished line is the continuation of a line already cut. */
  private continuing = false;

  constructor(
    private readonly receiver: LineReceiver,
    private readonly maxLineBytes: number,
    startOffset: number,
  ) {
    this.position = startOffset;
    this.pending = Buffer.alloc(0);
  }

  /** Offset of the first byte not yet part of an emitted line. */
  get committedEnd(): number {
    return this.position - this.pendingLen;
  }

  get pendingBytes(): number {
    return this.pendingLen;
  }

  /** The unfinished line's bytes (a view, valid until the next push). */
  get pendingView(): Buffer {
    return this.pending.subarray(0, this.pendingLen);
  }

  /** Bytes allocated for the unfinished line (at most PENDING_KEEP_BYTES between long lines). */
  get pendingCapacity(): number {
    return this.pending.length;
  }

  /** Forget buffered bytes and restart at `offset` (truncation). */
  reset(offset: number): void {
    this.position = offset;
    this.pendingLen = 0;
    this.continuing = false;
    this.shrink();
  }

  /** Frame bytes buf[0, end). The buffer may be reused by the caller afterwards. */
  push(buf: Buffer, end: number): void {
    const base = this.position;
    const max = this.maxLineBytes;
    // Search only the bytes pushed: past `end`, a reused buffer holds stale bytes (one view per read).
    const view = end === buf.length ? buf : buf.subarray(0, end);
    const receiver = this.receiver;
    let pos = 0;
    while (pos < end) {
      // Whole lines, none of them the rest of a cut one, go to a receiver that takes them in bulk.
      if (this.pendingLen === 0 && !this.continuing && receiver.lines !== undefined) {
        const next = this.bulk(buf, view, pos, base);
        if (next !== pos) {
          pos = next;
          continue;
        }
      }
      const nl = view.indexOf(LF, pos);
      const stop = nl === -1 ? end : nl;
      // Bytes [pos, stop) continue the current line: cut it while it is longer than the limit.
      while (this.pendingLen + (stop - pos) > max) {
        let take: number;
        if (this.pendingLen === 0) {
          take = utf8Boundary(buf, pos, max);
          this.receiver.line(buf, pos, pos + take, take, base + pos, base + pos + take, true);
        } else {
          // Same boundary as in one read: the piece is `n` bytes of pending ++ buf[pos, stop).
          const start = base + pos - this.pendingLen;
          const n = utf8BoundaryJoined(this.pending, this.pendingLen, buf, pos, max);
          take = Math.max(0, n - this.pendingLen);
          this.keep(buf, pos, pos + take);
          this.receiver.line(this.pending, 0, n, n, start, start + n, true);
          // A character that began in the pending bytes starts the next piece.
          this.pending.copy(this.pending, 0, n, this.pendingLen);
          this.pendingLen -= n;
        }
        this.continuing = true;
        pos += take;
      }
      if (nl === -1) {
        this.keep(buf, pos, end);
        break;
      }
      if (this.pendingLen === 0) {
        this.emit(buf, pos, nl, base + pos, base + nl + 1);
      } else {
        this.keep(buf, pos, nl);
        this.emit(this.pending, 0, this.pendingLen, base + nl - this.pendingLen, base + nl + 1);
        this.pendingLen = 0;
      }
      pos = nl + 1;
    }
    this.position = base + end;
    this.shrink();
  }

  /**
   * Frames the whole lines from `pos` into the receiver's line table and offers them; a line the receiver
   * leaves goes to `line`, and the rest are offered again. Returns where the framed lines end (`pos` when
   * there were none).
   */
  private bulk(buf: Buffer, view: Buffer, pos: number, base: number): number {
    const table = this.receiver.lineTable!;
    const cap = table.length >> 1;
    const max = this.maxLineBytes;
    let p = pos;
    let n = 0;
    while (n < cap) {
      const nl = view.indexOf(LF, p);
      // Unfinished, or longer than the limit (cut into pieces): the usual path.
      if (nl === -1 || nl - p > max) break;
      table[2 * n] = p;
      table[2 * n + 1] = nl > p && buf[nl - 1] === CR ? nl - 1 : nl;
      n++;
      p = nl + 1;
    }
    if (n === 0) return pos;
    let k = 0;
    while (k < n) {
      k += this.receiver.lines!(buf, k, n - k, base, p);
      if (k >= n) break;
      const start = table[2 * k]!;
      const next = k + 1 < n ? table[2 * k + 2]! : p;
      this.receiver.line(buf, start, table[2 * k + 1]!, next - start, base + start, base + next, false);
      k++;
    }
    return p;
  }

  /** Emit the unfinished last line as it is (its file was rotated away, or the agent is stopping). */
  flushPartial(): void {
    if (this.pendingLen === 0) return;
    const start = this.position - this.pendingLen;
    this.emit(this.pending, 0, this.pendingLen, start, this.position);
    this.pendingLen = 0;
    this.shrink();
  }

  /** A buffer grown for a long line goes back to PENDING_KEEP_BYTES once what it holds fits again. */
  private shrink(): void {
    if (this.pending.length <= PENDING_KEEP_BYTES || this.pendingLen > PENDING_KEEP_BYTES) return;
    const kept = Buffer.allocUnsafe(PENDING_KEEP_BYTES);
    this.pending.copy(kept, 0, 0, this.pendingLen);
    this.pending = kept;
  }

  private emit(buf: Buffer, from: number, to: number, offset: number, next: number): void {
    let contentEnd = to;
    if (contentEnd > from && buf[contentEnd - 1] === CR) contentEnd--;
    const cut = this.continuing;
    this.continuing = false;
    this.receiver.line(buf, from, contentEnd, next - offset, offset, next, cut);
  }

  private keep(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    const need = this.pendingLen + n;
    if (need > this.pending.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(Math.max(need, this.pending.length * 2, 256), this.maxLineBytes),
      );
      this.pending.copy(grown, 0, 0, this.pendingLen);
      this.pending = grown;
    }
    buf.copy(this.pending, this.pendingLen, from, to);
    this.pendingLen = need;
  }
}

/** How many bytes of buf from `from` fit in `max` without splitting a UTF-8 sequence (if possible). */
function utf8Boundary(buf: Buffer, from: number, max: number): number {
  let n = max;
  // Step back over at most 3 continuation bytes (10xxxxxx) so a character is not split.
  for (let i = 0; i < 3 && n > 1 && (buf[from + n]! & 0xc0) === 0x80; i++) n--;
  return (buf[from + n]! & 0xc0) === 0x80 ? max : n;
}

/** utf8Boundary over the bytes a[0, aLen) followed by b[bFrom, ...): a line whose start is pending. */
function utf8BoundaryJoined(a: Buffer, aLen: number, b: Buffer, bFrom: number, max: number): number {
  const at = (k: number): number => (k < aLen ? a[k]! : b[bFrom + k - aLen]!);
  let n = max;
  for (let i = 0; i < 3 && n > 1 && (at(n) & 0xc0) === 0x80; i++) n--;
  return (at(n) & 0xc0) === 0x80 ? max : n;
}
