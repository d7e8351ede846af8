// Why delivery is held, if it is: the last refusal that holds it, since when, and counts per status.

export interface Held {
  /** `request`: a refusal about the request or the collector (401, 404, ...); `refusals`: it refuses every record. */
  cause: 'request' | 'refusals';
  /** Epoch ms of the first refusal of this hold. */
  since: number;
  /** Epoch ms of the latest one. */
  lastAt: number;
  status: number;
  /** The collector's answer (trimmed), or the protocol's reading of it. */
  reason: string;
}

export class DeliveryState {
  held: Held | null = null;
  /** Answers that held delivery, per HTTP status. */
  readonly heldTotal = new Map<string, number>();
  /** Epoch ms of the last accepted request, or null. */
  lastAcceptedAt: number | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  hold(cause: Held['cause'], status: number, reason: string): void {
    const at = this.now();
    const key = String(status);
    this.heldTotal.set(key, (this.heldTotal.get(key) ?? 0) + 1);
    if (this.held === null) this.held = { cause, since: at, lastAt: at, status, reason };
    else Object.assign(this.held, { cause, lastAt: at, status, reason });
  }

  accepted(): void {
    this.held = null;
    this.lastAcceptedAt = this.now();
  }
}
