// Decides where a newly tracked file starts (checkpoint, start at end, or 0) and finds files rotated while stopped.
import type { FileHandle } from 'node:fs/promises';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { AckTracker } from '../checkpoint/ack-tracker.js';
import type { CheckpointStore } from '../checkpoint/checkpoint-store.js';
import type { TrustPolicy } from '../discover/trust.js';
import { reopenChecked } from './checked-open.js';
import type { DescriptorBudget } from './descriptor-budget.js';
import { fileKey, fingerprint, fingerprintMatches, idKey, tailMatches } from './file-identity.js';
import { type LineOutput, Tailer } from './tailer.js';

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
    /** The tracked files, by key: new tailers are added here. */
    private readonly tailers: Map<string, Tailer>,
    private readonly descriptors: DescriptorBudget,
    private readonly onCommit: (t: Tailer, tracker: AckTracker) => void,
    private readonly markReadable: (t: Tailer) => void,
    private readonly policy: TrustPolicy,
  ) {}

  /** Track the file open at `fh`, starting at its matching checkpoint, at its end (START_AT), or at 0. */
  async createTailer(
    fh: FileHandle,
    dev: string,
    ino: string,
    path: string,
    size: number,
    initial: boolean,
    entry = this.store.get(fileKey(dev, ino)),
  ): Promise<Tailer> {
    const key = fileKey(dev, ino);
    let offset = 0;
    let why = 'new file';
    if (entry) {
      const resumable =
        size >= entry.offset &&
        (await fingerprintMatches(fh, entry.fingerprint)) &&
        (entry.tail === null || (await tailMatches(fh, entry.offset, entry.tail)));
      if (resumable) {
        offset = entry.offset;
        why = 'checkpoint';
      } else {
        why = 'checkpoint does not match the file (replaced or truncated); reading from the beginning';
        this.log.warn({ path, code: 'LOGFERRY_CHECKPOINT_MISMATCH' }, why);
      }
    } else if (initial && this.opts.startAt === 'end' && !this.store.recoveredFromCorruption) {
      offset = size;
      why = 'start at end';
    }
    const fp = await fingerprint(fh, size);
    const t = new Tailer(key, dev, ino, path, offset, fp, this.opts.maxLineBytes, this.out, this.onCommit);
    t.fh = fh;
    if (entry && offset === entry.offset) t.setIdKey(entry.idKey);
    else {
      if (entry) t.idSalt = entry.idKey; // the checkpointed file was truncated or replaced: new lines
      if (offset > 0) t.setHeadIdKey(await idKey(fh, dev, ino));
    }
    t.dirty = entry === undefined || offset !== entry.offset;
    this.tailers.set(key, t);
    this.log.info({ path, offset, size, from: why }, 'following file');
    return t;
  }

  /** A checkpointed file not found under its path: look for it beside it (rotated while we were down). */
  async recoverRotated(): Promise<void> {
    for (const entry of this.store.all()) {
      if (this.tailers.has(entry.key)) continue;
      const found = await findByKey(dirname(entry.path), entry.key);
      if (found === null) {
        this.store.delete(entry.key);
        continue;
      }
      const [dev, ino] = entry.key.split(':') as [string, string];
      const fh = await reopenChecked(found, { dev, ino }, this.policy);
      if (fh === null) continue;
      const size = Number((await fh.stat()).size);
      if (size <= entry.offset) {
        await fh.close();
        this.store.delete(entry.key);
        continue;
      }
      this.descriptors.take();
      const t = await this.createTailer(fh, dev, ino, entry.path, size, false, entry);
      if (t.readOffset === 0 && entry.offset > 0) {
        // Not the file we had: a stranger beside ours.
        this.tailers.delete(t.key);
        this.descriptors.release();
        await fh.close();
        this.store.delete(entry.key);
        continue;
      }
      t.state = 'rotated';
      this.log.info(
        { path: entry.path, rotatedTo: found, offset: t.readOffset },
        'reading the rest of a file rotated while stopped',
      );
      this.markReadable(t);
    }
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
