// A checkpoint entry's identity describes only the bytes the tailer read: a file that no longer holds them
// (shorter, or starting with other bytes) gives none, so the entry is kept as it was (behind, never ahead).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  EMPTY_FINGERPRINT,
  type Hashed,
  type Identity,
  identity,
  identitySync,
} from '../../src/tail/file-identity.js';
import { tempDir } from '../helpers/agent.js';

const hashed = (s: string): Hashed => ({
  len: Buffer.byteLength(s),
  hash: createHash('sha1').update(s).digest('hex').slice(0, 24),
});

/** identity and identitySync of the same file must agree; the answer of both. */
async function both(path: string, known: Hashed, readTo: number, offset: number): Promise<Identity | null> {
  const fh = await open(path, 'r');
  try {
    const a = await identity(fh, known, readTo, offset);
    assert.deepEqual(identitySync(fh.fd, known, readTo, offset), a, 'identity and identitySync differ');
    return a;
  } finally {
    await fh.close();
  }
}

test('the bytes read: the fingerprint grows to them, the tail is the bytes before the offset', async (t) => {
  const f = join(await tempDir(t, 'logferry-identity-'), 'a.log');
  await writeFile(f, 'one\ntwo\nthree\n');
  // Read up to the end of "two", "one" acknowledged; "three" was written but not read.
  const id = await both(f, hashed('one\n'), 8, 4);
  assert.deepEqual(id, { fingerprint: hashed('one\ntwo\n'), tail: hashed('one\n') });
  assert.deepEqual(await both(f, EMPTY_FINGERPRINT, 8, 0), { fingerprint: hashed('one\ntwo\n'), tail: null });
});

test('a file shorter than what was read (truncated, maybe rewritten since) gives no identity', async (t) => {
  const f = join(await tempDir(t, 'logferry-identity-'), 'a.log');
  await writeFile(f, 'one\ntwo\n');
  await truncate(f, 0);
  await writeFile(f, 'new\n');
  assert.equal(await both(f, hashed('one\n'), 8, 4), null);
});

test('a file as long but starting with other bytes (rewritten past the offset) gives no identity', async (t) => {
  const f = join(await tempDir(t, 'logferry-identity-'), 'a.log');
  await writeFile(f, 'ONE\nTWO\nthree\n');
  assert.equal(await both(f, hashed('one\n'), 8, 4), null);
  // The fingerprint known so far is what counts: the same first bytes and other bytes after them are read.
  assert.deepEqual(await both(f, hashed('ONE\n'), 8, 4), {
    fingerprint: hashed('ONE\nTWO\n'),
    tail: hashed('ONE\n'),
  });
});
