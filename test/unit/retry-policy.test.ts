// The retry decision (pure): which outcomes deliver, retry, split or reject; Retry-After; capped jittered backoff.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backoff,
  decide,
  type Outcome,
  parseRetryAfter,
  type RetryOptions,
  type Verdict,
} from '../../src/send/retry-policy.js';

const NOW = Date.parse('2025-03-01T12:00:00Z');

const opts = (over: Partial<RetryOptions> = {}): RetryOptions => ({
  initialMs: 100,
  maxMs: 5_000,
  retryAfterMaxMs: 60_000,
  random: () => 0.5,
  now: () => NOW,
  ...over,
});

test('decide: status and error table', () => {
  const cases: { outcome: Outcome; records: number; kind: Verdict['kind'] }[] = [
    { outcome: { status: 200 }, records: 5, kind: 'ok' },
    { outcome: { status: 201 }, records: 5, kind: 'ok' },
    { outcome: { status: 202 }, records: 1, kind: 'ok' },
    { outcome: { status: 204 }, records: 5, kind: 'ok' },
    { outcome: { status: 299 }, records: 5, kind: 'ok' },
    { outcome: { status: 408 }, records: 5, kind: 'retry' },
    { outcome: { status: 429 }, records: 5, kind: 'retry' },
    { outcome: { status: 500 }, records: 5, kind: 'retry' },
    { outcome: { status: 502 }, records: 5, kind: 'retry' },
    { outcome: { status: 503 }, records: 5, kind: 'retry' },
    { outcome: { status: 504 }, records: 1, kind: 'retry' },
    { outcome: { error: 'network' }, records: 5, kind: 'retry' },
    { outcome: { error: 'timeout' }, records: 5, kind: 'retry' },
    // A redirect is about the endpoint, not the records: wait and retry, never dead-letter.
    { outcome: { status: 301 }, records: 5, kind: 'retry' },
    { outcome: { status: 302 }, records: 5, kind: 'retry' },
    { outcome: { status: 307 }, records: 5, kind: 'retry' },
    // Refusals of the request, not its records: held (retried forever), never dead-lettered.
    { outcome: { status: 401 }, records: 5, kind: 'hold' },
    { outcome: { status: 403 }, records: 1, kind: 'hold' },
    { outcome: { status: 404 }, records: 5, kind: 'hold' },
    { outcome: { status: 405 }, records: 5, kind: 'hold' },
    { outcome: { status: 407 }, records: 5, kind: 'hold' },
    { outcome: { status: 411 }, records: 5, kind: 'hold' },
    { outcome: { status: 415 }, records: 5, kind: 'hold' },
    { outcome: { status: 426 }, records: 5, kind: 'hold' },
    { outcome: { status: 431 }, records: 1, kind: 'hold' },
    // Maybe about some records: isolated (split until they stand alone, then judged).
    { outcome: { status: 400 }, records: 5, kind: 'isolate' },
    { outcome: { status: 400 }, records: 1, kind: 'isolate' },
    { outcome: { status: 422 }, records: 5, kind: 'isolate' },
    { outcome: { status: 409 }, records: 5, kind: 'isolate' },
    { outcome: { status: 413 }, records: 2, kind: 'split' },
    { outcome: { status: 413 }, records: 1000, kind: 'split' },
    { outcome: { status: 413 }, records: 1, kind: 'isolate' },
  ];
  for (const c of cases) {
    for (const attempt of [0, 3, 50]) {
      const v = decide(c.outcome, undefined, attempt, c.records, opts());
      assert.equal(
        v.kind,
        c.kind,
        `${JSON.stringify(c.outcome)} with ${c.records} records, attempt ${attempt}`,
      );
      if (v.kind === 'retry' || v.kind === 'hold') {
        assert.ok(v.afterMs > 0, 'a retry waits');
        assert.ok(v.afterMs <= opts().maxMs, 'without a hint the wait is the capped backoff');
        assert.equal(v.afterMs, backoff(attempt, opts()));
        assert.ok(v.reason.length > 0);
      }
      if (v.kind === 'isolate')
        assert.match(v.reason, new RegExp(String((c.outcome as { status: number }).status)));
    }
  }
});

test('decide: errors ignore Retry-After; retryable statuses honour it', () => {
  const network = decide({ error: 'network' }, '30', 0, 1, opts());
  assert.deepEqual(network, { kind: 'retry', afterMs: backoff(0, opts()), reason: 'network' });
  const timeout = decide({ error: 'timeout' }, '30', 2, 1, opts());
  assert.deepEqual(timeout, { kind: 'retry', afterMs: backoff(2, opts()), reason: 'timeout' });
  for (const status of [408, 429, 503]) {
    const v = decide({ status }, '7', 0, 3, opts());
    assert.deepEqual(v, { kind: 'retry', afterMs: 7000, reason: `HTTP ${status}` });
  }
  // A hint on a response that is not retried does not turn it into a retry.
  assert.equal(decide({ status: 400 }, '1', 0, 3, opts()).kind, 'isolate');
  assert.equal(decide({ status: 200 }, '1', 0, 3, opts()).kind, 'ok');
});

test('decide: Retry-After as HTTP-date, malformed, capped, floored', () => {
  const retryAfterMs = (value: string | undefined, over: Partial<RetryOptions> = {}, attempt = 1) => {
    const v = decide({ status: 503 }, value, attempt, 2, opts(over));
    assert.equal(v.kind, 'retry');
    return (v as { afterMs: number }).afterMs;
  };
  const date = new Date(NOW + 12_000).toUTCString();
  assert.equal(retryAfterMs(date), 12_000, `HTTP-date ${date}`);
  // Malformed: ignored, falls back to the backoff.
  for (const bad of ['soon', '1.5', '-3', '12abc', '', '   ', 'Mon, 99 Foo 2025 99:99:99 GMT']) {
    assert.equal(retryAfterMs(bad), backoff(1, opts()), `malformed ${JSON.stringify(bad)}`);
  }
  assert.equal(retryAfterMs(undefined), backoff(1, opts()));
  // Capped by retryAfterMaxMs, in both forms.
  assert.equal(retryAfterMs('86400'), 60_000);
  assert.equal(retryAfterMs(new Date(NOW + 3_600_000).toUTCString()), 60_000);
  assert.equal(retryAfterMs('30', { retryAfterMaxMs: 2_000 }), 2_000);
  // 0, or a date in the past, is floored so a struggling server cannot cause a busy loop.
  const zero = retryAfterMs('0');
  assert.ok(zero > 0 && zero <= 1000, `Retry-After: 0 gave ${zero}`);
  const past = retryAfterMs(new Date(NOW - 60_000).toUTCString());
  assert.equal(past, zero);
});

test('parseRetryAfter table', () => {
  const cases: [string | undefined, number | null][] = [
    [undefined, null],
    ['', null],
    ['  ', null],
    ['0', 0],
    ['1', 1000],
    [' 120 ', 120_000],
    ['1.5', null],
    ['-1', null],
    ['+5', null],
    ['5s', null],
    ['tomorrow', null],
    ['2025-03-01', null],
    [new Date(NOW + 90_000).toUTCString(), 90_000],
    ['Sat, 01 Mar 2025 12:00:30 GMT', 30_000],
    ['Sat, 01 Mar 2025 11:00:00 GMT', 0],
  ];
  for (const [value, want] of cases) {
    assert.equal(parseRetryAfter(value, NOW), want, `Retry-After ${JSON.stringify(value)}`);
  }
});

test('backoff grows exponentially and is capped at maxMs', () => {
  const o = (random: number) => opts({ initialMs: 100, maxMs: 5_000, random: () => random });
  // With random = 1 - ε the delay is (almost) the full exponential value.
  const top = [0, 1, 2, 3, 4, 5, 6, 10, 40, 1000].map((a) => backoff(a, o(0.999999)));
  assert.deepEqual(top, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
  // With random = 0 it is exactly half.
  const bottom = [0, 1, 2, 3, 4, 5, 6, 40].map((a) => backoff(a, o(0)));
  assert.deepEqual(bottom, [50, 100, 200, 400, 800, 1600, 2500, 2500]);
  for (let a = 1; a < 6; a++) assert.ok(backoff(a, o(0.5)) > backoff(a - 1, o(0.5)), `attempt ${a} grows`);
  // Huge attempt numbers stay finite.
  assert.equal(backoff(Number.MAX_SAFE_INTEGER, o(0.999999)), 5_000);
});

test('backoff jitter stays within [exp/2, exp] and uses the injected random', () => {
  let s = 7;
  const random = () => {
    s = (s * 16807) % 2147483647;
    return (s - 1) / 2147483646;
  };
  const values = new Set<number>();
  for (let attempt = 0; attempt < 12; attempt++) {
    const exp = Math.min(5_000, 100 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const v = backoff(attempt, opts({ random }));
      assert.ok(v >= exp / 2 && v <= exp, `attempt ${attempt}: ${v} outside [${exp / 2}, ${exp}]`);
      if (attempt === 8) values.add(v);
    }
  }
  assert.ok(values.size > 50, 'jitter varies with the random source');
  let calls = 0;
  backoff(
    0,
    opts({
      random: () => {
        calls++;
        return 0.25;
      },
    }),
  );
  assert.equal(calls, 1);
  assert.equal(backoff(3, opts({ random: () => 0.25 })), 500);
});
