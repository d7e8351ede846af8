// Batcher + ByteBudget with a fake consumer: sealing by records, bytes and age; gzip bodies; budget accounting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ByteArena } from '../../src/arena/byte-arena.js';
import type { Batch } from '../../src/batch/batch.js';
import { Batcher, type BatcherOptions, bodyBytes } from '../../src/batch/batcher.js';
import { BodyPool } from '../../src/batch/body-pool.js';
import { ByteBudget } from '../../src/batch/byte-budget.js';
import { AckTracker } from '../../src/checkpoint/ack-tracker.js';
import type { LogRecord } from '../../src/sinks/sink.js';
import { prng } from '../helpers/prng.js';
import { waitFor } from '../helpers/wait-for.js';

interface Harness {
  batcher: Batcher;
  budget: ByteBudget;
  sent: Batch[];
  sentAt: number[];
}

function harness(
  t: { after(fn: () => void): void },
  over: Partial<BatcherOptions>,
  budgetMax = 1 << 30,
): Harness {
  const opts: BatcherOptions = {
    maxBytes: 1 << 20,
    maxRecords: 1000,
    flushIntervalMs: 60_000,
    compression: 'none',
    sink: LINES,
    ...over,
  };
  const budget = new ByteBudget(budgetMax);
  const sent: Batch[] = [];
  const sentAt: number[] = [];
  const batcher = new Batcher(opts, budget, {
    send(b) {
      sent.push(b);
      sentAt.push(Date.now());
    },
  });
  t.after(() => batcher.stop());
  return { batcher, budget, sent, sentAt };
}

/** A line protocol whose line is the record's message as it is. */
const LINES = {
  encode: (records: readonly LogRecord[]) => Buffer.from(records.map((r) => r.message).join('')),
  line: (r: LogRecord) => r.message,
};

const logRecord = (message: string): LogRecord => ({
  message,
  file: '/f',
  offset: 0,
  id: 'k:0',
  timestamp: '2026-12-04T00:00:00.000Z',
  cut: false,
});

/** An NDJSON line as a record's encoding, with its UTF-8 size. */
function record(i: number, pad = 0): { rec: LogRecord; text: string; size: number } {
  const text = `${JSON.stringify({ offset: i, message: `line ${i} ${'x'.repeat(pad)}` })}\n`;
  return { rec: logRecord(text), text, size: Buffer.byteLength(text) };
}

const bodyOf = (b: Batch) => (b.compressed ? gunzipSync(b.wire) : b.wire).toString('utf8');

test('seals by maxRecords, in order, with the segments each batch covers', (t) => {
  const h = harness(t, { maxRecords: 3 });
  const a = new AckTracker(0, () => {});
  const recs = Array.from({ length: 7 }, (_, i) => record(i));
  recs.forEach((r, i) => {
    h.batcher.add(r.rec, r.size, a, (i + 1) * 10);
  });
  assert.equal(h.sent.length, 2, 'two full batches sealed at once');
  assert.equal(h.batcher.openRecords, 1);
  h.batcher.flush();
  assert.equal(h.sent.length, 3);
  assert.deepEqual(
    h.sent.map((b) => b.records),
    [3, 3, 1],
  );
  assert.equal(h.sent.map(bodyOf).join(''), recs.map((r) => r.text).join(''));
  for (const b of h.sent) {
    assert.equal(b.compressed, false);
    assert.equal(b.segments.length, 1);
    assert.equal(b.segments[0]!.tracker, a);
  }
  assert.deepEqual(
    h.sent.map((b) => b.segments[0]!.segment.end),
    [30, 60, 70],
  );
  assert.equal(a.outstanding, 3);
  h.batcher.flush();
  assert.equal(h.sent.length, 3, 'flush with nothing open sends nothing');
});

test('caughtUp seals the last batch of a backlog at once; lines written live still wait', (t) => {
  const h = harness(t, { maxRecords: 3 });
  const a = new AckTracker(0, () => {});
  let i = 0;
  const add = (n: number) => {
    for (let k = 0; k < n; k++, i++) {
      const r = record(i);
      h.batcher.add(r.rec, r.size, a, (i + 1) * 10);
    }
  };
  // A trickle: no batch has filled; caught up, the line waits for its batch to fill or age.
  add(1);
  h.batcher.caughtUp();
  assert.equal(h.sent.length, 0, 'a trickle waits');
  add(2);
  assert.equal(h.sent.length, 1, 'sealed full');
  // That batch filled across a moment the reader had caught up: live lines, so the next one waits too.
  add(1);
  h.batcher.caughtUp();
  assert.equal(h.sent.length, 1, 'live lines at a high rate: no extra request');
  add(2);
  assert.equal(h.sent.length, 2, 'sealed full');
  // A backlog: batches filled with no catching up in between, then every file read to its end.
  add(3);
  assert.equal(h.sent.length, 3);
  add(1);
  h.batcher.caughtUp();
  assert.equal(h.sent.length, 4, 'the tail of the backlog goes at once');
  assert.equal(h.sent[3]!.records, 1);
  add(1);
  h.batcher.caughtUp();
  assert.equal(h.sent.length, 4, 'once: the next batch waits again');
  h.batcher.flush();
  // A backlog that ends exactly on a batch boundary: a line that comes later is not part of it.
  add(3);
  add(3);
  assert.equal(h.sent.length, 7);
  h.batcher.caughtUp();
  add(1);
  h.batcher.caughtUp();
  assert.equal(h.sent.length, 7, 'a late line after a backlog that ended on a boundary waits');
  h.batcher.flush();
  assert.deepEqual(h.batcher.sealed, { full: 5, age: 0, caught_up: 1, flush: 2 });
  assert.equal(h.sent.map(bodyOf).join(''), Array.from({ length: i }, (_, k) => record(k).text).join(''));
});

test('segments: one per file, up to the last line of that file in the batch', (t) => {
  const h = harness(t, { maxRecords: 4 });
  const commits: string[] = [];
  const a = new AckTracker(0, (tr) => commits.push(`a${tr.committed}`));
  const b = new AckTracker(500, (tr) => commits.push(`b${tr.committed}`));
  h.batcher.add(record(1).rec, record(1).size, a, 10);
  h.batcher.add(record(2).rec, record(2).size, b, 510);
  h.batcher.add(record(3).rec, record(3).size, a, 20);
  h.batcher.add(record(4).rec, record(4).size, b, 530);
  assert.equal(h.sent.length, 1);
  const segs = h.sent[0]!.segments;
  assert.deepEqual(
    segs.map((s) => [s.tracker, s.segment.end]),
    [
      [a, 20],
      [b, 530],
    ],
  );
  for (const s of segs) s.tracker.done(s.segment);
  assert.deepEqual(commits, ['a20', 'b530']);
});

test('seals by maxBytes: a record that would overflow starts the next batch', (t) => {
  const r = record(0, 60);
  const maxBytes = r.size * 3 + Math.floor(r.size / 2); // room for 3.5 records
  const h = harness(t, { maxBytes });
  const a = new AckTracker(0, () => {});
  const recs = Array.from({ length: 10 }, (_, i) => record(i, 60 + (i % 2)));
  for (const [i, x] of recs.entries()) h.batcher.add(x.rec, x.size, a, i + 1);
  h.batcher.flush();
  for (const b of h.sent) assert.ok(b.wire.length <= maxBytes, `batch of ${b.wire.length} > ${maxBytes}`);
  assert.deepEqual(
    h.sent.map((b) => b.records),
    [3, 3, 3, 1],
  );
  assert.equal(h.sent.map(bodyOf).join(''), recs.map((x) => x.text).join(''));

  // Exactly full seals at once; a single record larger than the limit goes alone.
  const e = harness(t, { maxBytes: r.size * 2 });
  e.batcher.add(r.rec, r.size, a, 1);
  assert.equal(e.sent.length, 0);
  e.batcher.add(r.rec, r.size, a, 2);
  assert.equal(e.sent.length, 1, 'sealed when exactly full');
  const big = record(99, 500);
  e.batcher.add(r.rec, r.size, a, 3);
  e.batcher.add(big.rec, big.size, a, 4);
  assert.deepEqual(
    e.sent.map((b) => b.records),
    [2, 1, 1],
  );
  assert.equal(bodyOf(e.sent[2]!), big.text);
});

test('seals by the flush interval when the batch does not fill', async (t) => {
  const flushIntervalMs = 50;
  const h = harness(t, { flushIntervalMs });
  const a = new AckTracker(0, () => {});
  const t0 = Date.now();
  h.batcher.add(record(1).rec, record(1).size, a, 10);
  h.batcher.add(record(2).rec, record(2).size, a, 20);
  assert.equal(h.sent.length, 0, 'not sealed while neither full nor old');
  await waitFor(() => h.sent.length === 1, { timeoutMs: 5_000, what: 'batch sealed by age' });
  assert.ok(h.sentAt[0]! - t0 >= flushIntervalMs, `sealed after ${h.sentAt[0]! - t0} ms`);
  assert.equal(h.sent[0]!.records, 2);
  assert.equal(h.batcher.openRecords, 0);

  // The next record starts a new timer of its own.
  const t1 = Date.now();
  h.batcher.add(record(3).rec, record(3).size, a, 30);
  await waitFor(() => h.sent.length === 2, { timeoutMs: 5_000, what: 'second batch sealed by age' });
  assert.ok(h.sentAt[1]! - t1 >= flushIntervalMs);
  assert.equal(bodyOf(h.sent[1]!), record(3).text);
});

test('gzip: the wire body decompresses to the records, batches stay in order', async (t) => {
  const h = harness(t, { compression: 'gzip', maxRecords: 50 });
  const a = new AckTracker(0, () => {});
  const recs = Array.from({ length: 175 }, (_, i) => record(i, i % 7));
  for (const [i, r] of recs.entries()) h.batcher.add(r.rec, r.size, a, i + 1);
  h.batcher.flush();
  await h.batcher.settled();
  assert.deepEqual(
    h.sent.map((b) => b.records),
    [50, 50, 50, 25],
  );
  for (const b of h.sent) {
    assert.equal(b.compressed, true);
    assert.equal(b.body, null, 'the uncompressed body is not kept');
    assert.equal(b.wire[0], 0x1f);
    assert.equal(b.wire[1], 0x8b);
    assert.equal(b.charged, b.wire.length);
  }
  assert.equal(h.sent.map(bodyOf).join(''), recs.map((r) => r.text).join(''));
  assert.deepEqual(
    h.sent.map((b) => b.segments[0]!.segment.end),
    [50, 100, 150, 175],
  );
});

test('gzip: reading is paused while four sealed bodies wait for compression, resumed as one is done', async (t) => {
  const h = harness(t, { compression: 'gzip', maxRecords: 1 });
  const a = new AckTracker(0, () => {});
  for (let i = 0; i < 3; i++) h.batcher.add(record(i).rec, record(i).size, a, i + 1);
  assert.equal(h.batcher.readPause(), null, 'three sealed: one per stream');
  h.batcher.add(record(3).rec, record(3).size, a, 4);
  const pause = h.batcher.readPause();
  assert.ok(pause !== null, 'four sealed, none sent yet: the reader waits');
  assert.equal(h.sent.length, 0);
  await pause;
  assert.ok(h.sent.length >= 1, 'resumed once a compressed batch went to the sender');
  assert.equal(h.batcher.readPause(), null);
  await h.batcher.settled();
  assert.equal(h.sent.length, 4);

  const plain = harness(t, { compression: 'none', maxRecords: 1 });
  for (let i = 0; i < 10; i++) plain.batcher.add(record(i).rec, record(i).size, a, i + 1);
  assert.equal(plain.batcher.readPause(), null, 'without compression, only the budget pauses reading');
});

for (const compression of ['none', 'gzip'] as const) {
  test(`budget (${compression}): charged while batches are open, released when the consumer finishes`, async (t) => {
    const h = harness(t, { compression, maxRecords: 10 });
    const a = new AckTracker(0, () => {});
    const recs = Array.from({ length: 25 }, (_, i) => record(i, 20));
    let sum = 0;
    for (const [i, r] of recs.entries()) {
      h.batcher.add(r.rec, r.size, a, i + 1);
      if (i < 9) {
        sum += r.size;
        assert.equal(h.budget.used, sum, `open batch charges its records (${i + 1})`);
      }
    }
    await h.batcher.settled();
    assert.equal(h.sent.length, 2);
    const open = recs.slice(20).reduce((n, r) => n + r.size, 0);
    const charged = () => h.sent.reduce((n, b) => n + b.charged, 0);
    assert.equal(
      h.budget.used,
      charged() + open,
      'sealed batches hold their charge, the open one its records',
    );
    assert.ok(h.sent.every((b) => b.charged > 0));

    h.batcher.flush();
    await h.batcher.settled();
    assert.equal(h.sent.length, 3);
    assert.equal(h.budget.used, charged());

    // The consumer finishes them (out of order): each release frees exactly its charge.
    for (const b of [h.sent[1]!, h.sent[0]!, h.sent[2]!]) {
      const before = h.budget.used;
      h.budget.release(b.charged);
      assert.equal(h.budget.used, before - b.charged);
    }
    assert.equal(h.budget.used, 0, 'fully released');
  });
}

test('budget: reading waits while it is full and resumes when a batch is finished', async (t) => {
  const r = record(0, 100);
  const h = harness(t, { compression: 'none', maxRecords: 2 }, r.size * 3);
  const a = new AckTracker(0, () => {});
  for (let i = 0; i < 3; i++) h.batcher.add(r.rec, r.size, a, i + 1);
  assert.equal(h.budget.full, true);
  let resumed = false;
  const waiting = h.budget.whenAvailable().then(() => {
    resumed = true;
  });
  await Promise.resolve();
  assert.equal(resumed, false, 'no room yet');
  h.budget.release(h.sent[0]!.charged);
  await waiting;
  assert.equal(resumed, true);
  assert.equal(h.budget.full, false);
});

for (const [compression, inArena] of [
  ['none', 0],
  ['gzip', 0],
  ['none', 2],
  ['gzip', 4],
] as const) {
  test(`body pool (${compression}, ${inArena} in a byte arena): full bodies are reused once their batch is done, contents intact`, async (t) => {
    // Bodies are handed over (and pooled) when at least half full: batches sealed by size.
    const maxBytes = 128 * 1024;
    const arena = inArena > 0 ? ByteArena.create(new Array(inArena).fill(bodyBytes(maxBytes))) : null;
    const pool = new BodyPool(bodyBytes(maxBytes), 4, arena, inArena);
    const h = harness(t, { maxBytes, maxRecords: 1 << 20, compression, bodies: pool });
    const a = new AckTracker(0, () => {});
    const expected: string[] = [];
    const seen: string[] = [];
    // Each batch's body is checked, then handed back as the sender does when the batch is done.
    let arenaBodies = 0;
    const take = pool.take.bind(pool);
    pool.take = () => {
      const body = take();
      if (arena !== null && arena.at(body) >= 0) arenaBodies++;
      return body;
    };
    const done = (b: Batch) => {
      seen.push(bodyOf(b));
      pool.release(b);
    };
    let next = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 500; i++) {
        const r = record(next++, 200 + (next % 50));
        h.batcher.add(r.rec, r.size, a, next * 10);
        expected.push(r.text);
      }
      await h.batcher.settled();
      // gzip: the uncompressed body went back at compression, before the batch is done.
      if (compression === 'gzip') for (const b of h.sent) assert.equal(b.pooled, null);
      for (const b of h.sent.splice(0)) done(b);
    }
    h.batcher.flush();
    await h.batcher.settled();
    for (const b of h.sent.splice(0)) done(b);
    const batches = expected.join('');
    assert.equal(seen.join(''), batches, 'every record once, in order, bytes intact');
    assert.ok(pool.taken >= 20, `bodies taken: ${pool.taken}`);
    assert.ok(pool.taken - pool.reused <= 4, `fresh bodies: ${pool.taken - pool.reused} of ${pool.taken}`);
    if (arena !== null) assert.ok(arenaBodies >= pool.taken / 2, `bodies in the arena: ${arenaBodies}`);
  });
}

test('body pool with a byte arena: its bodies first, then the heap; each kept once, views included', () => {
  const arena = ByteArena.create([1024, 1024, 1024])!;
  const pool = new BodyPool(1024, 3, arena, 2);
  const a = pool.take();
  const b = pool.take();
  const c = pool.take();
  assert.ok(arena.at(a) >= 0 && arena.at(b) >= 0, 'two bodies from the arena');
  assert.equal(arena.at(c), -1, 'the third from the heap');
  assert.ok(Math.abs(arena.at(a) - arena.at(b)) >= 1024, 'arena bodies do not overlap');
  pool.give(a.subarray(100, 200));
  pool.give(a);
  assert.equal(pool.freeCount, 1, 'a view of an arena body gives back that body, once');
  pool.give(c);
  pool.give(pool.take());
  assert.equal(pool.freeCount, 2, 'one heap body kept (3 kept, 2 of them in the arena)');
  pool.give(Buffer.allocUnsafeSlow(1024));
  assert.equal(pool.freeCount, 2, 'no more heap bodies than that');
  pool.give(b);
  assert.equal(pool.take(), b, 'arena bodies are handed out first');
  assert.equal(pool.take(), a);
  assert.equal(pool.take().buffer, c.buffer, 'then the kept heap body');
});

test('body pool: a buffer given back twice, or of another size, is not kept', () => {
  const pool = new BodyPool(1024, 4);
  const b = pool.take();
  pool.give(b.subarray(0, 10));
  pool.give(b);
  assert.equal(pool.freeCount, 1, 'the same buffer is kept once');
  pool.give(Buffer.allocUnsafeSlow(2048));
  pool.give(Buffer.alloc(10));
  assert.equal(pool.freeCount, 1);
  const again = pool.take();
  assert.equal(again.buffer, b.buffer, 'the kept buffer is handed out again');
  assert.notEqual(pool.take().buffer, b.buffer, 'and only once');
});

for (const maxBytes of [4096, 128 * 1024]) {
  test(`line protocol (max ${maxBytes}): a record counts at its encoded size, whatever is told`, async (t) => {
    const h = harness(t, { maxBytes, maxRecords: 1 << 20 });
    const a = new AckTracker(0, () => {});
    const rnd = prng(5);
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const text = `${JSON.stringify({ i, pad: 'x'.repeat(Math.floor(rnd() * 300)) })}\n`;
      // Told far too small, as a line full of escapes would be: the batch goes by what was written.
      h.batcher.add(logRecord(text), 20, a, i + 1);
      expected.push(text);
    }
    h.batcher.flush();
    await h.batcher.settled();
    for (const b of h.sent) assert.ok(b.wire.length <= maxBytes, `a body of ${b.wire.length} bytes`);
    for (const b of h.sent) assert.equal(b.items, null, 'a line protocol keeps only the body');
    assert.equal(h.sent.map(bodyOf).join(''), expected.join(''), 'every record once, in order, intact');
    assert.equal(
      h.sent.reduce((n, b) => n + b.records, 0),
      expected.length,
    );
  });
}

test('whole-batch protocol: records are kept with their batch and encoded at seal, charged as told', (t) => {
  const encoded: number[] = [];
  const sink = {
    encode: (records: readonly LogRecord[]) => {
      encoded.push(records.length);
      return Buffer.from(records.map((r) => r.message).join(''));
    },
  };
  const h = harness(t, { maxRecords: 3, sink });
  const a = new AckTracker(0, () => {});
  for (let i = 0; i < 4; i++) h.batcher.add(record(i).rec, 1000, a, i + 1);
  assert.deepEqual(encoded, [3], 'encoded once, at seal');
  assert.equal(h.sent[0]!.items!.length, 3);
  assert.equal(h.sent[0]!.itemBytes, 3000);
  assert.equal(h.sent[0]!.charged, h.sent[0]!.wire.length + 3000);
  assert.equal(bodyOf(h.sent[0]!), [0, 1, 2].map((i) => record(i).text).join(''));
  assert.equal(h.budget.used, h.sent[0]!.charged + 1000, 'the open record is charged as told');
});
