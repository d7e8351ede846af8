// RequestDeadline: a request's signal aborts at its deadline or when the sender stops, and not after done().
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { RequestDeadline } from '../../src/send/request-deadline.js';

/** The deadline's timer does not hold the process open (a request's socket does): this test's one does. */
function keepAlive(t: { after(fn: () => void): void }): void {
  const timer = setInterval(() => {}, 1000);
  t.after(() => clearInterval(timer));
}

test('the deadline aborts with a TimeoutError; stopping aborts with the stop reason', async (t) => {
  keepAlive(t);
  const stop = new AbortController();
  const d = new RequestDeadline(stop.signal, 20);
  await once(d.signal, 'abort');
  assert.equal((d.signal.reason as Error).name, 'TimeoutError');
  d.done();

  const s = new RequestDeadline(stop.signal, 60_000);
  stop.abort(new Error('stopping'));
  assert.ok(s.signal.aborted);
  assert.equal((s.signal.reason as Error).message, 'stopping');
  s.done();

  // Made after the stop: aborted from the start.
  const late = new RequestDeadline(stop.signal, 60_000);
  assert.ok(late.signal.aborted);
  late.done();
});

test('after done(), neither the deadline nor a stop aborts the signal', async (t) => {
  keepAlive(t);
  const stop = new AbortController();
  const d = new RequestDeadline(stop.signal, 20);
  d.done();
  // A second deadline, longer than the first, has fired by the time this resolves.
  const later = new RequestDeadline(stop.signal, 60);
  await once(later.signal, 'abort');
  later.done();
  assert.equal(d.signal.aborted, false, 'the cleared deadline did not fire');
  stop.abort();
  assert.equal(d.signal.aborted, false, 'the stop listener was removed');
});
