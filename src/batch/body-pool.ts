// Request bodies, reused: a full batch's buffer comes back when its batch no longer needs it.
//
// Why: bodies live long enough to reach V8's old generation, which a catch-up collects rarely, so a fresh
// buffer per batch would leave dead bodies piling up until the next full GC (figures: docs/performance.md).
//
// With a byte arena, the first `keep` bodies are regions of it (the raw path writes records into those with
// WebAssembly); they are never dropped, as the arena's memory cannot be given back. More bodies than that
// in use at once come from the heap, as without an arena.
import type { ByteArena } from '../arena/byte-arena.js';
import type { Batch } from './batch.js';

/** Free bodies are dropped after this long without a `take` (no catch-up going on). */
const IDLE_MS = 10_000;

export class BodyPool {
  private readonly free: ArrayBuffer[] = [];
  /** Most heap bodies kept free. */
  private readonly heapKeep: number;
  /** The arena's bodies: all of them, those given back, and those never handed out. */
  private readonly slots: Buffer[] = [];
  private readonly freeSlots: Buffer[] = [];
  private readonly freshSlots: Buffer[] = [];
  private readonly arena: ByteArena | null;
  private lastUse = 0;
  private timer: NodeJS.Timeout | null = null;
  taken = 0;
  reused = 0;

  /**
   * Bodies of `size` bytes; at most `keep` kept free, the first `inArena` of them regions of `arena` (when
   * there is one).
   */
  constructor(
    readonly size: number,
    keep: number,
    arena: ByteArena | null = null,
    inArena = keep,
  ) {
    this.arena = arena;
    const slots = arena === null ? 0 : Math.min(inArena, keep);
    this.heapKeep = keep - slots;
    for (let i = 0; i < slots; i++) this.slots.push(arena!.region(size));
    this.freshSlots.push(...this.slots);
  }

  /** A body of `size` bytes (contents undefined): a region of the arena, or its own ArrayBuffer. */
  take(): Buffer {
    this.lastUse = Date.now();
    this.taken++;
    const slot = this.freeSlots.pop();
    if (slot !== undefined) {
      this.reused++;
      return slot;
    }
    const fresh = this.freshSlots.pop();
    if (fresh !== undefined) return fresh;
    const ab = this.free.pop();
    if (ab === undefined) return Buffer.allocUnsafeSlow(this.size);
    this.reused++;
    return Buffer.from(ab);
  }

  /**
   * Give back a body from `take` (any view of it) that nothing will read or write again. Anything else
   * (another size, a buffer already given back) is ignored.
   */
  give(body: Buffer): void {
    if (this.arena !== null && this.arena.at(body) >= 0) {
      // An empty view at the end of a body starts where the next one does: it says nothing.
      if (body.length === 0) return;
      const slot = this.slotOf(body);
      if (slot !== undefined && !this.freeSlots.includes(slot) && !this.freshSlots.includes(slot)) {
        this.freeSlots.push(slot);
      }
      return;
    }
    const ab = body.buffer;
    if (!(ab instanceof ArrayBuffer) || ab.byteLength !== this.size) return;
    if (this.free.length >= this.heapKeep || this.free.includes(ab)) return;
    this.free.push(ab);
    this.lastUse = Date.now();
    this.armTrim();
  }

  /** Buffers for compressed bodies (see GzipCompressor); null without compression. */
  wires: BodyPool | null = null;

  /** The batch no longer reads its body, or its compressed body: their pooled buffers come back, once. */
  release(batch: Pick<Batch, 'pooled' | 'wirePooled'>): void {
    if (batch.pooled !== null) {
      this.give(batch.pooled);
      batch.pooled = null;
    }
    if (batch.wirePooled !== null) {
      this.wires?.give(batch.wirePooled);
      batch.wirePooled = null;
    }
  }

  get freeCount(): number {
    return this.free.length + this.freeSlots.length + this.freshSlots.length;
  }

  /** The arena body that `view` is a view of (it starts in it). */
  private slotOf(view: Buffer): Buffer | undefined {
    return this.slots.find(
      (s) => view.byteOffset >= s.byteOffset && view.byteOffset < s.byteOffset + this.size,
    );
  }

  private armTrim(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (Date.now() - this.lastUse >= IDLE_MS) this.free.length = 0;
      else if (this.free.length > 0) this.armTrim();
    }, IDLE_MS);
    this.timer.unref();
  }
}
