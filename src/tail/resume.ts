// Decides where a newly tracked file starts (checkpoint, start at end, or 0) and finds files rotated while stopped.
import type { FileHandle } from 'node:fs/promises';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { AckTracker } from '../checkpoint/ack-tracker.js';
import type { CheckpointEntry, CheckpointStore } from '../checkpoint/checkpoint-store.js';
import type { TrustPolicy } from '../discover/trust.js';
import { reopenChecked } from './checked-open.js';
import type { DescriptorBudget } from './descriptor-budget.js';
import { fileKey, fingerprint, fingerprintMatches, idKey, tailMatches } from './file-identity.js';
import { type LineOutput, Tailer } from './tailer.js';
import type { TailerTable } from './tailer-table.js';

export interface ResumeOptions {
  startAt: 'beginning' | 'end';
  maxLineBytes: number;
}

export class Resumer {
  constructor(
    private readonly opts: ResumeOptions,
    private readonly store: CheckpointStore,
    private readonly out: LineOutput,
    private readonly log: Logger,
    /** The tracked files: new tailers are added here. */
    private readonly tailers: Pick<TailerTable, 'add' | 'has' | 'step' | 'forgottenAt' | 'unforget'>,
    private readonly descriptors: DescriptorBudget,
    private readonly onCommit: (t: Tailer, tracker: AckTracker) => void,
    private readonly markReadable: (t: Tailer) => void,
    private readonly policy: TrustPolicy,
  ) {}

  /**
   * Track the file open at `fh`, starting at its matching checkpoint, at its end (START_AT), or at 0;
   * 'rotated' when no matching path leads to it any more.
   */
  async createTailer(
    fh: FileHandle,
    dev: string,
    ino: string,
    path: string,
    size: number,
    initial: boolean,
    entry = this.store.get(fileKey(dev, ino)),
    state: 'reading' | 'rotated' = 'reading',
  ): Promise<Tailer> {
    const key = fileKey(dev, ino);
    let offset = 0;
    let why = 'new file';
    let resumed = false;
    if (entry && entry.retired === undefined) {
      const resumable =
        size >= entry.offset &&
        (await fingerprintMatches(fh, entry.fingerprint)) &&
        (entry.tail === null || (await tailMatches(fh, entry.offset, entry.tail)));
      if (resumable) {
        offset = entry.offset;
        why = 'checkpoint';
        resumed = true;
      } else {
        why = 'checkpoint does not match the file (replaced or truncated); reading from the beginning';
        this.log.warn({ path, code: 'LOGFERRY_CHECKPOINT_MISMATCH' }, why);
      }
    } else if (!entry && initial && this.opts.startAt === 'end' && this.store.firstStart) {
      // Only at the very first start: later, a file without a checkpoint appeared while the agent was down.
      offset = size;
      why = 'start at end';
    }
    const fp = await fingerprint(fh, size);
    const t = new Tailer(
      key,
      dev,
      ino,
      path,
      offset,
      fp,
      fh,
      state,
      this.opts.maxLineBytes,
      this.out,
      this.onCommit,
    );
    // An entry that vouches for no byte (offset 0, empty fingerprint) proves nothing of the content: its key
    // may be a previous content's (truncated, the new one never checkpointed). It salts the new key instead,
    // and the entry is rewritten once the file's head gives one.
    const trusted = resumed && entry!.fingerprint.len > 0;
    if (trusted) t.setIdKey(entry!.idKey);
    else {
      // New lines under an identity whose ids were given before (a reused inode, a file replaced or
      // truncated): salted with the old key, so a collector dropping duplicates by id keeps them.
      if (entry) t.idSalt = entry.idKey;
      if (offset > 0) t.setHeadIdKey(await idKey(fh, dev, ino));
    }
    t.dirty = !trusted;
    this.tailers.add(t);
    this.log.info({ path, offset, size, from: why }, 'following file');
    return t;
  }

  /** A checkpointed file not found under its path: look for it beside it (rotated while we were down). */
  async recoverRotated(): Promise<void> {
    for (const entry of this.store.all()) {
      if (!this.tailers.has(entry.key)) await this.recoverEntry(entry, false);
    }
  }

  /**
   * An event at a path that led to a forgotten file: when the path no longer leads to it, the file was
   * rotated (its rest is read, as for a file rotated while stopped) or deleted (its entry is dropped).
   */
  async recoverAt(path: string): Promise<void> {
    const key = this.tailers.forgottenAt(path);
    if (key === undefined) return;
    const st = await stat(path, { bigint: true }).catch(() => null);
    if (st?.isFile() && fileKey(st.dev, st.ino) === key) return;
    this.tailers.unforget(path);
    const entry = this.store.get(key);
    if (entry !== undefined && !this.tailers.has(key)) await this.recoverEntry(entry, true);
  }

  /** The path leads to a forgotten file that has not grown since: nothing to open. */
  unchangedForgotten(path: string, key: string, size: number): boolean {
    if (this.tailers.forgottenAt(path) !== key) return false;
    if (this.store.get(key)?.offset === size) return true;
    this.tailers.unforget(path);
    return false;
  }

  /**
   * Find the file of `entry` beside its path and read what it holds past the entry. With `grace` (a
   * rotation seen while running), a file with nothing new is still followed for the rotate wait: the
   * writer may not have reopened its path yet.
   */
  private async recoverEntry(entry: CheckpointEntry, grace: boolean): Promise<void> {
    const found = await findByKey(dirname(entry.path), entry.key);
    if (found === null) {
      this.store.retire(entry.key);
      return;
    }
    const [dev, ino] = entry.key.split(':') as [string, string];
    const fh = await reopenChecked(found, { dev, ino }, this.policy);
    if (fh === null) return;
    const size = Number((await fh.stat()).size);
    // Shorter than the entry, or not starting with the bytes it vouches for: not the file we had, but a
    // stranger beside ours that got its inode (a copy made while we were stopped, say). Not read.
    const stranger = size < entry.offset || !(await fingerprintMatches(fh, entry.fingerprint));
    if (stranger || (size === entry.offset && !grace)) {
      await fh.close();
      this.store.retire(entry.key);
      return;
    }
    this.descriptors.take();
    const t = await this.createTailer(fh, dev, ino, entry.path, size, false, entry, 'rotated');
    if (t.readOffset === 0 && entry.offset > 0) {
      // Its bytes before the offset differ: a stranger too (the table closes it and frees its descriptor).
      this.tailers.step(t, 'lost');
      this.store.retire(entry.key);
      return;
    }
    this.log.info(
      { path: entry.path, rotatedTo: found, offset: t.readOffset },
      grace ? 'reading the rest of a rotated file' : 'reading the rest of a file rotated while stopped',
    );
    this.markReadable(t);
  }
}

/** The path of a regular file in `dir` with this dev:ino key, or null. */
export async function findByKey(dir: string, key: string): Promise<string | null> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const p = join(dir, name);
    const st = await stat(p, { bigint: true }).catch(() => null);
    if (st?.isFile() && fileKey(st.dev, st.ino) === key) return p;
  }
  return null;
}
