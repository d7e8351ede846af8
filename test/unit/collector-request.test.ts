// Reading the collector's answers: a 2xx body is read up to a cap, and says when it was cut.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { readCapped } from '../../src/send/collector-request.js';

test('readCapped: a 2xx body past the cap is not read further and says so', async () => {
  const small = await readCapped(Object.assign(Readable.from([Buffer.from('abc')]), {}), 10);
  assert.deepEqual(small, { body: Buffer.from('abc'), truncated: false });
  const chunks = Array.from({ length: 8 }, () => Buffer.alloc(1024, 0x61));
  const big = await readCapped(Readable.from(chunks), 4096);
  assert.equal(big.truncated, true);
  assert.ok(big.body.length <= 5 * 1024);
});
