// Caps open file descriptors at maxOpenFiles; releases the descriptors of idle, fully delivered files.
import type { RateLimitedLog } from '../telemetry/rate-limited-log.js';
import type { Tailer } from './tailer.js';
import type { TailerTable } from './tailer-table.js';

export class DescriptorBudget {
  /** Descriptors held by tracked files. */
  openCount = 0;

  constructor(
    private readonly maxOpenFiles: number,
    private readonly idleCloseMs: number,
    private readonly tailers: Pick<TailerTable, 'values' | 'step'>,
    /** A tailer's descriptor was closed by `closeIdle`. */
    private readonly onClosed: (t: Tailer) => void,
    private readonly noisy: RateLimitedLog,
  ) {}

  /** Take a descriptor, closing idle ones if needed; false (and a warning) when none is free. */
  reserve(): boolean {
    if (this.openCount >= this.maxOpenFiles) this.closeIdle(true);
    if (this.openCount >= this.maxOpenFiles) {
      this.noisy.warn(
        'LOGFERRY_FD_BUDGET',
        { code: 'LOGFERRY_FD_BUDGET', max: this.maxOpenFiles },
        'descriptor budget spent; file waits',
      );
      return false;
    }
    this.openCount++;
    return true;
  }

  /** Count a descriptor opened without a reservation. */
  take(): void {
    this.openCount++;
  }

  release(): void {
    this.openCount--;
  }

  /** Release descriptors of files idle for idleCloseMs (or, under pressure, of any fully delivered file). */
  closeIdle(pressure: boolean): void {
    const now = Date.now();
    for (const t of this.tailers.values()) {
      if (t.state !== 'at-end' || t.dirty) continue;
      if (t.ack.outstanding > 0 || t.framer.pendingBytes > 0) continue;
      if (!pressure && now - t.lastGrowthAt < this.idleCloseMs) continue;
      // The table closes the descriptor and gives its place back (release).
      if (!this.tailers.step(t, 'idle-timeout')) continue;
      this.onClosed(t);
      if (pressure && this.openCount < this.maxOpenFiles) return;
    }
  }
}
