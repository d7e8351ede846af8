// Repeated warnings (collector down for an hour) logged once per window with a count, not once per attempt.
import type { Logger } from 'pino';

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly windowMs = 60_000,
  ) {}

  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    this.emit('warn', key, obj, msg);
  }

  error(key: string, obj: Record<string, unknown>, msg: string): void {
    this.emit('error', key, obj, msg);
  }

  private emit(level: 'warn' | 'error', key: string, obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.windowMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    this.log[level](suppressed > 0 ? { ...obj, suppressedSinceLast: suppressed } : obj, msg);
  }

  /** The condition is over: forget it, and say so if it was reported. */
  clear(key: string, msg: string): void {
    if (this.last.delete(key)) this.log.info(msg);
  }
}
