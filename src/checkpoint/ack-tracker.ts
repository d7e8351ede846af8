// Per file: the offset up to which every line is acknowledged, from acknowledgements that arrive in any order.

/** One batch's share of one file: the lines up to `end`. */
export interface Segment {
  readonly end: number;
  /** When the oldest line of the segment was read (for the age of the oldest undelivered line). */
  readonly at: number;
  done: boolean;
}

export class AckTracker {
  private readonly queue: Segment[] = [];
  private head = 0;
  /** Every line before this offset is acknowledged. */
  committed: number;

  constructor(
    start: number,
    private readonly onCommit: (tracker: AckTracker) => void,
  ) {
    this.committed = start;
  }

  /** Lines up to `end` left for the collector, in file order. */
  open(end: number, at = Date.now()): Segment {
    const seg: Segment = { end, at, done: false };
    this.queue.push(seg);
    return seg;
  }

  /** A segment was acknowledged (or dead-lettered); commit the contiguous acknowledged prefix. */
  done(seg: Segment): void {
    seg.done = true;
    let moved = false;
    while (this.head < this.queue.length && this.queue[this.head]!.done) {
      this.committed = this.queue[this.head]!.end;
      this.head++;
      moved = true;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (moved) this.onCommit(this);
  }

  /** When the oldest unacknowledged segment's first line was read, or null. */
  get oldestOpenAt(): number | null {
    return this.head < this.queue.length ? this.queue[this.head]!.at : null;
  }

  /** Segments sent but not yet acknowledged. */
  get outstanding(): number {
    return this.queue.length - this.head;
  }
}
