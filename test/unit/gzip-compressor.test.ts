// GzipCompressor: every body comes back as one complete gzip member, through a bounded set of reused streams.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { GzipCompressor } from '../../src/batch/gzip-compressor.js';
import { prng } from '../helpers/prng.js';

test('bodies compressed at once, more than there are streams, each decompress to themselves', async () => {
  const rand = prng(7);
  const c = new GzipCompressor(2);
  const bodies = Array.from({ length: 40 }, (_, i) => {
    const lines = Array.from(
      { length: 50 + Math.floor(rand() * 3000) },
      (_, j) => `line ${i} ${j} ${rand()}\n`,
    );
    return Buffer.from(lines.join(''));
  });
  // Empty, very compressible, and incompressible: 1 MiB of random bytes takes several output chunks.
  bodies.push(Buffer.alloc(0), Buffer.alloc(300_000, 0x61), randomBytes(1 << 20), randomBytes(300_000));
  const outs = await Promise.all(bodies.map((b) => c.compress(b)));
  assert.equal(c.open, 2, 'never more streams than allowed');
  assert.ok(
    outs.some((o) => o.length > 256 * 1024),
    'a member longer than two output chunks',
  );
  outs.forEach((o, i) => {
    assert.equal(o[0], 0x1f, `body ${i}: a gzip header`);
    assert.ok(gunzipSync(o).equals(bodies[i]!), `body ${i} round-trips`);
  });
  // Sequential use of a reset stream: still one whole member per body.
  for (const b of bodies.slice(0, 5)) assert.ok(gunzipSync(await c.compress(b)).equals(b));
});
