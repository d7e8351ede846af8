// The retry decision as a pure function: (outcome, headers, attempt) → deliver, retry later, split or reject.

export type Outcome = { status: number } | { error: 'network' | 'timeout' };

export type Verdict =
  | { kind: 'ok' }
  | { kind: 'retry'; afterMs: number; reason: string }
  | { kind: 'split' }
  | { kind: 'reject'; reason: string };

export interface RetryOptions {
  initialMs: number;
  maxMs: number;
  /** Upper bound on an honoured Retry-After, so a bogus header cannot stall shipping for days. */
  retryAfterMaxMs: number;
  /** Returns [0, 1); injectable for tests. */
  random?: () => number;
  now?: () => number;
}

/** Statuses that say "try the same request again later". */
const MIN_HINTED_MS = 100;

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export function decide(
  outcome: Outcome,
  retryAfter: string | undefined,
  attempt: number,
  records: number,
  opts: RetryOptions,
): Verdict {
  if ('error' in outcome) return { kind: 'retry', afterMs: backoff(attempt, opts), reason: outcome.error };
  const { status } = outcome;
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (isRetryableStatus(status)) {
    const hinted = parseRetryAfter(retryAfter, opts.now?.() ?? Date.now());
    // A hint of 0 repeated by a struggling server must not become a busy loop: floor it.
    const afterMs =
      hinted === null
        ? backoff(attempt, opts)
        : Math.max(MIN_HINTED_MS, Math.min(hinted, opts.retryAfterMaxMs));
    return { kind: 'retry', afterMs, reason: `HTTP ${status}` };
  }
  // Not an answer about the records (1xx, a redirect, which is not followed: a misconfigured endpoint):
  // only 4xx set records aside, so these wait and retry like an outage rather than dead-letter everything.
  if (status < 400) return { kind: 'retry', afterMs: backoff(attempt, opts), reason: `HTTP ${status}` };
  if (status === 413 && records > 1) return { kind: 'split' };
  if (status === 413)
    return { kind: 'reject', reason: 'HTTP 413: a single record is larger than the collector accepts' };
  return { kind: 'reject', reason: `HTTP ${status}` };
}

/** Capped exponential backoff with "equal jitter": half fixed, half random, never zero. */
export function backoff(attempt: number, opts: RetryOptions): number {
  const exp = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  const r = (opts.random ?? Math.random)();
  return Math.round(exp / 2 + (exp / 2) * r);
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); null when absent or malformed. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (v === '') return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[A-Za-z]/.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
