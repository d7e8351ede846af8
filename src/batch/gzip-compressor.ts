// Request bodies → gzip members, on libuv's thread pool, through a few deflate streams that are reset and reused.
//
// Why not `zlib.gzip()` per body: each call makes a new deflate state (~256 KiB of window and hash tables)
// and new 16 KiB output chunks, ~800 times in a 256 MiB catch-up. Measured, three bench runs alternated
// with the previous build (256 MiB backlog, gzip): agent CPU 12.7/11.9/12.1 → 10.9/11.0/11.8 s per GB, the
// same MB/s; the main heap ([heap] in /proc/PID/smaps after a 2 M-line catch-up) 21 → 15-16 MB. The peak
// RSS did not fall (VmHWM 98-108 MB before, 104-110 after: within this machine's noise).
//
// Where the compressed bytes go: into a buffer of a BodyPool (`wires`), handed out with the batch and given
// back when it is done. Node's zlib writes each stream's output into its `_outBuffer` from `_outOffset`
// and allocates a new one only when that is full; it has no public way to name the output buffer, so the
// compressor sets those two fields before each body (they exist, unchanged, in Node 20 and 26: a unit test
// checks the pooled path is taken). A member larger than the buffer goes on in buffers zlib allocates, and
// whenever zlib wrote elsewhere the chunks are copied into one buffer as before: the fields only decide
// where the bytes go, never what they are. Why: zlib's own output buffers outlived their batches into
// V8's old generation and piled up until a full GC (ArrayBuffers sampled in the agent climbed to ~25 MB).
import { constants, createGzip, type Gzip } from 'node:zlib';
import type { BodyPool } from './body-pool.js';

/** gzip level 1: measured ~3x faster than the default 6 on log lines, for a ratio still around 6-8x. */
export const GZIP_LEVEL = 1;

/** Output buffers of this size: a 1 MiB body of log lines compresses to ~130-170 KiB, one or two of them. */
const CHUNK = 128 * 1024;

/**
 * Pooled output buffers for bodies of `bodyBytes`: a quarter of a body, room for a member of log lines
 * (~130-170 KiB per MiB); a member that does not fit goes on in zlib's own buffers and is copied out (above).
 * Not the deflate bound of a whole body: the budget charges each pooled buffer whole, as it is held.
 */
export function wireBytes(bodyBytes: number): number {
  return Math.max(64 * 1024, Math.ceil(bodyBytes / 4));
}

/** A compressed body, and the pooled buffer under it (to give back to `wires`), or null. */
export interface Compressed {
  wire: Buffer;
  pooled: Buffer | null;
}

/** The fields of Node's zlib streams that say where output goes (see above). */
interface ZlibOutput {
  _outBuffer?: Buffer;
  _outOffset?: number;
  _chunkSize?: number;
}

export class GzipCompressor {
  private readonly free: Gzip[] = [];
  private readonly waiting: { resolve(g: Gzip): void; reject(err: unknown): void }[] = [];
  private created = 0;

  /**
   * At most `streams` bodies compress at once (the thread pool has 4 threads; the machine maybe 2 cores).
   * `wires`: where compressed bodies go (buffers of wireBytes(body size)); null for zlib's own.
   */
  constructor(
    private readonly streams: number,
    private readonly wires: BodyPool | null = null,
  ) {}

  /** Compressed bodies written into a buffer of `wires` (for its unit test). */
  pooledOut = 0;

  async compress(body: Buffer): Promise<Compressed> {
    const g = await this.take();
    try {
      const out = await this.once(g, body);
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
    const g = createGzip({ level: GZIP_LEVEL, chunkSize: this.wires?.size ?? CHUNK });
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

  /** One complete gzip member of `body` from a fresh or reset stream, into a buffer of `wires` if it can. */
  private async once(g: Gzip, body: Buffer): Promise<Compressed> {
    const z = g as Gzip & ZlibOutput;
    const wires = this.wires;
    // Set before every body: after a member, the stream's `_outBuffer` is still the buffer handed out
    // with it (zlib replaces it only once full), and must never be written again.
    const into =
      wires !== null && typeof z._outOffset === 'number' && z._chunkSize === wires.size ? wires.take() : null;
    if (into !== null) {
      z._outBuffer = into;
      z._outOffset = 0;
    }
    let chunks: Buffer[];
    try {
      chunks = await member(g, body);
    } catch (err) {
      if (into !== null) wires!.give(into);
      throw err;
    }
    if (into !== null) {
      // Zlib wrote into `into` only if the chunks are its bytes from 0 on, in order.
      let n = 0;
      for (const c of chunks) {
        if (c.buffer !== into.buffer || c.byteOffset !== into.byteOffset + n) {
          n = -1;
          break;
        }
        n += c.length;
      }
      if (n >= 0) {
        this.pooledOut++;
        return { wire: into.subarray(0, n), pooled: into };
      }
      wires!.give(into);
    }
    return { wire: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), pooled: null };
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
