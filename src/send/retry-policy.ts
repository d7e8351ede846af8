// The retry decision as a pure function: (outcome, headers, attempt) → deliver, retry, hold, split or isolate.

export type Outcome = { status: number } | { error: 'network' | 'timeout' };

export type Verdict =
  | { kind: 'ok' }
  /** A passing fault (network, timeout, 408, 429, 5xx): try the same request again later. */
  | { kind: 'retry'; afterMs: number; reason: string }
  /** A refusal about the request or the collector, not the records: retried forever, reported as held. */
  | { kind: 'hold'; afterMs: number; reason: string }
  /** 413 with several records: send the halves. */
  | { kind: 'split' }
  /** A refusal that may be about some records: split until they stand alone, then judge (refusal-judge.ts). */
  | { kind: 'isolate'; reason: string };

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

/**
 * Refusals about the request or the collector (credentials, path, method, proxy, headers, protocol), never
 * about the records in it: the contract's list, with the other statuses RFC 9110 defines as such.
 */
const HELD_STATUSES = new Set([
  401, 402, 403, 404, 405, 406, 407, 410, 411, 412, 414, 415, 417, 421, 423, 424, 425, 426, 428, 431,
]);

export function isHeldStatus(status: number): boolean {
  return HELD_STATUSES.has(status);
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
  if (isHeldStatus(status))
    return { kind: 'hold', afterMs: backoff(attempt, opts), reason: `HTTP ${status}` };
  if (status === 413 && records > 1) return { kind: 'split' };
  if (status === 413)
    return { kind: 'isolate', reason: 'HTTP 413: a single record is larger than the collector accepts' };
  // 400, 422 and the 4xx nobody lists: maybe some records; isolated before anything is dead-lettered.
  return { kind: 'isolate', reason: `HTTP ${status}` };
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
