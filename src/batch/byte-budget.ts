// The one memory budget: bytes of queued lines, partial lines and request bodies; reading pauses when it is spent.

export class ByteBudget {
  used = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly max: number) {}

  /** Reading may go on only while this is false. */
  get full(): boolean {
    return this.used >= this.max;
  }

  take(bytes: number): void {
    this.used += bytes;
  }

  /** Waiters are woken on every release, full or not: they decide (see FileServer's read loop). */
  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) this.used = 0;
    if (this.waiters.length > 0) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    }
  }

  /** Resolves at the next release (at once when there is room). */
  whenAvailable(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wake every waiter (shutdown). */
  wakeAll(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
