// The dead-letter files: records the collector refused for good, one NDJSON line each, with status and reason.
//
// Nothing in them is ever overwritten or rotated away. LOGFERRY_DEAD_LETTER_MAX_BYTES bounds them together:
// a write that does not fit waits (and reading pauses) until `logferry replay` or an operator frees space.
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LogferryError } from '../errors.js';
import type { LogRecord } from '../sinks/sink.js';
import type { RateLimitedLog } from '../telemetry/rate-limited-log.js';
import { backoff, type RetryOptions } from './retry-policy.js';

/** The file the agent appends to. Replay works on snapshots renamed from it (`dead-letter.replaying-*`). */
export const DEAD_LETTER_FILE = 'dead-letter.ndjson';

/** Every file of the dead-letter set (the agent's, replay snapshots and temp files, an old `.1`). */
function isDeadLetterName(name: string): boolean {
  return name.startsWith('dead-letter.');
}

/** Total bytes of the dead-letter files in `dir` (0 when there are none). */
export async function deadLetterBytes(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let total = 0;
  for (const name of names) {
    if (!isDeadLetterName(name)) continue;
    const st = await lstat(join(dir, name)).catch(() => null);
    if (st?.isFile()) total += st.size;
  }
  return total;
}

/** A write that does not fit under LOGFERRY_DEAD_LETTER_MAX_BYTES. */
export class DeadLetterFullError extends LogferryError {
  constructor(message: string) {
    super('LOGFERRY_DEAD_LETTER_FULL', message);
    this.name = 'DeadLetterFullError';
  }
}

/**
 * Appends never follow a symlink planted at the file's name (O_NOFOLLOW), and a FIFO put there fails the
 * open (O_NONBLOCK, no reader) instead of blocking it; either is retried and reported by deadLetterWrite.
 */
const APPEND_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A few times at most: the file is renamed away by `replay` between our open and our check. */
const RENAMED_RETRIES = 5;

export class DeadLetterFile {
  readonly file: string;
  /** Total bytes of the dead-letter files, as last measured. */
  bytes = 0;
  records = 0;
  /** Epoch ms since a write has been waiting for room, or null. */
  fullSince: number | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private roomWaiters: (() => void)[] = [];
  private released = false;

  constructor(
    private readonly dir: string,
    readonly maxBytes: number,
  ) {
    this.file = join(dir, DEAD_LETTER_FILE);
  }

  get full(): boolean {
    return this.fullSince !== null && !this.released;
  }

  /** Null when there is room; else resolves once a waiting write got room (or on `release`). */
  whenRoom(): Promise<void> | null {
    if (!this.full) return null;
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Stop pausing readers (shutdown). */
  release(): void {
    this.released = true;
    this.wake();
  }

  /** Measure the files again (an operator may have deleted or truncated them). */
  async measure(): Promise<number> {
    this.bytes = await deadLetterBytes(this.dir);
    return this.bytes;
  }

  /** Append the refused records and fsync before the caller lets the checkpoint move past them. */
  write(body: Buffer, status: number, reason: string): Promise<number> {
    const run = this.chain.then(() => this.writeNow(body, status, reason));
    this.chain = run.catch(() => {});
    return run;
  }

  private async writeNow(body: Buffer, status: number, reason: string): Promise<number> {
    const at = new Date().toISOString();
    const prefix = `{"time":"${at}","status":${status},"reason":${JSON.stringify(reason)},"record":`;
    let out = '';
    let n = 0;
    let start = 0;
    while (start < body.length) {
      let nl = body.indexOf(0x0a, start);
      if (nl === -1) nl = body.length;
      if (nl > start) {
        out += `${prefix}${body.toString('utf8', start, nl)}}\n`;
        n++;
      }
      start = nl + 1;
    }
    const data = Buffer.from(out, 'utf8');
    const total = await this.measure();
    // One write may pass the bound when the files are empty: a record larger than the bound is kept too.
    if (this.maxBytes > 0 && total > 0 && total + data.length > this.maxBytes) {
      this.fullSince ??= Date.now();
      throw new DeadLetterFullError(
        `dead-letter files hold ${total} bytes; ${data.length} more would pass LOGFERRY_DEAD_LETTER_MAX_BYTES=${this.maxBytes}`,
      );
    }
    await this.append(data);
    this.bytes = total + data.length;
    this.records += n;
    if (this.fullSince !== null) {
      this.fullSince = null;
      this.wake();
    }
    return n;
  }

  /**
   * Append, fsync, then check the name still points at what was written: `replay` renames the file to take
   * a snapshot, and a write that landed in the snapshot after it was read is written again to the new file.
   */
  private async append(data: Buffer): Promise<void> {
    for (let i = 0; ; i++) {
      const fh = await open(this.file, APPEND_FLAGS, 0o600);
      try {
        const st = await fh.stat();
        if (!st.isFile())
          throw Object.assign(new Error(`${this.file} is not a regular file`), { code: 'EINVAL' });
        await fh.writeFile(data);
        await fh.sync();
        const now = await lstat(this.file).catch(() => null);
        if ((now !== null && now.ino === st.ino && now.dev === st.dev) || i >= RENAMED_RETRIES) return;
      } finally {
        await fh.close();
      }
    }
  }

  private wake(): void {
    const ws = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of ws) w();
  }
}

/** One dead-letter write's worth of refused records: those with the same (item status, reason). */
interface RefusedGroup {
  status: number;
  reason: string;
  records: LogRecord[];
}

/** Refused records of a batch (indexes into `items`) grouped by distinct (item status, reason). */
export function groupRefused(
  items: readonly LogRecord[] | null,
  refused: readonly { index: number; status: number; reason: string }[],
): RefusedGroup[] {
  const groups = new Map<string, RefusedGroup>();
  for (const it of refused) {
    const r = items?.[it.index];
    if (!r) continue;
    const key = `${it.status}\0${it.reason}`;
    const g = groups.get(key) ?? { status: it.status, reason: it.reason, records: [] };
    g.records.push(r);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/** Longest wait between two looks at a full dead-letter set, so freed space is seen soon. */
const FULL_RECHECK_MAX_MS = 2000;

/**
 * Write to the dead-letter file until it works (a full disk, the bound reached): the checkpoint must not move
 * past these records before they are on disk. Stopping (`signal`) aborts the wait; the batch stays behind the checkpoint.
 */
export async function deadLetterWrite(
  deadLetter: DeadLetterFile,
  body: Buffer,
  status: number,
  reason: string,
  retry: RetryOptions,
  noisy: RateLimitedLog,
  signal: AbortSignal,
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const n = await deadLetter.write(body, status, reason);
      noisy.clear('dead-letter-full', 'dead-letter files have room again; refused records are written');
      return n;
    } catch (err) {
      if (err instanceof DeadLetterFullError) {
        noisy.error(
          'dead-letter-full',
          {
            code: err.code,
            file: deadLetter.file,
            bytes: deadLetter.bytes,
            maxBytes: deadLetter.maxBytes,
          },
          'dead-letter files are full: reading is paused until `logferry replay` or an operator frees space (nothing is lost)',
        );
        await delay(Math.min(FULL_RECHECK_MAX_MS, backoff(attempt, retry)), undefined, { signal });
        continue;
      }
      noisy.warn(
        'dead-letter-write',
        { code: 'LOGFERRY_DEAD_LETTER_WRITE', file: deadLetter.file, reason: (err as Error).message },
        'cannot write the dead-letter file; retrying (the checkpoint waits for it)',
      );
      await delay(backoff(attempt, retry), undefined, { signal });
    }
  }
}
