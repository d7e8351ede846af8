// The tailer's life: its states, the events that move it, and the one table of allowed transitions.
import type { FileHandle } from 'node:fs/promises';

/**
 * reading, at-end, idle-closed: a matching path leads to the file ("followed").
 * rotated, rotated-closed, finishing: no matching path does; the file is read to its end, then let go.
 * forgotten, done: let go (terminal); a forgotten file keeps its checkpoint entry, a done one's is retired.
 */
export type TailerState =
  | 'reading'
  | 'at-end'
  | 'idle-closed'
  | 'rotated'
  | 'rotated-closed'
  | 'finishing'
  | 'forgotten'
  | 'done';

export type TailerEvent =
  /** Maybe more to read: a watcher event, the poll of a rotated file, the shutdown's last read. */
  | 'grew'
  /** Read to its current end (or a read failed: the next event or poll tries again). */
  | 'eof'
  /** Shorter than the read offset: read again from offset 0. */
  | 'truncated'
  /** Idle and fully delivered: its descriptor is given back. */
  | 'idle-timeout'
  /** A descriptor was opened again for it. */
  | 'reopened'
  /** No matching path leads to it any more (renamed away, deleted, replaced). */
  | 'path-gone'
  /** A matching path leads to it again (renamed back, or to a name the globs take). */
  | 'path-found'
  /** Rotated, read to its end and the rotate wait over: its unfinished last line was delivered. */
  | 'finished'
  /** It reads on past the size it reports (a kernel file): nothing more is read. */
  | 'refused'
  /** Finishing, and every line sent is acknowledged. */
  | 'acknowledged'
  /** Rotated, and not found beside its old path (or what is there is another file). */
  | 'lost'
  /** Idle, every line acknowledged and checkpointed: only the checkpoint entry is kept. */
  | 'forget-idle'
  /** The agent stops: every descriptor is closed. */
  | 'stopped';

const TABLE: Readonly<Record<TailerState, Partial<Record<TailerEvent, TailerState>>>> = {
  reading: {
    grew: 'reading',
    eof: 'at-end',
    truncated: 'reading',
    'path-gone': 'rotated',
    refused: 'finishing',
    stopped: 'done',
  },
  'at-end': {
    grew: 'reading',
    eof: 'at-end',
    'idle-timeout': 'idle-closed',
    'path-gone': 'rotated',
    'forget-idle': 'forgotten',
    stopped: 'done',
  },
  'idle-closed': {
    grew: 'idle-closed',
    reopened: 'reading',
    'path-gone': 'rotated-closed',
    'forget-idle': 'forgotten',
    stopped: 'done',
  },
  rotated: {
    grew: 'rotated',
    eof: 'rotated',
    truncated: 'rotated',
    'path-found': 'reading',
    finished: 'finishing',
    refused: 'finishing',
    lost: 'done',
    stopped: 'done',
  },
  'rotated-closed': {
    reopened: 'rotated',
    'path-found': 'idle-closed',
    lost: 'done',
    stopped: 'done',
  },
  // Found again while its last acknowledgements are awaited: followed on, not let go (its entry would be
  // retired and the file read again from 0). A refused file never gets here: its key is refused first.
  finishing: {
    grew: 'finishing',
    'path-found': 'reading',
    acknowledged: 'done',
    stopped: 'done',
  },
  forgotten: {},
  done: {},
};

export const TAILER_STATES = Object.keys(TABLE) as TailerState[];
export const TAILER_EVENTS: readonly TailerEvent[] = [
  'grew',
  'eof',
  'truncated',
  'idle-timeout',
  'reopened',
  'path-gone',
  'path-found',
  'finished',
  'refused',
  'acknowledged',
  'lost',
  'forget-idle',
  'stopped',
];

/** An event the tailer's state does not allow: a bug in the caller, never a fault of the file. */
export class TailStateError extends Error {
  readonly code = 'LOGFERRY_TAIL_STATE';
  constructor(
    readonly from: TailerState,
    readonly event: TailerEvent,
    why = 'no such transition',
  ) {
    super(`tailer in state '${from}' cannot take event '${event}': ${why}`);
  }
}

/** The state after `event`, or null when `from` does not allow it. */
function next(from: TailerState, event: TailerEvent): TailerState | null {
  return TABLE[from][event] ?? null;
}

/** `from` takes `event` (for a step that a concurrent one may have made moot). */
export function allows(from: TailerState, event: TailerEvent): boolean {
  return next(from, event) !== null;
}

/** The state after `event`; throws TailStateError when `from` does not allow it. */
export function transition(from: TailerState, event: TailerEvent): TailerState {
  const to = next(from, event);
  if (to === null) throw new TailStateError(from, event);
  return to;
}

/** The file's descriptor is open in exactly these states. */
export function holdsDescriptor(s: TailerState): boolean {
  return s === 'reading' || s === 'at-end' || s === 'rotated' || s === 'finishing';
}

/** A matching path leads to the file: its path's events concern it. */
export function isFollowed(s: TailerState): boolean {
  return s === 'reading' || s === 'at-end' || s === 'idle-closed';
}

export function isTerminal(s: TailerState): boolean {
  return s === 'forgotten' || s === 'done';
}

/**
 * A tailer's state and descriptor, changed together and only by `apply`: the descriptor is held exactly
 * in the states that hold one (holdsDescriptor).
 */
export class TailerLife {
  private current: TailerState;
  private handle: FileHandle | null;

  constructor(fh: FileHandle, state: 'reading' | 'rotated' = 'reading') {
    this.current = state;
    this.handle = fh;
  }

  get state(): TailerState {
    return this.current;
  }

  get fh(): FileHandle | null {
    return this.handle;
  }

  /**
   * Take `event`; a transition into a state with a descriptor needs `fh` (and takes it), one out of it
   * returns the descriptor given up (the caller closes it). Throws TailStateError, changing nothing,
   * when the event is not allowed.
   */
  apply(event: TailerEvent, fh?: FileHandle): FileHandle | null {
    const to = transition(this.current, event);
    const had = holdsDescriptor(this.current);
    const has = holdsDescriptor(to);
    if (has && !had && fh === undefined) throw new TailStateError(this.current, event, 'no descriptor given');
    if (fh !== undefined && (had || !has))
      throw new TailStateError(this.current, event, 'descriptor not taken');
    this.current = to;
    if (has === had) return null;
    if (has) {
      this.handle = fh!;
      return null;
    }
    const given = this.handle;
    this.handle = null;
    return given;
  }
}
