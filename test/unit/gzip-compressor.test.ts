// GzipCompressor: every body comes back as one complete gzip member, through a bounded set of reused streams.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { BodyPool } from '../../src/batch/body-pool.js';
import { GzipCompressor, wireBytes } from '../../src/batch/gzip-compressor.js';
import { prng } from '../helpers/prng.js';

function someBodies(): Buffer[] {
  const rand = prng(7);
  const bodies = Array.from({ length: 40 }, (_, i) => {
    const lines = Array.from(
      { length: 50 + Math.floor(rand() * 3000) },
      (_, j) => `line ${i} ${j} ${rand()}\n`,
    );
    return Buffer.from(lines.join(''));
  });
  // Empty, very compressible, and incompressible: 1 MiB of random bytes takes several output chunks.
  bodies.push(Buffer.alloc(0), Buffer.alloc(300_000, 0x61), randomBytes(1 << 20), randomBytes(300_000));
  return bodies;
}

test('bodies compressed at once, more than there are streams, each decompress to themselves', async () => {
  const c = new GzipCompressor(2);
  const bodies = someBodies();
  const outs = await Promise.all(bodies.map((b) => c.compress(b)));
  assert.equal(c.open, 2, 'never more streams than allowed');
  assert.ok(
    outs.some((o) => o.wire.length > 256 * 1024),
    'a member longer than two output chunks',
  );
  outs.forEach((o, i) => {
    assert.equal(o.pooled, null);
    assert.equal(o.wire[0], 0x1f, `body ${i}: a gzip header`);
    assert.ok(gunzipSync(o.wire).equals(bodies[i]!), `body ${i} round-trips`);
  });
  // Sequential use of a reset stream: still one whole member per body.
  for (const b of bodies.slice(0, 5)) assert.ok(gunzipSync((await c.compress(b)).wire).equals(b));
});

test('with a pool of output buffers: members that fit are written into one of them, reused once given back', async () => {
  const wires = new BodyPool(wireBytes(1 << 20), 4);
  const c = new GzipCompressor(2, wires);
  const bodies = someBodies();
  const outs = await Promise.all(bodies.map((b) => c.compress(b)));
  outs.forEach((o, i) => {
    assert.ok(gunzipSync(o.wire).equals(bodies[i]!), `body ${i} round-trips`);
    if (o.pooled !== null) assert.ok(o.wire.buffer === o.pooled.buffer && o.wire.length <= wires.size);
  });
  // Log lines compress into a pooled buffer; random bytes larger than one do not fit (zlib's own, copied).
  const isRandom = (i: number) => i >= bodies.length - 2;
  assert.ok(outs.every((o, i) => (o.pooled !== null) === !isRandom(i)));
  // Members written at once never share a buffer.
  const under = new Set(outs.filter((o) => o.pooled !== null).map((o) => o.pooled!.buffer));
  assert.equal(under.size, bodies.length - 2);
  assert.equal(c.pooledOut, bodies.length - 2);
  // Given back, the buffers are taken again: nothing new is allocated for the next bodies.
  for (const o of outs) if (o.pooled !== null) wires.give(o.pooled);
  const again = [];
  for (const b of bodies.slice(0, 6)) {
    const o = await c.compress(b);
    assert.ok(gunzipSync(o.wire).equals(b));
    again.push(o.pooled!.buffer);
    wires.give(o.pooled!);
  }
  assert.ok(
    again.every((ab) => under.has(ab)),
    'reused buffers',
  );
  assert.ok(wires.reused >= 6);
});

test('a stream never writes into a buffer it handed out: a member too large for the pool after a small one', async () => {
  // After a small member, the stream's output buffer is still the pooled one given out with it; here that
  // buffer is given back and taken by another body while the same stream compresses a member too large
  // for any pooled buffer (found in review: the two overwrote each other).
  const wires = new BodyPool(wireBytes(1 << 20), 8);
  // Two streams: the large member on the one that wrote `a`, the other body on the second, at once.
  const c = new GzipCompressor(2, wires);
  const text = (n: number) => Buffer.from(randomBytes(n).toString('base64').slice(0, n));
  for (let round = 0; round < 5; round++) {
    const a = await c.compress(Buffer.alloc(1000, 'a'));
    wires.give(a.pooled!);
    const big = text(3 * wires.size);
    const other = text(1 << 20);
    const [b, o] = await Promise.all([c.compress(big), c.compress(other)]);
    assert.ok(gunzipSync(b.wire).equals(big), `round ${round}: the large member`);
    assert.ok(gunzipSync(o.wire).equals(other), `round ${round}: the member after it`);
    if (b.pooled) wires.give(b.pooled);
    if (o.pooled) wires.give(o.pooled);
  }
});
