// GzipCompressor: every body comes back as one complete gzip member, through a bounded set of reused streams.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { BodyPool } from '../../src/batch/body-pool.js';
import { GzipCompressor, gzipBound } from '../../src/batch/gzip-compressor.js';
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

test('with a pool of output buffers: each member is written into one of them, reused once given back', async () => {
  const bodySize = 1 << 20;
  const wires = new BodyPool(gzipBound(bodySize), 4);
  const c = new GzipCompressor(2, wires);
  // One body larger than the pool's buffers are made for: zlib's own output, as without a pool.
  const bodies = [...someBodies(), randomBytes(gzipBound(bodySize) + 1)];
  const outs = await Promise.all(bodies.map((b) => c.compress(b)));
  outs.forEach((o, i) => {
    assert.ok(gunzipSync(o.wire).equals(bodies[i]!), `body ${i} round-trips`);
    if (bodies[i]!.length <= wires.size) {
      assert.ok(o.pooled !== null && o.wire.buffer === o.pooled.buffer, `body ${i}: in a pooled buffer`);
    } else assert.equal(o.pooled, null, 'the large body');
  });
  // Members written at once never share a buffer.
  const under = new Set(outs.filter((o) => o.pooled !== null).map((o) => o.pooled!.buffer));
  assert.equal(under.size, bodies.length - 1);
  assert.equal(c.pooledOut, bodies.length - 1);
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
