// The one owner of the tracked files: tailers by key and by path, forgotten paths, and every state change.
import type { FileHandle } from 'node:fs/promises';
import type { RateLimitedLog } from '../telemetry/rate-limited-log.js';
import type { Tailer } from './tailer.js';
import { isFollowed, isTerminal, type TailerEvent, TailStateError } from './tailer-state.js';

/** What the checkpointer needs: the tracked files, read only. */
export type TailerView = Pick<TailerTable, 'get' | 'has' | 'values'>;

export class TailerTable {
  private readonly byKey = new Map<string, Tailer>();
  /** Matching paths that lead to a followed file; several for a file under links. */
  private readonly byPath = new Map<string, Tailer>();
  /** The same links, from the tailer's side. */
  private readonly pathSets = new Map<Tailer, Set<string>>();
  /**
   * Paths of files let go while idle and fully delivered, with their key: only their checkpoint entry is
   * kept, so the file resumes from it when it grows, and the entry goes when it leaves its path.
   */
  private readonly forgotten = new Map<string, string>();

  constructor(
    /** Why a transition was refused (a bug in the caller): logged, and the tailer keeps its state. */
    private readonly noisy: RateLimitedLog,
    /** A descriptor was given up by a transition (and is being closed): its place in the budget is free. */
    private readonly onReleased: () => void,
    /** A tailer reached a terminal state and left the table. */
    private readonly onLeft: (t: Tailer) => void,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): Tailer | undefined {
    return this.byKey.get(key);
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  values(): IterableIterator<Tailer> {
    return this.byKey.values();
  }

  /** Track a new tailer; its file is no longer a forgotten one. */
  add(t: Tailer): void {
    for (const [p, k] of this.forgotten) if (k === t.key) this.forgotten.delete(p);
    this.byKey.set(t.key, t);
  }

  /** The tailer `path` leads to. */
  atPath(path: string): Tailer | undefined {
    return this.byPath.get(path);
  }

  /** The paths that lead to `t`. */
  pathsOf(t: Tailer): string[] {
    return [...(this.pathSets.get(t) ?? [])];
  }

  /** `path` leads to `t`; a file that had lost its path is followed there again (true). */
  addPath(path: string, t: Tailer): boolean {
    const found = !isFollowed(t.state);
    if (found && !this.step(t, 'path-found')) return false;
    this.removePath(path);
    this.byPath.set(path, t);
    const set = this.pathSets.get(t);
    if (set === undefined) this.pathSets.set(t, new Set([path]));
    else set.add(path);
    if (!found) return false;
    t.moveTo(path);
    t.dirty = true;
    return true;
  }

  removePath(path: string): void {
    const t = this.byPath.get(path);
    if (t === undefined) return;
    this.byPath.delete(path);
    const set = this.pathSets.get(t)!;
    set.delete(path);
    if (set.size === 0) this.pathSets.delete(t);
  }

  /** The key of the forgotten file last seen at `path`. */
  forgottenAt(path: string): string | undefined {
    return this.forgotten.get(path);
  }

  forgottenPaths(): string[] {
    return [...this.forgotten.keys()];
  }

  unforget(path: string): void {
    this.forgotten.delete(path);
  }

  /** The path leads to a followed or a forgotten file. */
  follows(path: string): boolean {
    return this.byPath.has(path) || this.forgotten.has(path);
  }

  /**
   * The only place a tailer's state changes (see tailer-state.ts). A descriptor given up is closed and
   * its place freed; a tailer that loses its path loses its paths here; one let go leaves the table.
   * False, and logged, when the state does not allow the event: the tailer keeps its state.
   */
  step(t: Tailer, event: TailerEvent, fh?: FileHandle): boolean {
    let given: FileHandle | null;
    try {
      given = t.life.apply(event, fh);
    } catch (err) {
      if (!(err instanceof TailStateError)) throw err;
      this.noisy.error(
        `tail-state:${err.from}:${event}`,
        { code: err.code, path: t.path, from: err.from, event, err: err.message },
        'impossible tailer transition ignored',
      );
      return false;
    }
    if (given !== null) {
      void given.close().catch(() => {});
      this.onReleased();
    }
    if (event === 'path-gone' || event === 'refused' || isTerminal(t.state)) {
      const at = this.pathsOf(t);
      for (const p of at) this.removePath(p);
      if (t.state === 'forgotten' && at.length === 1) this.forgotten.set(at[0]!, t.key);
    }
    if (isTerminal(t.state)) {
      if (this.byKey.get(t.key) === t) this.byKey.delete(t.key);
      this.onLeft(t);
    }
    return true;
  }

  /** The agent stops: every descriptor is closed; the tailers stay listed for the last metrics. */
  async closeAll(): Promise<void> {
    for (const t of this.byKey.values()) {
      if (isTerminal(t.state)) continue;
      await t.life
        .apply('stopped')
        ?.close()
        .catch(() => {});
    }
  }
}
