// One tracked file: its descriptor, read offset, identity, line framer and acknowledgement tracker.
import type { FileHandle } from 'node:fs/promises';
import type { RawLineSource } from '../arena/raw-ndjson-writer.js';
import { AckTracker } from '../checkpoint/ack-tracker.js';
import { type FramedLine, LineFramer, type LineReceiver } from '../frame/line-framer.js';
import { EMPTY_FINGERPRINT, type Hashed, saltedIdKey } from './file-identity.js';
import { TailerLife, type TailerState } from './tailer-state.js';

/** The next stage: receives each framed line of a tailed file. */
export interface LineOutput {
  /** The line's content is buf[start, end), valid only during the call (see LineReceiver). */
  line(from: Tailer, ...line: FramedLine): void;
  /** Where the framer writes the lines it offers in bulk (see LineReceiver.lineTable), where the output takes them. */
  readonly lineTable?: Int32Array;
  /** Many framed lines at once (see LineReceiver.lines): how many it took. */
  lines?(from: Tailer, buf: Buffer, first: number, count: number, offset: number, end: number): number;
}

export class Tailer implements LineReceiver, RawLineSource {
  /** State and descriptor; changed only through TailerTable.step. */
  readonly life: TailerLife;
  path: string;
  fileJson: string;
  idPrefix = '';
  /** Next byte to read. */
  readOffset: number;
  framer: LineFramer;
  ack: AckTracker;
  fingerprint: Hashed;
  /** Checkpoint entry needs rewriting (not part of the state: any live tailer may be behind on disk). */
  dirty = false;
  lastGrowthAt = Date.now();
  /** Read time of the current chunk (RFC 3339), shared by the lines framed from it. */
  timestamp = '';
  /** Bytes of the framer's partial line charged to the budget. */
  pendingCharged = 0;
  /** For metrics: lines and bytes read, and the size seen at the last end of file. */
  linesRead = 0;
  bytesRead = 0;
  size = 0;

  constructor(
    readonly key: string,
    readonly dev: string,
    readonly ino: string,
    path: string,
    offset: number,
    fingerprint: Hashed,
    fh: FileHandle,
    state: 'reading' | 'rotated',
    maxLineBytes: number,
    private readonly out: LineOutput,
    onCommit: (t: Tailer, tracker: AckTracker) => void,
  ) {
    this.path = path;
    this.fileJson = JSON.stringify(path);
    this.readOffset = offset;
    this.fingerprint = fingerprint;
    this.life = new TailerLife(fh, state);
    const many = out.lines;
    if (many !== undefined && out.lineTable !== undefined) {
      this.lineTable = out.lineTable;
      this.lines = (buf, first, count, at, end) => many.call(out, this, buf, first, count, at, end);
    }
    this.framer = new LineFramer(this, maxLineBytes, offset);
    this.ack = new AckTracker(offset, (tr) => onCommit(this, tr));
    this.onCommit = onCommit;
  }

  private readonly onCommit: (t: Tailer, tracker: AckTracker) => void;

  get state(): TailerState {
    return this.life.state;
  }

  /** Open exactly in the states that hold a descriptor (see holdsDescriptor). */
  get fh(): FileHandle | null {
    return this.life.fh;
  }

  /** Read to its end while a matching path leads to it. */
  get atEof(): boolean {
    return this.life.state === 'at-end';
  }

  /** The unfinished last line was delivered; let go once every segment is acknowledged. */
  get finishing(): boolean {
    return this.life.state === 'finishing';
  }
  /** Only where the output takes lines in bulk, so the framer asks nothing of the others. */
  readonly lines?: LineReceiver['lines'];
  readonly lineTable?: Int32Array;

  line(
    buf: Buffer,
    start: number,
    end: number,
    rawBytes: number,
    offset: number,
    next: number,
    cut: boolean,
  ): void {
    this.out.line(this, buf, start, end, rawBytes, offset, next, cut);
  }

  setIdKey(key: string): void {
    this.idPrefix = `${key}:`;
    // The entry must say so before a restart: it may hold the previous content's key, or none.
    this.dirty = true;
  }

  /**
   * The id key of the generation before a truncation (or of a checkpoint that no longer matches the file):
   * mixed into the key computed from the head, so rewritten lines do not reuse old ids when the file starts
   * with the same first line again.
   */
  idSalt = '';

  /** Set the id key computed from the file's head (dev, ino, first line). */
  setHeadIdKey(key: string): void {
    this.setIdKey(this.idSalt === '' ? key : saltedIdKey(this.idSalt, key));
  }

  get idKey(): string {
    return this.idPrefix.slice(0, -1);
  }

  moveTo(path: string): void {
    this.path = path;
    this.fileJson = JSON.stringify(path);
  }

  /** The file was truncated: what was read is flushed, and a new generation starts at offset 0. */
  restartAtZero(): void {
    this.framer.flushPartial();
    this.framer.reset(0);
    this.readOffset = 0;
    if (this.idPrefix !== '') this.idSalt = this.idKey;
    this.idPrefix = '';
    this.fingerprint = EMPTY_FINGERPRINT;
    this.ack = new AckTracker(0, (tr) => this.onCommit(this, tr));
    this.dirty = true;
  }
}
