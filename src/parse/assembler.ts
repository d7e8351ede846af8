// Per file: lines → records, each with how far the file's checkpoint may move once it is acknowledged.
//
// Unwraps container log lines (joining a runtime's partial lines) and joins multiline records per stream.
//
// Checkpoint rule. A record goes to the batcher with an `ack` offset: once it is acknowledged, the
// checkpoint may move there. A restart reads from the checkpoint, so the checkpoint must never sit
// inside a record that is still being assembled (its first lines would be lost to the record) nor
// inside one that spans it (the restart would see that record's tail alone). Every pending piece
// (a partial container line, a multiline record) gets a `floor` when it opens: its own start, or the
// floor of a piece already pending (pieces of other streams pending now will span this start). The
// ack is the lowest floor of the pending pieces, or everything consumed when nothing is pending.
// It never decreases.

import type { StartRule, StartRuleFactory } from './multiline.js';
import type { ContainerFormat, ContainerLine } from './parsers.js';
import { decodeCri, decodeDocker } from './parsers.js';

/** One framed line as it comes from a file. */
export interface LineIn {
  text: string;
  /** Bytes of the line in the file, line ending included. */
  bytes: number;
  offset: number;
  next: number;
  /** A piece of an overlong line (the framer cut it). */
  cut: boolean;
  /** Read time, RFC 3339. */
  readTime: string;
  /** The file's record id prefix when the line was read. */
  idPrefix: string;
}

/** A record, ready for the parser and the encoder. */
export interface AssembledRecord {
  /** The whole text: the line, the joined container line, or the multiline record joined with \n. */
  text: string;
  /** Bytes of the file the record covers (its lines). */
  bytes: number;
  /** Where its first line starts; the record's id is idPrefix + offset. */
  offset: number;
  /** Where the line after its last line starts. */
  next: number;
  idPrefix: string;
  readTime: string;
  lines: number;
  /** A piece: of an overlong line, or of a record longer than the multiline caps. */
  cut: boolean;
  /** Container stream (`stdout`/`stderr`) and the runtime's timestamp, for cri/docker. */
  stream: string | null;
  containerTime: string | null;
  /** The line should have been a container log line and is not: shipped raw. */
  containerError: boolean;
  /** Not parsed (a piece of a cut line). */
  raw: boolean;
}

export interface AssemblerOptions {
  container: ContainerFormat | null;
  multiline: StartRuleFactory | null;
  maxLines: number;
  maxBytes: number;
}

/** Pending piece of one stream: a partial container line or a multiline record being assembled. */
interface Piece {
  parts: string[];
  bytes: number;
  offset: number;
  next: number;
  idPrefix: string;
  readTime: string;
  time: string | null;
  lines: number;
  cut: boolean;
  floor: number;
}

interface Stream {
  name: string | null;
  rule: StartRule | null;
  partial: Piece | null;
  record: Piece | null;
  lastAt: number;
  /** The previous record of this stream was cut at a cap: the next one is a piece too. */
  continuing: boolean;
  /** The partial join was cut at maxBytes: the rest continues it. */
  partialContinuing: boolean;
}

export type RecordOut = (rec: AssembledRecord, ack: number) => void;

export class RecordAssembler {
  private readonly streams = new Map<string, Stream>();
  /** Next offset after the last line taken in. */
  private consumed: number;
  /** Bytes held in pending pieces (charged to the memory budget by the caller). */
  pendingBytes = 0;
  private pendingPieces = 0;

  constructor(
    private readonly opts: AssemblerOptions,
    private readonly out: RecordOut,
    start: number,
    /** Called with the change of pendingBytes (memory budget). */
    private readonly charge: (delta: number) => void = () => {},
  ) {
    this.consumed = start;
  }

  get pending(): boolean {
    return this.pendingPieces > 0;
  }

  push(line: LineIn, now = Date.now()): void {
    this.consumed = line.next;
    if (line.cut) {
      // A piece of an overlong line is shipped as it is: it cannot be parsed, nor told to start a record.
      this.out(this.single(line, line.text, null, null, false, true), this.ack());
      return;
    }
    if (this.opts.container === null) {
      this.logical(this.stream(null), line, line.text, null, now);
      return;
    }
    const c: ContainerLine | null =
      this.opts.container === 'cri' ? decodeCri(line.text) : decodeDocker(line.text);
    if (c === null) {
      this.out(this.single(line, line.text, null, null, true, false), this.ack());
      return;
    }
    const s = this.stream(c.stream);
    s.lastAt = now;
    if (c.partial || s.partial !== null) {
      if (s.partial === null) {
        // This stream's multiline record ends before the partial line or takes it in: not a reason to hold.
        s.partial = this.open(line, c.content, c.time, s.partialContinuing, s.record);
        s.partialContinuing = false;
      } else {
        this.append(s.partial, line, c.content);
      }
      if (!c.partial) {
        const p = this.close(s, 'partial');
        this.logicalPiece(s, p, now);
      } else if (s.partial.bytes >= this.opts.maxBytes) {
        // A runtime line split into pieces beyond the cap: what is joined so far goes on as a piece.
        const p = this.close(s, 'partial');
        p.cut = true;
        s.partialContinuing = true;
        this.logicalPiece(s, p, now);
      }
      return;
    }
    this.logical(s, line, c.content, c.time, now);
  }

  /** A whole (logical) line of a stream → multiline, or a record of its own. */
  private logical(
    s: Stream,
    line: LineIn,
    text: string,
    time: string | null,
    now: number,
    floor = Number.POSITIVE_INFINITY,
  ): void {
    s.lastAt = now;
    if (s.rule === null) {
      this.out(this.single(line, text, s.name, time, false, false), this.ack());
      return;
    }
    const start = s.rule(text);
    const r = s.record;
    if (r === null) {
      s.record = this.open(line, text, time, s.continuing, null, floor);
      s.continuing = false;
      return;
    }
    const capped = r.lines + 1 > this.opts.maxLines || r.bytes + line.bytes > this.opts.maxBytes;
    if (!start && !capped) {
      this.append(r, line, text);
      if (r.floor > floor) r.floor = floor;
      return;
    }
    const done = this.close(s, 'record');
    if (!start) done.cut = true;
    s.record = this.open(line, text, time, !start, null, floor);
    this.out(this.toRecord(done, s.name, false), this.ack());
  }

  /** A joined partial container line → multiline, or a record of its own. */
  private logicalPiece(s: Stream, p: Piece, now: number): void {
    const text = p.parts.join('');
    const line: LineIn = {
      text,
      bytes: p.bytes,
      offset: p.offset,
      next: p.next,
      cut: p.cut,
      readTime: p.readTime,
      idPrefix: p.idPrefix,
    };
    if (s.rule === null || p.cut) {
      this.out(
        { ...this.single(line, text, s.name, p.time, false, false), lines: p.lines, cut: p.cut },
        this.ack(),
      );
      return;
    }
    // Its floor was taken when it opened (other streams' records pending then span its start): the
    // multiline record it joins or starts keeps the lower one.
    this.logical(s, line, text, p.time, now, p.floor);
  }

  /** Emit every pending record of streams idle since `before` (the multiline timeout). */
  flushIdle(before: number): void {
    for (const s of this.byStart()) if (s.lastAt <= before) this.flushStream(s);
  }

  /** Emit everything pending (the file is finished, or the agent stops). */
  flushAll(): void {
    for (const s of this.byStart()) this.flushStream(s);
  }

  /** Streams with something pending, the one whose pending record starts first in the file first. */
  private byStart(): Stream[] {
    const start = (s: Stream) => Math.min(s.partial?.offset ?? Infinity, s.record?.offset ?? Infinity);
    return [...this.streams.values()].filter((s) => start(s) < Infinity).sort((a, b) => start(a) - start(b));
  }

  private flushStream(s: Stream): void {
    if (s.partial !== null) {
      const p = this.close(s, 'partial');
      this.logicalPiece(s, p, s.lastAt);
    }
    if (s.record !== null) {
      const r = this.close(s, 'record');
      this.out(this.toRecord(r, s.name, false), this.ack());
    }
  }

  /** The oldest time a pending record last grew; Infinity when nothing is pending. */
  oldestPendingAt(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const s of this.streams.values()) if ((s.partial || s.record) && s.lastAt < t) t = s.lastAt;
    return t;
  }

  private stream(name: string | null): Stream {
    const key = name ?? '';
    let s = this.streams.get(key);
    if (s === undefined) {
      s = {
        name,
        rule: this.opts.multiline ? this.opts.multiline() : null,
        partial: null,
        record: null,
        lastAt: 0,
        continuing: false,
        partialContinuing: false,
      };
      this.streams.set(key, s);
    }
    return s;
  }

  private lowestFloor(skip: Piece | null = null): number {
    let f = Number.POSITIVE_INFINITY;
    for (const s of this.streams.values()) {
      if (s.partial !== null && s.partial.floor < f) f = s.partial.floor;
      if (s.record !== null && s.record !== skip && s.record.floor < f) f = s.record.floor;
    }
    return f;
  }

  /** How far the checkpoint may move once the record emitted now is acknowledged. */
  private ack(): number {
    return this.pendingPieces > 0 ? Math.min(this.lowestFloor(), this.consumed) : this.consumed;
  }

  private open(
    line: LineIn,
    text: string,
    time: string | null,
    cut: boolean,
    skip: Piece | null = null,
    inherited = Number.POSITIVE_INFINITY,
  ): Piece {
    const floor = Math.min(line.offset, this.lowestFloor(skip), inherited);
    this.pendingPieces++;
    this.pendingBytes += line.bytes;
    this.charge(line.bytes);
    return {
      parts: [text],
      bytes: line.bytes,
      offset: line.offset,
      next: line.next,
      idPrefix: line.idPrefix,
      readTime: line.readTime,
      time,
      lines: 1,
      cut,
      floor,
    };
  }

  private append(p: Piece, line: LineIn, text: string): void {
    p.parts.push(text);
    p.bytes += line.bytes;
    p.next = line.next;
    p.lines++;
    this.pendingBytes += line.bytes;
    this.charge(line.bytes);
  }

  private close(s: Stream, which: 'partial' | 'record'): Piece {
    const p = s[which]!;
    s[which] = null;
    this.pendingPieces--;
    this.pendingBytes -= p.bytes;
    this.charge(-p.bytes);
    return p;
  }

  private toRecord(p: Piece, stream: string | null, raw: boolean): AssembledRecord {
    return {
      text: p.parts.length === 1 ? p.parts[0]! : p.parts.join('\n'),
      bytes: p.bytes,
      offset: p.offset,
      next: p.next,
      idPrefix: p.idPrefix,
      readTime: p.readTime,
      lines: p.lines,
      cut: p.cut,
      stream,
      containerTime: p.time,
      containerError: false,
      raw,
    };
  }

  private single(
    line: LineIn,
    text: string,
    stream: string | null,
    time: string | null,
    containerError: boolean,
    raw: boolean,
  ): AssembledRecord {
    return {
      text,
      bytes: line.bytes,
      offset: line.offset,
      next: line.next,
      idPrefix: line.idPrefix,
      readTime: line.readTime,
      lines: 1,
      cut: line.cut,
      stream,
      containerTime: time,
      containerError,
      raw,
    };
  }
}
