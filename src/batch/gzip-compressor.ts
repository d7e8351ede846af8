// Request bodies → gzip members, on libuv's thread pool, through a few deflate streams that are reset and reused.
//
// Why not `zlib.gzip()` per body: each call makes a new deflate state (window and hash tables) and new
// output chunks, for every body of a catch-up; a reset stream reuses them.
//
// Where the compressed bytes go: zlib emits a member as chunks of its own buffers; a member that fits is
// copied into a buffer of a BodyPool (`wires`), handed out with the batch and given back when it is done,
// so zlib's chunks die young instead of living as long as their batch. A member that does not fit is
// concatenated into a buffer of its own.
import { constants, createGzip, type Gzip } from 'node:zlib';
import type { BodyPool } from './body-pool.js';

/** gzip level 1: much faster than the default 6 on log lines, at a ratio still worth it. */
export const GZIP_LEVEL = 1;

/**
 * Pooled output buffers for bodies of `bodyBytes`: a quarter of a body, room for a member of log lines;
 * a member that does not fit gets a buffer of its own (above). Not the deflate bound of a whole body: the
 * budget charges each pooled buffer whole, as it is held.
 */
export function wireBytes(bodyBytes: number): number {
  return Math.max(64 * 1024, Math.ceil(bodyBytes / 4));
}

/** A compressed body, and the pooled buffer under it (to give back to `wires`), or null. */
export interface Compressed {
  wire: Buffer;
  pooled: Buffer | null;
}

export class GzipCompressor {
  private readonly free: Gzip[] = [];
  private readonly waiting: { resolve(g: Gzip): void; reject(err: unknown): void }[] = [];
  private created = 0;

  /**
   * At most `streams` bodies compress at once (libuv's pool has 4 threads by default; the host may have
   * fewer cores).
   * `wires`: where compressed bodies go (buffers of wireBytes(body size)); null for zlib's own.
   */
  constructor(
    private readonly streams: number,
    private readonly wires: BodyPool | null = null,
  ) {}

  /** Compressed bodies copied into a buffer of `wires` (for its unit test). */
  pooledOut = 0;

  async compress(body: Buffer): Promise<Compressed> {
    const g = await this.take();
    try {
      const out = await this.once(g, body);
      // deflateReset: the next body starts a new gzip member with the same state (zlib's documented
      // `reset()`, which @types/node declares on Deflate and Inflate only).
      (g as Gzip & { reset(): void }).reset();
      this.give(g);
      return out;
    } catch (err) {
      // A stream that failed is not reused.
      g.destroy();
      this.created--;
      this.give(null);
      throw err;
    }
  }

  private take(): Promise<Gzip> {
    const g = this.free.pop();
    if (g !== undefined) return Promise.resolve(g);
    if (this.created < this.streams) return Promise.resolve(this.make());
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** A new stream, counted once it exists (if making it throws, the count stays right). */
  private make(): Gzip {
    // zlib's default output chunks (16 KiB): they are copied out at once, and small ones fill and die young.
    const g = createGzip({ level: GZIP_LEVEL });
    this.created++;
    return g;
  }

  /** Streams made and not dropped (at most `streams`). */
  get open(): number {
    return this.created;
  }

  /** A stream is free again (null: one was dropped, so a new one may be made). */
  private give(g: Gzip | null): void {
    const w = this.waiting.shift();
    if (w === undefined) {
      if (g !== null) this.free.push(g);
      return;
    }
    if (g !== null) {
      w.resolve(g);
      return;
    }
    try {
      w.resolve(this.make());
    } catch (err) {
      // Its body goes uncompressed (the batcher's fallback); the next one tries again.
      w.reject(err);
    }
  }

  /** One complete gzip member of `body` from a fresh or reset stream, in a buffer of `wires` if it fits. */
  private async once(g: Gzip, body: Buffer): Promise<Compressed> {
    const chunks = await member(g, body);
    let n = 0;
    for (const c of chunks) n += c.length;
    const wires = this.wires;
    if (wires !== null && n <= wires.size) {
      const into = wires.take();
      let at = 0;
      for (const c of chunks) at += c.copy(into, at);
      this.pooledOut++;
      return { wire: into.subarray(0, n), pooled: into };
    }
    return { wire: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n), pooled: null };
  }
}

/** The chunks of one complete gzip member of `body` from a fresh or reset stream. */
function member(g: Gzip, body: Buffer): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      chunks.push(c);
    };
    const onError = (err: Error) => {
      g.off('data', onData);
      reject(err);
    };
    g.on('data', onData);
    g.once('error', onError);
    g.write(body);
    g.flush(constants.Z_FINISH, (err?: Error | null) => {
      g.off('data', onData);
      g.off('error', onError);
      if (err) reject(err);
      else resolve(chunks);
    });
  });
}
