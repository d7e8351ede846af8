// Schedules reads fairly across tracked files; follows rotation, truncation and deletion of their paths.
import { readSync } from 'node:fs';
import { type FileHandle, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ByteBudget } from '../batch/byte-budget.js';
import type { AckTracker } from '../checkpoint/ack-tracker.js';
import type { CheckpointStore } from '../checkpoint/checkpoint-store.js';
import { Checkpointer } from '../checkpoint/checkpointer.js';
import type { Trust } from '../discover/trust.js';
import { RateLimitedLog } from '../telemetry/rate-limited-log.js';
import { openChecked, reopenChecked, sizeIsHonest } from './checked-open.js';
import { DescriptorBudget } from './descriptor-budget.js';
import {
  fileKey,
  fingerprintMatches,
  headIsStable,
  ID_HEAD_BYTES,
  idKey,
  idKeyFrom,
} from './file-identity.js';
import { findByKey, Resumer } from './resume.js';
import type { LineOutput, Tailer } from './tailer.js';
import { allows, isFollowed } from './tailer-state.js';
import { TailerTable } from './tailer-table.js';

/** A path is looked at again this long after a watcher event (longer than chokidar's 50 ms throttle). */
const TRAILING_CHECK_MS = 100;

/**
 * A synchronous read slower than this (a cold disk, a network volume) switches the loop to reads through
 * libuv's thread pool for good, so a slow device no longer stops the event loop (see `read`).
 */
const SLOW_READ_MS = 20;

/** How often descriptors of idle files are looked at for release. */
const IDLE_CHECK_MS = 5000;

/** Files refused for a size unlike their content (dev:ino) remembered; past this many, memory starts over. */
const MAX_SIZE_LIARS = 1024;

/** How often the paths of forgotten and waiting files are looked at (a missed delete or rename event). */
const SWEEP_MS = 60_000;

export interface FileServerOptions {
  startAt: 'beginning' | 'end';
  maxLineBytes: number;
  readChunkBytes: number;
  maxOpenFiles: number;
  idleCloseMs: number;
  rotateWaitMs: number;
  pollIntervalMs: number;
  checkpointIntervalMs: number;
  /** A fully delivered file idle this long is forgotten: only its checkpoint entry is kept. */
  forgetIdleMs: number;
}

/** The stage after the tailers: lines go in; `flush` seals what is open (a file finished). */
export interface TailOutput extends LineOutput {
  flush(): void;
  /** Every file is read to its end for now. */
  caughtUp(): void;
  /** Nothing is batched, compressing, queued or in flight: no release of the budget is coming. */
  drained(): boolean;
  /** Null, or a promise to wait on before reading more (the stage after is behind, budget aside). */
  readPause?(): Promise<void> | null;
  /** Rate limit: true when `t` is not to be read now; `resume` is called once it may be. */
  deferRead?(t: Tailer, resume: () => void): boolean;
  /** How many bytes of `t` to read next, at most `max`. */
  readBytes?(t: Tailer, max: number): number;
}

export class FileServer {
  private readonly tailers: TailerTable;
  private readonly readable = new Set<Tailer>();
  private readonly pathQueue = new Set<string>();
  private pathWorker: Promise<void> | null = null;
  private readonly buf: Buffer;
  private wake: (() => void) | null = null;
  /** Resolved when every file has been read to its end (nothing readable). */
  private readonly idleWaiters: (() => void)[] = [];
  private running = false;
  private draining = false;
  private loopDone: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private readonly descriptors: DescriptorBudget;
  private readonly checkpointer: Checkpointer;
  private readonly resumer: Resumer;
  private lastReadAt = Date.now();
  /** Reads go through libuv's thread pool (a synchronous one was slow, see `read`). */
  private asyncReads = false;
  /** Warnings that can repeat per read (truncation, lost files). */
  private readonly noisy: RateLimitedLog;
  /** Paths whose file waits for a descriptor (LOGFERRY_MAX_OPEN_FILES), with the key of that file. */
  private readonly waiting = new Map<string, string>();
  /** Files that left their path (rotated or deleted) while they waited for a descriptor, never read. */
  lostWaiting = 0;
  /** Idle, fully delivered files forgotten so far. */
  forgottenTotal = 0;

  /** How long files have waited to be read while there was room in the budget (a stuck read loop), in ms. */
  get stalledMs(): number {
    if (!this.running || this.readable.size === 0 || (this.budget.full && !this.out.drained())) return 0;
    return Date.now() - this.lastReadAt;
  }

  constructor(
    private readonly opts: FileServerOptions,
    private readonly store: CheckpointStore,
    private readonly budget: ByteBudget,
    private readonly out: TailOutput,
    private readonly log: Logger,
    /** Where files are read into (a region of the byte arena), else one of readChunkBytes is made. */
    readBuffer: Buffer | null,
    /** Which files may be read, and the record of those refused. */
    private readonly trust: Trust,
  ) {
    this.buf = readBuffer ?? Buffer.allocUnsafe(opts.readChunkBytes);
    this.noisy = new RateLimitedLog(log);
    this.tailers = new TailerTable(
      this.noisy,
      () => this.descriptors.release(),
      (t) => this.readable.delete(t),
    );
    this.descriptors = new DescriptorBudget(
      opts.maxOpenFiles,
      opts.idleCloseMs,
      this.tailers,
      (t) => this.readable.delete(t),
      this.noisy,
    );
    this.checkpointer = new Checkpointer(this.tailers, store, log, opts.checkpointIntervalMs);
    this.resumer = new Resumer(
      opts,
      store,
      out,
      log,
      this.tailers,
      this.descriptors,
      (tl, tr) => this.onCommit(tl, tr),
      (t) => this.markReadable(t),
      trust.policy,
    );
  }

  /** Files whose reads go on past the size they report (a kernel file system): never read again. */
  private readonly sizeLiars = new Set<string>();

  get files(): Tailer[] {
    return [...this.tailers.values()];
  }

  /** Start with the files that exist now; afterwards feed `pathChanged`. */
  async start(initial: string[]): Promise<void> {
    // Paths reported meanwhile wait in the queue: handled concurrently, a file would be followed twice.
    for (const p of initial) await this.handlePath(p, true);
    await this.resumer.recoverRotated();
    // Before any read: the entries of the files just followed (their ids, the START_AT positions) and, at
    // the first start, the checkpoint file itself, the marker that the first start happened.
    this.store.markStarted();
    const written = this.checkpoint();
    if (this.store.firstStart) await written;
    else await written.catch(() => {}); // logged; the next write retries
    this.running = true;
    if (this.pathQueue.size > 0) this.pathWorker ??= this.drainPaths();
    this.loopDone = this.loop();
    this.timers.push(
      setInterval(() => this.poll(), this.opts.pollIntervalMs),
      setInterval(() => void this.checkpoint().catch(() => {}), this.opts.checkpointIntervalMs),
    );
  }

  private lastIdleCheck = 0;
  /** Per path: the pending look after a watcher event. */
  private readonly trailing = new Map<string, NodeJS.Timeout>();

  /** The path leads to a file being followed. */
  follows(path: string): boolean {
    return this.tailers.follows(path);
  }

  /** Something happened at a path (discovery event or rescan). */
  pathChanged(path: string): void {
    if (this.draining) return;
    this.pathQueue.add(path);
    // Not before start() is done (it drains the queue then): a worker that ends at once would stay set.
    if (this.running) this.pathWorker ??= this.drainPaths();
    // The watcher drops change events that follow one within 50 ms (chokidar's throttle), so the last
    // writes of a burst may bring no event: look once more a little after the last event.
    clearTimeout(this.trailing.get(path));
    this.trailing.set(
      path,
      setTimeout(() => {
        this.trailing.delete(path);
        if (this.draining) return;
        this.pathQueue.add(path);
        if (this.running) this.pathWorker ??= this.drainPaths();
      }, TRAILING_CHECK_MS),
    );
  }

  private async drainPaths(): Promise<void> {
    try {
      while (this.pathQueue.size > 0 && this.running) {
        const [p] = this.pathQueue;
        this.pathQueue.delete(p!);
        await this.handlePath(p!, false).catch((err) =>
          this.log.warn({ err, path: p, code: 'LOGFERRY_TAIL_OPEN' }, 'cannot follow file'),
        );
      }
    } finally {
      this.pathWorker = null;
    }
  }

  private async handlePath(path: string, initial: boolean): Promise<void> {
    const st = await stat(path, { bigint: true }).catch(() => null);
    const known = this.tailers.atPath(path);
    if (st === null || !st.isFile()) {
      this.checkWaiting(path, null);
      if (known) await this.dropPath(path, known, 'path removed');
      else await this.resumer.recoverAt(path);
      if (st !== null) this.trust.refusals.refuse(path, 'not-regular');
      return;
    }
    const key = fileKey(st.dev, st.ino);
    this.checkWaiting(path, key);
    if (known && known.key !== key) await this.dropPath(path, known, 'path now leads to another file');
    // Before the lookup: a refused file still finishing must not be found again under this path.
    if (this.sizeLiars.has(key)) return this.trust.refusals.refuse(path, 'size-mismatch');
    const existing = this.tailers.get(key);
    if (existing) {
      // Unchanged since it was read to its end (the usual rescan answer): nothing to do, not even a reopen.
      const unchanged = Number(st.size) === existing.readOffset && (existing.atEof || existing.fh === null);
      if (unchanged && this.tailers.atPath(path) === existing) return;
      // A followed file closed while idle is reopened; a rotated one with no descriptor is being found by
      // inode (reopenRotated), maybe under this very path.
      if (existing.state === 'idle-closed' && !(await this.reopen(existing)))
        return this.handlePath(path, initial);
      // Let go while it was reopened (forgotten while idle): looked at afresh.
      if (this.tailers.get(key) !== existing) return this.handlePath(path, initial);
      // The same file under another matching name (symlink, hard link, or renamed to a name the globs take).
      if (this.tailers.atPath(path) === undefined && this.tailers.addPath(path, existing))
        this.log.info({ path }, 'rotated file found again under a matching path; following it there');
      this.markReadable(existing);
      return;
    }
    if (this.resumer.unchangedForgotten(path, key, Number(st.size))) return;
    if (!this.descriptors.reserve()) {
      this.waiting.set(path, key);
      return; // retried by the next rescan
    }
    const opened = await openChecked(path, this.trust.policy);
    if ('refused' in opened) {
      await this.unused(null);
      // Gone meanwhile (a short-lived file): not a refusal; its removal is an event of its own.
      if (opened.refused === 'changed-during-open' && (await stat(path).catch(() => null)) === null) return;
      this.trust.refusals.refuse(path, opened.refused, opened.realPath);
      return;
    }
    this.trust.refusals.accepted(path);
    const { fh, st: fst } = opened;
    let t: Tailer | null = null;
    try {
      // Rotated between the stat and the open, the path holds another file: looked at again below.
      if (fileKey(fst.dev, fst.ino) === key) {
        t = await this.resumer.createTailer(
          fh,
          String(st.dev),
          String(st.ino),
          path,
          Number(fst.size),
          initial,
        );
      }
    } finally {
      if (t === null) await this.unused(fh);
    }
    if (t === null) return this.handlePath(path, initial);
    this.waiting.delete(path);
    this.tailers.addPath(path, t);
    this.markReadable(t);
    await this.resumer.recoverAt(path); // a forgotten file there before this one was rotated away
  }

  /** The file `path` led to while it waited for a descriptor: lost when the path now leads elsewhere. */
  private checkWaiting(path: string, key: string | null): void {
    const was = this.waiting.get(path);
    if (was === undefined || was === key) return;
    this.waiting.delete(path);
    if (this.tailers.has(was)) return; // followed under another name meanwhile
    this.lostWaiting++;
    this.noisy.warn(
      'LOGFERRY_LOST_WAITING',
      { code: 'LOGFERRY_LOST_WAITING', path, maxOpenFiles: this.opts.maxOpenFiles },
      'a file waiting for a descriptor was rotated away or deleted before it was read; raise LOGFERRY_MAX_OPEN_FILES',
    );
  }

  /** Files waiting for a descriptor now. */
  get waitingFiles(): number {
    return this.waiting.size;
  }

  /** `path` no longer leads to `t`: let go of the file only when no other matching path does (symlinks). */
  private async dropPath(path: string, t: Tailer, why: string): Promise<void> {
    this.tailers.removePath(path);
    for (const p of this.tailers.pathsOf(t)) {
      const st = await stat(p, { bigint: true }).catch(() => null);
      if (st?.isFile() && fileKey(st.dev, st.ino) === t.key) {
        if (t.path === path) t.moveTo(p);
        return;
      }
    }
    this.detach(t, why);
  }

  /** The path no longer leads to this file: read it to its end through its descriptor, then let go. */
  private detach(t: Tailer, why: string): void {
    if (!isFollowed(t.state)) return;
    this.tailers.step(t, 'path-gone');
    t.lastGrowthAt = Date.now();
    this.log.info({ path: t.path, why }, 'file rotated or removed; reading it to its end');
    if (t.state === 'rotated-closed') void this.reopenRotated(t);
    else this.markReadable(t);
  }

  /** An idle file that was closed, then renamed: find it beside its old path by inode. */
  private async reopenRotated(t: Tailer): Promise<void> {
    const found = await findByKey(dirname(t.path), t.key);
    if (found !== null && this.descriptors.reserve()) {
      const got = await this.reattach(t, found);
      if (got === 'reopened') this.markReadable(t);
      if (got !== 'elsewhere') return;
    }
    // Found meanwhile under a path the globs take: followed there (reopened by that path's next event).
    if (t.state !== 'rotated-closed') return;
    this.letGo(t, 'lost');
  }

  /**
   * Reopen an idle-closed file at its path; false when the path now holds another file (or none). The
   * caller's stat may predate a rename, so a file gone from its path is rotated, not done: looked for
   * beside it by inode, like any idle-closed file that was renamed.
   */
  private async reopen(t: Tailer): Promise<boolean> {
    if (!this.descriptors.reserve()) return true;
    if ((await this.reattach(t, t.path)) !== 'elsewhere') return true;
    // Rotated meanwhile, detach does nothing more: it is being found already.
    this.detach(t, 'path now leads to another file');
    return false;
  }

  /**
   * With a descriptor reserved, open `path` again for a closed tailer: 'elsewhere' when it does not lead to
   * its file (another inode, or other first bytes); 'unneeded' when the tailer was let go or reopened
   * meanwhile (the descriptor is given back).
   */
  private async reattach(t: Tailer, path: string): Promise<'reopened' | 'unneeded' | 'elsewhere'> {
    const fh = await reopenChecked(path, t, this.trust.policy);
    if (fh === null || !(await fingerprintMatches(fh, t.fingerprint))) {
      await this.unused(fh);
      return 'elsewhere';
    }
    if (this.tailers.get(t.key) !== t || !allows(t.state, 'reopened')) {
      await this.unused(fh);
      return 'unneeded';
    }
    this.tailers.step(t, 'reopened', fh);
    return 'reopened';
  }

  /** A descriptor reserved and opened, then not kept (or not opened at all): closed, its place given back. */
  private async unused(fh: FileHandle | null): Promise<void> {
    this.descriptors.release();
    await fh?.close().catch(() => {});
  }

  private markReadable(t: Tailer): void {
    if (!this.tailers.step(t, 'grew')) return;
    this.readable.add(t);
    if (this.wake) {
      const w = this.wake;
      this.wake = null;
      w();
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      // A full budget pauses reading, unless nothing downstream holds any of it: then it is all partial
      // lines (or records waiting for their next line), and only reading on can free it.
      if (this.budget.full && !this.out.drained()) {
        await this.budget.whenAvailable();
        continue;
      }
      const pause = this.out.readPause?.();
      if (pause) {
        await pause;
        continue;
      }
      const next = this.readable.values().next();
      if (next.done) {
        this.out.caughtUp();
        for (const w of this.idleWaiters.splice(0)) w();
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      const t = next.value;
      this.readable.delete(t);
      if (!this.draining && this.out.deferRead?.(t, () => this.markReadable(t))) continue;
      this.lastReadAt = Date.now();
      try {
        await this.readOnce(t);
      } catch (err) {
        this.log.warn({ err, path: t.path, code: 'LOGFERRY_TAIL_READ' }, 'read failed; will retry');
        if (allows(t.state, 'eof')) this.tailers.step(t, 'eof'); // the poll tries it again
      }
      // Reads are synchronous (see `read`): let the event loop take the responses, timers and watcher
      // events that came meanwhile.
      await nextTurn();
    }
  }

  private async readOnce(t: Tailer): Promise<void> {
    const fh = t.fh;
    if (fh === null || t.finishing) return;
    // Marked at its end by a read that ended while an event queued it again: being read, it is not (and
    // what this read finds, growth or a truncation, applies to a file being read).
    if (t.state === 'at-end') this.tailers.step(t, 'grew');
    const len = this.out.readBytes?.(t, this.buf.length) ?? this.buf.length;
    const bytesRead = this.asyncReads
      ? (await fh.read(this.buf, 0, len, t.readOffset)).bytesRead
      : this.read(t, fh, len);
    if (bytesRead > 0) {
      if (t.idPrefix === '') await this.keyFromHead(t, fh, bytesRead);
      t.timestamp = new Date().toISOString();
      t.framer.push(this.buf, bytesRead);
      t.readOffset += bytesRead;
      t.lastGrowthAt = Date.now();
      t.bytesRead += bytesRead;
      this.chargePending(t);
      this.readable.add(t);
      return;
    }
    const st = await fh.stat();
    const size = Number(st.size);
    t.size = size;
    if (st.nlink === 0) this.detach(t, 'file deleted');
    if (size < t.readOffset) {
      // A file that reads on past the size it reports (a kernel file system) would look truncated at
      // every end of file and be sent again and again: it is let go and never read again.
      if (!(await sizeIsHonest(fh, size))) return this.refuseLiar(t);
      this.noisy.warn(
        `truncated:${t.path}`,
        { path: t.path, was: t.readOffset, size },
        'file truncated; reading it again from the beginning',
      );
      await this.flushPartialLine(t);
      if (!this.tailers.step(t, 'truncated')) return;
      t.restartAtZero();
      // The old key, which salts the new content's, is on disk before any of that content is read: a crash
      // then cannot leave an entry that lends the old key (or an older salt) to the new lines.
      await this.checkpointer.checkpoint().catch(() => {});
      this.readable.add(t);
      return;
    }
    if (size > t.readOffset) {
      this.readable.add(t); // written between the read and the stat
      return;
    }
    this.tailers.step(t, 'eof');
    if (t.state === 'rotated' && (this.draining || Date.now() - t.lastGrowthAt >= this.opts.rotateWaitMs)) {
      await this.finish(t);
    }
  }

  /**
   * The next chunk of `t` into `this.buf`, read synchronously, as Fluent Bit's tail input does: a read from
   * the page cache costs less than its round trip through libuv's thread pool (figures in
   * docs/performance.md, "Why the constants are what they are"). The price is that the event loop stops for
   * each read; the loop yields after every chunk, and a read slower than SLOW_READ_MS switches to the pool.
   */
  private read(t: Tailer, fh: FileHandle, len: number): number {
    const t0 = performance.now();
    const n = readSync(fh.fd, this.buf, 0, len, t.readOffset);
    const ms = performance.now() - t0;
    if (ms > SLOW_READ_MS) {
      this.asyncReads = true;
      this.log.warn(
        { path: t.path, ms: Math.round(ms), code: 'LOGFERRY_SLOW_READ' },
        'a read took long; reading through the thread pool from now on',
      );
    }
    return n;
  }

  /** Stop reading `t` for good: what was read is delivered (or not) as it stands, nothing more is read. */
  private refuseLiar(t: Tailer): void {
    if (this.sizeLiars.size >= MAX_SIZE_LIARS) this.sizeLiars.clear();
    this.sizeLiars.add(t.key);
    this.trust.refusals.refuse(t.path, 'size-mismatch');
    t.framer.reset(t.readOffset);
    this.chargePending(t);
    this.readable.delete(t);
    this.tailers.step(t, 'refused'); // its paths no longer lead to it
    this.maybeRelease(t);
  }

  private chargePending(t: Tailer): void {
    const now = t.framer.pendingBytes;
    if (now > t.pendingCharged) this.budget.take(now - t.pendingCharged);
    else if (now < t.pendingCharged) this.budget.release(t.pendingCharged - now);
    t.pendingCharged = now;
  }

  /**
   * The id key, once the file's head (its first line, or 64 bytes) is read: the unfinished line read so far
   * and this chunk, the bytes read rather than what the file holds now (it may be rewritten meanwhile).
   */
  private async keyFromHead(t: Tailer, fh: FileHandle, bytesRead: number): Promise<void> {
    const pending = t.framer.pendingView;
    // Not read from 0 (a file followed from its end holds its key already): the head is read again.
    if (t.framer.committedEnd !== 0) return t.setHeadIdKey(await idKey(fh, t.dev, t.ino));
    const head =
      pending.length === 0
        ? this.buf.subarray(0, bytesRead)
        : Buffer.concat([pending, this.buf.subarray(0, Math.min(bytesRead, ID_HEAD_BYTES))]);
    if (headIsStable(head, head.length)) t.setHeadIdKey(idKeyFrom(head, head.length, t.dev, t.ino));
  }

  /**
   * An id key for the unfinished line about to be delivered, and only then (a key fixed with nothing to
   * deliver would be kept for the lines written later, while a restart computes theirs from their head).
   * Without a key nothing was delivered, so the line is all that was read: its bytes are the file's head as
   * read, which the file may no longer hold (truncated and rewritten).
   */
  private ensureId(t: Tailer): void {
    const head = t.framer.pendingView;
    if (t.idPrefix === '' && head.length > 0) t.setHeadIdKey(idKeyFrom(head, head.length, t.dev, t.ino));
  }

  /** Deliver the unfinished last line as it is (with an id key and a read time); recharge the budget. */
  private async flushPartialLine(t: Tailer): Promise<void> {
    this.ensureId(t);
    t.timestamp = new Date().toISOString();
    t.framer.flushPartial();
    this.chargePending(t);
  }

  /** A rotated file read to its end: its unfinished last line is delivered as it is, then it is let go. */
  private async finish(t: Tailer): Promise<void> {
    await this.flushPartialLine(t);
    // Found again under a matching path meanwhile: followed on, its last line already delivered as it was.
    if (t.state !== 'rotated') return;
    this.tailers.step(t, 'finished');
    this.log.info({ path: t.path }, 'rotated file read to its end; let go once its lines are acknowledged');
    this.out.flush();
    this.maybeRelease(t);
  }

  /** A finishing file with every line acknowledged is let go. */
  private maybeRelease(t: Tailer): void {
    if (!t.finishing || t.ack.outstanding > 0 || this.tailers.get(t.key) !== t) return;
    this.letGo(t, 'acknowledged');
  }

  /** The file is done with: it leaves the table, and its checkpoint entry is retired soon after. */
  private letGo(t: Tailer, event: 'lost' | 'acknowledged'): void {
    this.tailers.step(t, event);
    this.checkpointer.markFinished(t.key);
    this.checkpointer.soon();
    this.log.info({ path: t.path }, 'done with file');
  }

  private onCommit(t: Tailer, tracker: AckTracker): void {
    if (tracker !== t.ack) return; // a generation before a truncation
    t.dirty = true;
    this.checkpointer.soon();
    this.maybeRelease(t);
  }

  private poll(): void {
    const now = Date.now();
    if (now - this.lastIdleCheck >= IDLE_CHECK_MS) {
      this.lastIdleCheck = now;
      this.descriptors.closeIdle(false);
      this.forgetIdle(now);
    }
    if (now - this.lastSweep >= SWEEP_MS) {
      this.lastSweep = now;
      void this.sweep();
    }
    for (const t of this.tailers.values()) {
      // Rotated files get no events from the watcher: poll them. Active ones have the watcher, and the
      // rescan (which compares sizes) as a guard against a missed event, so they are not polled.
      if (t.state === 'rotated') this.markReadable(t);
    }
  }

  private lastSweep = Date.now();

  /**
   * Let go of files idle for forgetIdleMs whose every line is acknowledged and checkpointed: their tailer,
   * descriptor and metric series go, their checkpoint entry stays until the file leaves its path.
   */
  private forgetIdle(now: number): void {
    if (this.draining) return;
    const idle: Tailer[] = [];
    for (const t of this.tailers.values()) {
      // Not while reading: a read in flight would end on a tailer let go.
      if ((t.state !== 'at-end' && t.state !== 'idle-closed') || t.dirty || t.idPrefix === '') continue;
      if (t.ack.outstanding > 0 || t.framer.pendingBytes > 0 || t.ack.committed !== t.readOffset) continue;
      if (now - t.lastGrowthAt < this.opts.forgetIdleMs || this.store.get(t.key)?.offset !== t.readOffset)
        continue;
      idle.push(t);
    }
    if (idle.length === 0) return;
    for (const t of idle) {
      if (this.tailers.pathsOf(t).length !== 1) continue; // a file under several names stays followed
      // The table closes its descriptor and keeps its path as a forgotten one.
      if (!this.tailers.step(t, 'forget-idle')) continue;
      this.forgottenTotal++;
      this.log.info({ path: t.path, offset: t.readOffset }, 'idle file forgotten; its checkpoint stays');
    }
  }

  /** Look at the paths of forgotten and waiting files, in case their delete or rename event was missed. */
  private async sweep(): Promise<void> {
    const paths = [...this.tailers.forgottenPaths(), ...this.waiting.keys()];
    for (const p of paths) {
      if (!this.running || this.draining) return;
      const st = await stat(p, { bigint: true }).catch(() => null);
      const key = st?.isFile() ? fileKey(st.dev, st.ino) : null;
      const was = this.tailers.forgottenAt(p) ?? this.waiting.get(p);
      if (was === undefined) continue;
      const grown = key === was && Number(st!.size) !== this.store.get(was)?.offset;
      if (key !== was || (grown && this.tailers.forgottenAt(p) !== undefined)) this.pathChanged(p);
    }
  }

  /** Persist the acknowledged offsets of every changed file. */
  checkpoint(): Promise<void> {
    return this.checkpointer.checkpoint();
  }

  /** The same, synchronously, for the second signal (the process exits right after). */
  checkpointSync(): void {
    this.checkpointer.writeSync();
  }

  /** Shutdown: stop taking paths, read every file to its current end, deliver partial last lines. */
  async drain(): Promise<void> {
    this.draining = true;
    await this.pathWorker;
    // Forgotten files that grew while their event waited: followed again, to be read to their end below.
    for (const p of this.tailers.forgottenPaths()) await this.handlePath(p, false).catch(() => {});
    // Files closed while idle may have grown since (their event not handled yet): reopen those still there.
    for (const t of [...this.tailers.values()]) {
      if (t.state !== 'idle-closed') continue;
      const st = await stat(t.path, { bigint: true }).catch(() => null);
      if (st !== null && fileKey(st.dev, st.ino) === t.key) await this.reopen(t);
    }
    for (const t of this.tailers.values()) if (t.fh !== null && !t.finishing) this.markReadable(t);
    if (this.readable.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    for (const t of this.tailers.values()) {
      if (t.fh === null || t.finishing) continue;
      await this.flushPartialLine(t);
    }
    this.out.flush();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.checkpointer.stop();
    for (const t of this.timers) clearInterval(t);
    for (const t of this.trailing.values()) clearTimeout(t);
    this.trailing.clear();
    this.budget.wakeAll();
    this.wake?.();
    await this.loopDone;
    await this.pathWorker;
  }

  async closeFiles(): Promise<void> {
    await this.tailers.closeAll();
  }
}
