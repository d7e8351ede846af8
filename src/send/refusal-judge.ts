// Is a lone refused record poison, or is the collector refusing everything? A pure state machine fed by the sender.
//
// A record refused on its own is dead-lettered only on evidence that the collector takes other records:
// a request sent after the refusal of the record's batch (its family: the batch it was split from) was
// accepted. Without that evidence, or when several different records in a row are refused for the same
// reason with no acceptance between them, delivery is held: the record is sent again after a backoff (the
// collector may have changed its mind meanwhile) and judged again when it is refused again.
// Refused again, the acceptance of a request sent after the record first went out (while it was in flight)
// is evidence too: without it, a record sent together with the rest of a burst would wait for the file's
// next line, which a quiet application may never write.

/** Distinct lone records refused for one reason, with no acceptance between them, that mean "refuses everything". */
export const REFUSALS_BEFORE_HOLD = 5;

/** Held lone records remembered; as many as can wait at once is far fewer (the buffer bounds them). */
const HELD_ONCE_MAX = 4096;

export type SingleVerdict = 'poison' | 'hold';
export type BatchVerdict = 'split' | 'hold';

interface Holding {
  /** `status reason` of the refusals that hold delivery. */
  key: string;
  status: number;
  reason: string;
  /** Epoch ms when the hold began. */
  since: number;
}

/** The key two refusals share when they are "for the same reason". */
function refusalKey(status: number, reason: string): string {
  return `${status} ${reason.slice(0, 200)}`;
}

export class RefusalJudge {
  /** Requests sent so far; a request's number is the count when it was sent. */
  private sentCount = 0;
  /** Highest number of a request that was accepted. */
  private acceptedUpTo = 0;
  /** Lone records held at least once (judged again when refused again); bounded, oldest forgotten first. */
  private readonly heldOnce = new Set<string>();
  private streakKey = '';
  private readonly streak = new Set<string>();
  holding: Holding | null = null;

  constructor(
    private readonly limit = REFUSALS_BEFORE_HOLD,
    private readonly now: () => number = Date.now,
  ) {}

  /** A request is being sent: its number. */
  sent(): number {
    return ++this.sentCount;
  }

  /** The point a family's first refusal arrived at: acceptances of requests sent after it are evidence. */
  mark(): number {
    return this.sentCount;
  }

  /** A request holding records was accepted (some or all of them stored). */
  accepted(request: number): void {
    if (request > this.acceptedUpTo) this.acceptedUpTo = request;
    this.streak.clear();
    this.streakKey = '';
    this.holding = null;
  }

  /** A request of several records was refused for content: split it, unless refusals of this kind hold delivery. */
  refusedBatch(status: number, reason: string): BatchVerdict {
    return this.holding?.key === refusalKey(status, reason) ? 'hold' : 'split';
  }

  /**
   * A record alone was refused (`id`: the record, `familyMark`: `mark()` when its family was first refused,
   * `firstSent`: the number of the first request that held it). Asking again for the same record (after a
   * wait) does not count it twice.
   */
  refusedSingle(
    status: number,
    reason: string,
    id: string,
    familyMark: number,
    firstSent = Number.POSITIVE_INFINITY,
  ): SingleVerdict {
    const key = refusalKey(status, reason);
    if (key !== this.streakKey) {
      this.streak.clear();
      this.streakKey = key;
    }
    this.streak.add(id);
    const again = this.heldOnce.has(id);
    const evidence = this.acceptedUpTo > familyMark || (again && this.acceptedUpTo > firstSent);
    if (evidence && this.streak.size < this.limit) {
      this.heldOnce.delete(id);
      return 'poison';
    }
    if (!again) {
      if (this.heldOnce.size >= HELD_ONCE_MAX) this.heldOnce.delete(this.heldOnce.values().next().value!);
      this.heldOnce.add(id);
    }
    this.holding ??= { key, status, reason, since: this.now() };
    return 'hold';
  }
}
