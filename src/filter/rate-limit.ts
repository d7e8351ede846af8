// LOGFERRY_RATE_LIMIT: a token bucket per file; by default a file past it is read later (lines wait on disk).
import { fstatSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { RateLimit } from './rules.js';

/** Lines a bucket holds: refilled at `rate` per second up to `burst`; may go below zero (a debt). */
class Bucket {
  tokens: number;
  at: number;

  constructor(
    private readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.at = now;
  }

  refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) * this.limit.rate) / 1000);
      this.at = now;
    }
  }
}

/** LOGFERRY_RATE_LIMIT_MODE=drop: a record past the limit of its file is dropped (take() is false). */
export class DropLimiter {
  private readonly buckets = new WeakMap<object, Bucket>();

  constructor(readonly limit: RateLimit) {}

  take(file: object, now: number): boolean {
    let b = this.buckets.get(file);
    if (b === undefined) {
      b = new Bucket(this.limit, now);
      this.buckets.set(file, b);
    }
    b.refill(now);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}

/** What the read throttle needs of a tailed file (the Tailer has it). */
export interface ThrottledFile {
  readonly path: string;
  readonly fh: FileHandle | null;
  /** Lines framed so far: what was read since the last look is charged to the bucket. */
  readonly linesRead: number;
  readonly bytesRead: number;
  /** Last known size (for the lag in /metrics and `logferry status`). */
  size: number;
}

interface ReadState {
  bucket: Bucket;
  linesSeen: number;
  timer: NodeJS.Timeout | null;
  waitingSince: number;
  /** Milliseconds spent waiting for the bucket, finished waits only. */
  waitedMs: number;
}

/** Smallest read of a throttled file, so a slow limit does not turn into many tiny reads. */
const MIN_READ_BYTES = 4096;

/**
 * The lossless mode: before each read of a file the read loop asks `defer`; a file whose bucket is empty
 * is left out of the loop until the bucket has a line again. Lines read are charged after the fact, so
 * `readBytes` keeps each read near what the bucket holds (from the file's mean line length).
 */
export class ReadThrottle {
  private readonly files = new WeakMap<ThrottledFile, ReadState>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly limit: RateLimit) {}

  /** True when `t` must wait now; `resume` is then called once, when it may be read again. */
  defer(t: ThrottledFile, resume: () => void): boolean {
    const s = this.state(t);
    if (s.timer !== null) return true;
    const now = Date.now();
    s.bucket.refill(now);
    s.bucket.tokens -= t.linesRead - s.linesSeen;
    s.linesSeen = t.linesRead;
    if (s.bucket.tokens >= 1) return false;
    const ms = Math.max(1, Math.ceil(((1 - s.bucket.tokens) * 1000) / this.limit.rate));
    s.waitingSince = now;
    // The backlog stays on disk: its size is what the lag gauges compare the delivered offset with.
    if (t.fh !== null) {
      try {
        t.size = Math.max(t.size, fstatSync(t.fh.fd).size);
      } catch {
        // A closed descriptor: the next read finds out.
      }
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      s.timer = null;
      s.waitedMs += Date.now() - s.waitingSince;
      resume();
    }, ms);
    s.timer = timer;
    this.timers.add(timer);
    return true;
  }

  /** How many bytes to read from `t` now: about the lines its bucket holds, at most `max`. */
  readBytes(t: ThrottledFile, max: number): number {
    const s = this.state(t);
    if (t.linesRead === 0) return Math.min(max, MIN_READ_BYTES);
    const perLine = t.bytesRead / t.linesRead;
    const lines = Math.max(1, s.bucket.tokens);
    return Math.min(max, Math.max(MIN_READ_BYTES, Math.ceil(lines * perLine)));
  }

  /** Per file: waiting now, and seconds waited in all. */
  stats(t: ThrottledFile): { waiting: boolean; waitedSeconds: number } {
    const s = this.files.get(t);
    if (s === undefined) return { waiting: false, waitedSeconds: 0 };
    const now = s.timer !== null ? Date.now() - s.waitingSince : 0;
    return { waiting: s.timer !== null, waitedSeconds: (s.waitedMs + now) / 1000 };
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private state(t: ThrottledFile): ReadState {
    let s = this.files.get(t);
    if (s === undefined) {
      s = {
        bucket: new Bucket(this.limit, Date.now()),
        linesSeen: t.linesRead,
        timer: null,
        waitingSince: 0,
        waitedMs: 0,
      };
      this.files.set(t, s);
    }
    return s;
  }
}
