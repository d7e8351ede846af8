// The checkpoint file: per file identity, the acknowledged offset; written atomically, set aside when corrupt.
import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { LogferryError } from '../errors.js';
import type { Hashed } from '../tail/file-identity.js';

export interface CheckpointEntry {
  /** dev:ino */
  key: string;
  path: string;
  /** Every line before this offset was acknowledged by the collector. */
  offset: number;
  fingerprint: Hashed;
  /** Hash of the bytes just before `offset`, or null when offset is 0. */
  tail: Hashed | null;
  /**
   * The record ids' key. With an empty fingerprint it vouches for no content: it is a previous content's
   * (the file was truncated), and salts the key of whatever the file holds next.
   */
  idKey: string;
  updatedAt: string;
  /**
   * When the file was let go (rotated away and read, or deleted). A retired entry is never resumed from;
   * it keeps the file's id key, which salts the ids of a new file that gets the same device and inode.
   */
  retired?: string;
}

/** Retired entries kept, the most recent first, and for at most this long. */
const RETIRED_MAX = 256;
const RETIRED_KEEP_MS = 24 * 3600 * 1000;
/** Never matches a file (the hash of one byte is hex), so an older agent reading the file does not resume. */
const RETIRED_FINGERPRINT = { len: 1, hash: 'retired' };

const FILE_NAME = 'checkpoints.json';
const VERSION = 1;

/**
 * A symlink planted in the state directory must not redirect a write or a read: the temp file is created
 * fresh (O_EXCL) and no open follows a final symlink. O_NONBLOCK: a FIFO put there cannot block the read.
 */
const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The checkpoint file's text, or null when there is none; a symlink or non-regular file is an error. */
async function readState(path: string): Promise<string | null> {
  const fh = await open(path, READ_FLAGS).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    // ELOOP: the name is a symlink (O_NOFOLLOW); read as a corrupt file, set aside below.
    if (err.code === 'ELOOP') return 'not a regular file' as const;
    throw err;
  });
  if (fh === null) return null;
  if (typeof fh === 'string') throw new NotRegular();
  try {
    if (!(await fh.stat()).isFile()) throw new NotRegular();
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** The checkpoint name holds something other than a regular file (a symlink, a FIFO): treated as corrupt. */
class NotRegular extends Error {
  constructor() {
    super('not a regular file (a symlink or a special file)');
  }
}

export class CheckpointStore {
  private readonly entries = new Map<string, CheckpointEntry>();
  private dirty = false;
  readonly file: string;
  /** True when the stored file was unreadable and was set aside at load. */
  recoveredFromCorruption = false;
  /**
   * No checkpoint file at load: the agent's very first start with this state directory. The file is
   * written at every start (see `markStarted`), even with no entry, so it is the marker of a first start.
   */
  firstStart = false;
  writes = 0;
  failures = 0;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    this.file = join(dir, FILE_NAME);
  }

  /** readOnly (for `logferry status`): nothing is created, a corrupt file is reported, not moved. */
  async load({ readOnly = false } = {}): Promise<void> {
    if (!readOnly) await mkdir(this.dir, { recursive: true });
    let text: string | NotRegular | null;
    try {
      text = await readState(this.file).catch((err) => {
        if (err instanceof NotRegular) return err;
        throw err;
      });
    } catch (err) {
      throw new LogferryError(
        'LOGFERRY_STATE_UNREADABLE',
        `cannot read ${this.file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (text === null) {
      this.firstStart = true;
      return;
    }
    try {
      if (text instanceof NotRegular) throw text;
      const doc = JSON.parse(text) as { version?: number; files?: unknown };
      if (doc.version !== VERSION || !Array.isArray(doc.files)) throw new Error('unexpected layout');
      for (const e of doc.files as CheckpointEntry[]) {
        if (!isEntry(e)) throw new Error('malformed entry');
        this.entries.set(e.key, e);
      }
    } catch (err) {
      if (readOnly)
        throw new LogferryError('LOGFERRY_CHECKPOINT_CORRUPT', `${this.file}: ${(err as Error).message}`);
      const aside = `${this.file}.corrupt-${Date.now()}`;
      await rename(this.file, aside);
      this.entries.clear();
      this.recoveredFromCorruption = true;
      this.log.error(
        {
          code: 'LOGFERRY_CHECKPOINT_CORRUPT',
          file: this.file,
          setAside: aside,
          err: (err as Error).message,
        },
        'checkpoint file is corrupt; set aside, files without a checkpoint are read from their beginning',
      );
    }
  }

  get(key: string): CheckpointEntry | undefined {
    return this.entries.get(key);
  }

  /** The entries of files not let go. */
  all(): CheckpointEntry[] {
    return [...this.entries.values()].filter((e) => e.retired === undefined);
  }

  /** The file was let go: only its id key is kept, for a while (see CheckpointEntry.retired). */
  retire(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined || e.retired !== undefined) return;
    const now = new Date().toISOString();
    // Re-inserted: the map's order is the order of retirement, oldest first.
    this.entries.delete(key);
    this.entries.set(key, {
      key,
      path: '',
      offset: 0,
      fingerprint: RETIRED_FINGERPRINT,
      tail: null,
      idKey: e.idKey,
      updatedAt: now,
      retired: now,
    });
    this.dirty = true;
    this.pruneRetired();
  }

  private pruneRetired(): void {
    const retired = [...this.entries.values()].filter((e) => e.retired !== undefined);
    const oldest = Date.now() - RETIRED_KEEP_MS;
    for (let i = 0; i < retired.length; i++) {
      const e = retired[i]!;
      if (i < retired.length - RETIRED_MAX || Date.parse(e.retired!) < oldest) this.delete(e.key);
    }
  }

  set(entry: CheckpointEntry): void {
    this.entries.set(entry.key, entry);
    this.dirty = true;
  }

  delete(key: string): void {
    if (this.entries.delete(key)) this.dirty = true;
  }

  /** The next flush writes the file even when no entry changed (the marker that a start happened). */
  markStarted(): void {
    if (this.firstStart) this.dirty = true;
  }

  private serialize(): string {
    return `${JSON.stringify({ version: VERSION, files: [...this.entries.values()] }, null, 1)}\n`;
  }

  /** Write if anything changed: temp file, fsync, rename, fsync of the directory. */
  async flush(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const data = this.serialize();
    const tmp = `${this.file}.tmp`;
    try {
      // A stale temp file (or a link planted at its name) goes first: rm removes a link, not its target.
      await rm(tmp, { force: true });
      const fh = await open(tmp, TEMP_FLAGS, 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
      const dir = await open(dirname(this.file), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.writes++;
    } catch (err) {
      this.dirty = true;
      this.failures++;
      throw new LogferryError(
        'LOGFERRY_CHECKPOINT_WRITE',
        `cannot write ${this.file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  /** The same, synchronously: for the second signal, when the process exits at once. */
  flushSync(): void {
    // Not flush()'s temp file: a write of it still in flight could land in the renamed file after ours.
    const tmp = `${this.file}.tmp-exit`;
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, TEMP_FLAGS, 0o600);
    try {
      writeSync(fd, this.serialize());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    const dfd = openSync(dirname(this.file), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    this.dirty = false;
  }
}

function isHashed(h: unknown): h is Hashed {
  return (
    typeof h === 'object' &&
    h !== null &&
    typeof (h as Hashed).len === 'number' &&
    typeof (h as Hashed).hash === 'string'
  );
}

function isEntry(e: unknown): e is CheckpointEntry {
  if (typeof e !== 'object' || e === null) return false;
  const x = e as CheckpointEntry;
  return (
    typeof x.key === 'string' &&
    typeof x.path === 'string' &&
    Number.isSafeInteger(x.offset) &&
    x.offset >= 0 &&
    isHashed(x.fingerprint) &&
    (x.tail === null || isHashed(x.tail)) &&
    typeof x.idKey === 'string' &&
    (x.retired === undefined || typeof x.retired === 'string')
  );
}
