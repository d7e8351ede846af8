// The trust boundary: which real paths may be read, and the record of paths refused (logged once, counted).
import { realpathSync } from 'node:fs';
import type { Logger } from 'pino';
import { RateLimitedLog } from '../telemetry/rate-limited-log.js';

/** Why a path is not read. */
export type RefusalReason =
  | 'symlink-outside-roots'
  | 'special-filesystem'
  | 'not-regular'
  | 'changed-during-open'
  | 'size-mismatch';

/** Kernel file systems whose files are not logs, whatever a root says. */
const SPECIAL_DIRS = ['/proc', '/sys', '/dev'];

/** Refused paths remembered (so each is logged once); past this many the memory starts over. */
const MAX_REMEMBERED = 10_000;

/** Refusal log lines per minute; beyond it they are counted and summarised by a rate-limited warning. */
const MAX_LOGGED_PER_MINUTE = 100;

/** Is `path` the directory `dir` or below it? Both absolute and normalised. */
export function isUnder(path: string, dir: string): boolean {
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(`${dir}/`);
}

export class TrustPolicy {
  constructor(
    /** Absolute, normalised directories (LOGFERRY_PATHS' bases and LOGFERRY_ALLOWED_ROOTS). */
    readonly roots: readonly string[],
  ) {}

  /** Null when a file whose real path is `real` may be read, else why not. */
  judge(real: string): RefusalReason | null {
    if (SPECIAL_DIRS.some((d) => isUnder(real, d))) return 'special-filesystem';
    return this.roots.some((r) => isUnder(real, r)) ? null : 'symlink-outside-roots';
  }

  /**
   * For the watcher, which must decide synchronously: may it descend into the directory at `path`?
   * A directory that is gone (realpath fails) is not the watcher's to judge.
   */
  mayDescend(path: string): RefusalReason | null {
    let real: string;
    try {
      real = realpathSync.native(path);
    } catch {
      return null;
    }
    return this.judge(real);
  }
}

/** Refused paths: each logged once (while it stays refused for the same reason) and counted per reason. */
export class Refusals {
  private readonly seen = new Map<string, RefusalReason>();
  private readonly counts: Partial<Record<RefusalReason, number>> = {};
  private readonly noisy: RateLimitedLog;
  private windowStart = 0;
  private loggedInWindow = 0;

  constructor(private readonly log: Logger) {
    this.noisy = new RateLimitedLog(log);
  }

  /** `path` is refused for `reason`; `real` is where it leads, when known. */
  refuse(path: string, reason: RefusalReason, real?: string): void {
    if (this.seen.get(path) === reason) return;
    if (this.seen.size >= MAX_REMEMBERED) this.seen.clear();
    this.seen.set(path, reason);
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.loggedInWindow = 0;
    }
    const fields = { code: 'LOGFERRY_FILE_REFUSED', path, reason, ...(real ? { realPath: real } : {}) };
    if (++this.loggedInWindow <= MAX_LOGGED_PER_MINUTE)
      this.log.warn(fields, 'file refused: not read (outside the trust boundary)');
    else this.noisy.warn('files-refused', fields, 'files refused (more than are logged one by one)');
  }

  /** `path` was accepted: a later refusal is news again. */
  accepted(path: string): void {
    if (this.seen.size > 0) this.seen.delete(path);
  }

  /** Paths refused so far, per reason (each path counted once per reason it was refused for in a row). */
  get byReason(): Readonly<Partial<Record<RefusalReason, number>>> {
    return this.counts;
  }
}

/** What the file server needs of the boundary. */
export interface Trust {
  policy: TrustPolicy;
  refusals: Refusals;
}
