// One WebAssembly memory for the read buffer and the request bodies, so SIMD code escapes lines from one to the other.
//
// WebAssembly can read and write only its own memory, so the buffer the files are read into and the bodies
// the records are written into are regions of one memory. It never grows (a grown memory would detach the
// buffers handed out), so it is sized at start for what the pipeline holds at once. Why WebAssembly at all:
// docs/architecture.md (the raw path).
import { LogferryError } from '../errors.js';
import { JSON_ESCAPE_WASM } from './json-escape-wasm.js';

/** Bytes at the start of the memory that hold the module's tables and, at RESULTS, what `records` left. */
const TABLES = 320;
const RESULTS = 48;
const PAGE = 64 * 1024;
/** Regions start on a cache line. */
const ALIGN = 64;

/** What is used of the WebAssembly global (not in the ES lib, nor in @types/node 20). */
declare const WebAssembly: {
  Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
};

export type WriteRecords = (
  src: number,
  lines: number,
  count: number,
  dst: number,
  limit: number,
  offset: number,
  pieces: number,
) => number;

/** Compiled once, when this file is loaded; null where WebAssembly SIMD is not available. */
const MODULE: object | null = (() => {
  try {
    return new WebAssembly.Module(Buffer.from(JSON_ESCAPE_WASM, 'base64'));
  } catch {
    return null;
  }
})();

export class ByteArena {
  readonly buffer: ArrayBuffer;
  /** See json-escape.wat: the records of lines framed by the caller, written one after another. */
  readonly records: WriteRecords;
  /** What the last `records` call left: [where its records end]. */
  readonly recordsResult: Int32Array;
  private next = TABLES;

  private constructor(buffer: ArrayBuffer, exports: Record<string, unknown>) {
    this.buffer = buffer;
    this.records = exports.records as WriteRecords;
    this.recordsResult = new Int32Array(buffer, RESULTS, 1);
  }

  /**
   * An arena with room for regions of the given sizes, or null where WebAssembly SIMD is not available
   * (every line then takes the records path, with the same output).
   */
  static create(regionBytes: readonly number[]): ByteArena | null {
    let bytes = TABLES;
    for (const n of regionBytes) bytes += align(n);
    const pages = Math.ceil(bytes / PAGE);
    if (MODULE === null) return null;
    try {
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
      const instance = new WebAssembly.Instance(MODULE, { env: { memory } });
      return new ByteArena(memory.buffer, instance.exports);
    } catch {
      return null;
    }
  }

  /** A region of `n` bytes, for the arena's life; throws when the arena was not sized for it. */
  region(n: number): Buffer {
    const at = this.next;
    if (at + n > this.buffer.byteLength) {
      throw new LogferryError(
        'LOGFERRY_ARENA_FULL',
        `byte arena: no room for ${n} bytes (${this.buffer.byteLength - at} left)`,
      );
    }
    this.next = at + align(n);
    return Buffer.from(this.buffer, at, n);
  }

  /** Where `buf` starts in the arena's memory, or -1 when it is not a view of it. */
  at(buf: Buffer): number {
    return buf.buffer === this.buffer ? buf.byteOffset : -1;
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
