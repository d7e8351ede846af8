// Writes the acknowledged offsets of tracked files to the checkpoint store, one write at a time.
import type { Logger } from 'pino';
import { EMPTY_FINGERPRINT, type Identity, identity, identitySync } from '../tail/file-identity.js';
import type { Tailer } from '../tail/tailer.js';
import type { TailerView } from '../tail/tailer-table.js';
import type { CheckpointEntry, CheckpointStore } from './checkpoint-store.js';

/** An acknowledgement is in the checkpoint file at most this long after it arrived (writes coalesced). */
const ACK_CHECKPOINT_DELAY_MS = 100;

export class Checkpointer {
  private checkpointing: Promise<void> | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    /** The tracked files, by key. */
    private readonly tailers: TailerView,
    private readonly store: CheckpointStore,
    private readonly log: Logger,
    /** LOGFERRY_CHECKPOINT_INTERVAL_MS: a shorter interval shortens the delay after an acknowledgement too. */
    intervalMs: number,
  ) {
    this.delayMs = Math.min(ACK_CHECKPOINT_DELAY_MS, intervalMs);
  }

  private readonly delayMs: number;

  /** Something was acknowledged: write within delayMs, one write for all that arrive meanwhile. */
  soon(): void {
    if (this.soonTimer !== null || this.stopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      void this.checkpoint().catch(() => {});
    }, this.delayMs);
  }

  /** No more scheduled writes (the shutdown writes its own checkpoint). */
  stop(): void {
    this.stopped = true;
    if (this.soonTimer !== null) clearTimeout(this.soonTimer);
    this.soonTimer = null;
  }

  /** A file was let go: its entry is retired now, and dropped after a while (see CheckpointStore.retire). */
  markFinished(key: string): void {
    if (!this.tailers.has(key)) this.store.retire(key);
  }

  /** Persist the acknowledged offsets of every changed file. */
  async checkpoint(): Promise<void> {
    // A failed earlier write was logged; it must not stop this one (the shutdown checkpoint above all).
    while (this.checkpointing) await this.checkpointing.catch(() => {});
    this.checkpointing = this.writeCheckpoint();
    try {
      await this.checkpointing;
    } finally {
      this.checkpointing = null;
    }
  }

  private async writeCheckpoint(): Promise<void> {
    for (const t of [...this.tailers.values()]) {
      if (!t.dirty || keyOf(t) === '') continue;
      // Cleared before the awaits: an acknowledgement arriving meanwhile marks the file dirty again.
      t.dirty = false;
      const entry = await this.entryFor(t).catch(() => null);
      // Let go meanwhile (its entry retired): an entry written now would bring it back.
      if (this.tailers.get(t.key) !== t) continue;
      if (entry === null) {
        t.dirty = true;
        continue;
      }
      this.store.set(entry);
    }
    try {
      await this.store.flush();
    } catch (err) {
      this.log.error({ err, code: (err as { code?: string }).code }, 'checkpoint write failed; will retry');
      throw err;
    }
  }

  /**
   * The second signal: bring every file's entry up to what is acknowledged now, synchronously
   * (the process exits right after), then write the file. Files that cannot be read keep their entry.
   */
  writeSync(): void {
    for (const t of this.tailers.values()) {
      // Every file, not only the dirty ones: a write in progress has cleared `dirty` of the files it took.
      if (keyOf(t) === '' || t.fh === null) continue;
      try {
        if (t.idPrefix === '') {
          this.store.set(saltEntry(t));
          continue;
        }
        // As in entryFor: a file that no longer holds what was read keeps its entry as it was.
        const offset = t.ack.committed;
        const id = identitySync(t.fh.fd, t.fingerprint, t.readOffset, offset);
        if (id !== null) this.store.set(entryOf(t, offset, id, t.idKey));
      } catch {
        // Keep the previous entry: behind, never ahead.
      }
    }
    this.store.flushSync();
  }

  private async entryFor(t: Tailer): Promise<CheckpointEntry | null> {
    const fh = t.fh;
    if (fh === null) return null;
    if (t.idPrefix === '') return saltEntry(t);
    // The identity written must describe the bytes the offset counts: those the tailer read. A file
    // truncated (and maybe rewritten) that the tailer has not looked at since would lend this entry its
    // new head and tail, and the next start would resume the new content past its first lines. Such a
    // file keeps its previous entry (behind, never ahead) until the tailer has seen the change.
    const ack = t.ack;
    const idKey = t.idKey;
    const offset = ack.committed;
    const id = await identity(fh, t.fingerprint, t.readOffset, offset);
    // Truncated and started again meanwhile: what was read is no longer this file's content.
    if (id === null || t.ack !== ack || t.idKey !== idKey) return null;
    if (id.fingerprint.len > t.fingerprint.len) t.fingerprint = id.fingerprint;
    return entryOf(t, offset, id, idKey);
  }
}

/** The key an entry for `t` would hold: its own, or the previous content's while it has none (see saltEntry). */
function keyOf(t: Tailer): string {
  return t.idPrefix === '' ? t.idSalt : t.idKey;
}

/**
 * A truncated file whose new content has no id key yet (nothing read, or no whole first line): its entry
 * vouches for no byte and keeps the previous content's key, so a restart salts the new content's key
 * with it as this run does (see Resumer.createTailer).
 */
function saltEntry(t: Tailer): CheckpointEntry {
  return entryOf(t, 0, { fingerprint: EMPTY_FINGERPRINT, tail: null }, t.idSalt);
}

function entryOf(t: Tailer, offset: number, id: Identity, idKey: string): CheckpointEntry {
  return { key: t.key, path: t.path, offset, ...id, idKey, updatedAt: new Date().toISOString() };
}
