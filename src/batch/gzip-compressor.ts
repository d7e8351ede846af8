// Request bodies → gzip members, on libuv's thread pool, through a few deflate streams that are reset and reused.
//
// Why not `zlib.gzip()` per body: each call makes a new deflate state (~256 KiB of window and hash tables)
// and new 16 KiB output chunks, ~800 times in a 256 MiB catch-up. Measured, three bench runs alternated
// with the previous build (256 MiB backlog, gzip): agent CPU 12.7/11.9/12.1 → 10.9/11.0/11.8 s per GB, the
// same MB/s; the main heap ([heap] in /proc/PID/smaps after a 2 M-line catch-up) 21 → 15-16 MB. The peak
// RSS did not fall (VmHWM 98-108 MB before, 104-110 after: within this machine's noise).
import { constants, createGzip, type Gzip } from 'node:zlib';

/** gzip level 1: measured ~3x faster than the default 6 on log lines, for a ratio still around 6-8x. */
export const GZIP_LEVEL = 1;

/** Output buffers of this size: a 1 MiB body of log lines compresses to ~130-170 KiB, one or two of them. */
const CHUNK = 128 * 1024;

export class GzipCompressor {
  private readonly free: Gzip[] = [];
  private readonly waiting: { resolve(g: Gzip): void; reject(err: unknown): void }[] = [];
  private created = 0;

  /** At most `streams` bodies compress at once (the thread pool has 4 threads; the machine maybe 2 cores). */
  constructor(private readonly streams: number) {}

  async compress(body: Buffer): Promise<Buffer> {
    const g = await this.take();
    try {
      const out = await once(g, body);
      // deflateReset: the next body starts a new gzip member with the same state (zlib's `reset()`, which
      // @types/node declares on Deflate and Inflate only).
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
    const g = createGzip({ level: GZIP_LEVEL, chunkSize: CHUNK });
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
}

/** One complete gzip member of `body` from a fresh or reset stream. */
function once(g: Gzip, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      n += c.length;
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
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n));
    });
  });
}
