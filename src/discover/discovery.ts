// chokidar + picomatch → "something happened at this path" for every file the globs select, minus excludes.
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import picomatch from 'picomatch';
import type { Logger } from 'pino';
import { type Root, rootsOf } from './roots.js';
import type { Trust } from './trust.js';

/** Every this many rescans, paths already followed are reported again too (a size check). */
const FULL_RESCAN_EVERY = 6;

export interface DiscoveryOptions {
  paths: string[];
  exclude: string[];
  /** Full re-walk of the roots, a safety net for missed events. */
  rescanIntervalMs: number;
  /** The agent's state directory: nothing below it is followed. */
  stateDir?: string;
  /** A path already followed: a rescan need not report it every time. */
  isKnown?: (path: string) => boolean;
  /** How often a root directory that does not exist yet is looked for. */
  missingRootPollMs?: number;
  /** Directories whose real path leaves the roots are not descended into. */
  trust?: Trust;
}

export class Discovery {
  private readonly roots: Root[];
  private readonly watched = new Set<string>();
  private readonly matches: (p: string) => boolean;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly isKnown: (path: string) => boolean;

  constructor(
    private readonly opts: DiscoveryOptions,
    private readonly onPath: (path: string) => void,
    private readonly log: Logger,
  ) {
    this.roots = rootsOf(opts.paths);
    this.isKnown = opts.isKnown ?? (() => false);
    const include = picomatch(opts.paths, { dot: true });
    // Excludes without a slash ("*.gz") match the file name, as users of Fluent Bit and Vector expect.
    const exclude =
      opts.exclude.length > 0 ? picomatch(opts.exclude, { dot: true, basename: true }) : () => false;
    // The agent's own state (checkpoints, dead letters) is never a log to ship, whatever the globs say.
    const own = opts.stateDir === undefined ? null : `${resolve(opts.stateDir)}/`;
    this.matches = (p) => include(p) && !exclude(p) && (own === null || !p.startsWith(own));
  }

  /** Start watching; resolves with every matching file that exists now. */
  async start(): Promise<string[]> {
    const found = await this.scan();
    this.timers.push(
      setInterval(() => void this.rescan(), this.opts.rescanIntervalMs).unref(),
      setInterval(() => void this.watchNewRoots(), this.opts.missingRootPollMs ?? 500).unref(),
    );
    return found;
  }

  /** Walk every root (watching the ones that now exist) and list the matching files. */
  async scan(): Promise<string[]> {
    const out: string[] = [];
    for (const root of this.roots) {
      if (await this.ensureWatched(root)) await this.walk(root.dir, root.depth, out);
    }
    return [...new Set(out)];
  }

  private rescans = 0;

  /**
   * The safety net for missed watcher events. Paths already followed are re-checked only every
   * FULL_RESCAN_EVERY rescans: a stat of every quiet file each time would be most of the agent's idle CPU.
   */
  private async rescan(): Promise<void> {
    if (this.closed) return;
    const full = ++this.rescans % FULL_RESCAN_EVERY === 0;
    for (const p of await this.scan()) {
      if (!this.closed && (full || !this.isKnown(p))) this.onPath(p);
    }
  }

  private async watchNewRoots(): Promise<void> {
    for (const root of this.roots) {
      if (this.closed || this.watched.has(root.dir)) continue;
      if (await this.ensureWatched(root)) {
        this.log.info({ dir: root.dir }, 'directory appeared; watching it');
        const found: string[] = [];
        await this.walk(root.dir, root.depth, found);
        for (const p of found) this.onPath(p);
      }
    }
  }

  private async ensureWatched(root: Root): Promise<boolean> {
    if (this.watched.has(root.dir)) return true;
    const st = await stat(root.dir).catch(() => null);
    if (!st?.isDirectory() || this.closed) return false;
    // A root that is (or lies below) a symlink leaving the roots: nothing below it could be read. Looked at
    // again with the missing roots, in case it is fixed.
    if (!this.mayDescend(root.dir)) {
      if (!this.refusedRoots.has(root.dir)) {
        this.refusedRoots.add(root.dir);
        this.log.warn(
          { code: 'LOGFERRY_ROOT_REFUSED', dir: root.dir },
          'a watched directory resolves outside the roots (a symlink in its path); add its real path to LOGFERRY_ALLOWED_ROOTS to read it',
        );
      }
      return false;
    }
    this.watched.add(root.dir);
    // chokidar 4+ takes no globs: watch the base directory to the depth the patterns need. It follows
    // symlinks (a linked file's changes are its target's), but not into a directory that leaves the roots.
    const w = watch(root.dir, {
      ignoreInitial: true,
      followSymlinks: true,
      ignored: (path, stats) => stats?.isDirectory() === true && !this.mayDescend(path),
      atomic: false,
      persistent: true,
      ...(root.depth === undefined ? {} : { depth: root.depth }),
    });
    w.on('all', (event, path) => {
      if ((event === 'add' || event === 'change' || event === 'unlink') && this.matches(path))
        this.onPath(path);
      if (event === 'unlinkDir' && path === root.dir) {
        this.watched.delete(root.dir);
        void w.close();
      }
    });
    w.on('error', (err) =>
      this.log.warn({ err, code: 'LOGFERRY_WATCH', dir: root.dir }, 'file watcher error'),
    );
    this.subWatchers.push(w);
    return true;
  }

  private readonly subWatchers: FSWatcher[] = [];
  private readonly refusedRoots = new Set<string>();

  private mayDescend(path: string): boolean {
    const trust = this.opts.trust;
    if (trust === undefined) return true;
    const reason = trust.policy.mayDescend(path);
    if (reason !== null) trust.refusals.refuse(path, reason);
    return reason === null;
  }

  private async walk(dir: string, depth: number | undefined, out: string[]): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(dir, e.name);
      if (!e.isDirectory()) {
        if (!this.matches(p)) continue;
        if (e.isSymbolicLink()) {
          const st = await stat(p).catch(() => null);
          if (st === null || st.isDirectory()) continue;
        }
        // Not only regular files: the file server refuses the others, and says so.
        out.push(p);
      } else if (e.isDirectory() && (depth === undefined || depth > 0)) {
        await this.walk(p, depth === undefined ? undefined : depth - 1, out);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all(this.subWatchers.map((w) => w.close()));
  }
}
