// The dead-letter file: records the collector refused for good, one NDJSON line each, with status and reason.
// Writes are grouped by (status, reason) and retried until they are on disk.
import { constants } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { LogRecord } from '../sinks/sink.js';
import type { RateLimitedLog } from '../telemetry/rate-limited-log.js';
import { backoff, type RetryOptions } from './retry-policy.js';

/**
 * Appends never follow a symlink planted at the file's name (O_NOFOLLOW), and a FIFO put there fails the
 * open (O_NONBLOCK, no reader) instead of blocking it; either is retried and reported by deadLetterWrite.
 */
const APPEND_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export class DeadLetterFile {
  readonly file: string;
  private size = -1;
  records = 0;

  constructor(
    dir: string,
    private readonly maxBytes: number,
  ) {
    this.file = join(dir, 'dead-letter.ndjson');
  }

  /** Append the refused records and fsync before the caller lets the checkpoint move past them. */
  async write(body: Buffer, status: number, reason: string): Promise<number> {
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
    if (this.size < 0)
      this.size = await stat(this.file).then(
        (s) => s.size,
        () => 0,
      );
    if (this.maxBytes > 0 && this.size > 0 && this.size + data.length > this.maxBytes) {
      await rename(this.file, `${this.file}.1`);
      this.size = 0;
    }
    const fh = await open(this.file, APPEND_FLAGS, 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.size += data.length;
    this.records += n;
    return n;
  }
}

/** One dead-letter write's worth of refused records: those with the same (item status, reason). */
export interface RefusedGroup {
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

/**
 * Write to the dead-letter file until it works (a full disk, say): the checkpoint must not move past
 * these records before they are on disk. Stopping (`signal`) aborts the wait; the batch stays behind the checkpoint.
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
      return await deadLetter.write(body, status, reason);
    } catch (err) {
      noisy.warn(
        'dead-letter-write',
        { code: 'LOGFERRY_DEAD_LETTER_WRITE', file: deadLetter.file, reason: (err as Error).message },
        'cannot write the dead-letter file; retrying (the checkpoint waits for it)',
      );
      await delay(backoff(attempt, retry), undefined, { signal });
    }
  }
}
