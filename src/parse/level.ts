// Severity names and numbers of the common loggers → one of trace, debug, info, warn, error, fatal.

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const NAMES = new Map<string, Level>(
  Object.entries({
    trace: 'trace',
    trc: 'trace',
    finest: 'trace',
    finer: 'trace',
    verbose: 'trace',
    debug: 'debug',
    dbg: 'debug',
    fine: 'debug',
    config: 'debug',
    info: 'info',
    inf: 'info',
    information: 'info',
    informational: 'info',
    notice: 'info',
    log: 'info',
    warn: 'warn',
    warning: 'warn',
    wrn: 'warn',
    error: 'error',
    err: 'error',
    eror: 'error',
    severe: 'error',
    fatal: 'fatal',
    ftl: 'fatal',
    critical: 'fatal',
    crit: 'fatal',
    alert: 'fatal',
    emerg: 'fatal',
    emergency: 'fatal',
    panic: 'fatal',
    dpanic: 'fatal',
  }) as [string, Level][],
);

/** glog / klog single letters (I0102 15:04:05 ...), also used by Android. */
const LETTERS = new Map<string, Level>(
  Object.entries({ t: 'trace', v: 'trace', d: 'debug', i: 'info', w: 'warn', e: 'error', f: 'fatal' }) as [
    string,
    Level,
  ][],
);

/**
 * The normalised level of a field value, or null when it is not one we know.
 * Numbers: pino/bunyan (10 trace … 60 fatal).
 */
export function normalizeLevel(v: unknown): Level | null {
  if (typeof v === 'number') {
    if (v >= 60) return 'fatal';
    if (v >= 50) return 'error';
    if (v >= 40) return 'warn';
    if (v >= 30) return 'info';
    if (v >= 20) return 'debug';
    if (v >= 10) return 'trace';
    return null;
  }
  if (typeof v !== 'string' || v.length === 0 || v.length > 16) return null;
  const s = v.trim().toLowerCase();
  const named = NAMES.get(s);
  if (named !== undefined) return named;
  if (s.length === 1) return LETTERS.get(s) ?? null;
  if (/^\d{2}$/.test(s)) return normalizeLevel(Number(s));
  return null;
}
