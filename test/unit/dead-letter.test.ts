// The dead-letter files: bounded together, never rotated away; a full set pauses until space is freed.
import assert from 'node:assert/strict';
import { readdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DeadLetterFile, DeadLetterFullError, deadLetterBytes } from '../../src/send/dead-letter.js';
import { tempDir } from '../helpers/agent.js';

const dir = (t: Parameters<typeof tempDir>[0]) => tempDir(t, 'logferry-dl-');

const record = (i: number) => Buffer.from(`${JSON.stringify({ id: `r${i}`, message: 'x'.repeat(50) })}\n`);

test('bounded together: a write past the bound waits (full), nothing is rotated or lost; room again once a file shrinks', async (t) => {
  const d = await dir(t);
  // An old rotated file from an earlier version counts too.
  await writeFile(join(d, 'dead-letter.ndjson.1'), 'y'.repeat(100));
  const dl = new DeadLetterFile(d, 350);
  assert.equal(await dl.write(record(1), 400, 'bad'), 1);
  assert.equal(dl.full, false);
  assert.equal(dl.whenRoom(), null);
  await assert.rejects(dl.write(record(2), 400, 'bad'), (err) => err instanceof DeadLetterFullError);
  assert.equal(dl.full, true);
  const room = dl.whenRoom();
  assert.ok(room !== null);
  assert.deepEqual((await readdir(d)).sort(), ['dead-letter.ndjson', 'dead-letter.ndjson.1']);
  const before = await readFile(join(d, 'dead-letter.ndjson'), 'utf8');
  assert.equal(before.split('\n').filter(Boolean).length, 1);
  // An operator truncates the old file: the next attempt fits, and waiting readers are woken.
  await truncate(join(d, 'dead-letter.ndjson.1'), 0);
  assert.equal(await dl.write(record(2), 400, 'bad'), 1);
  await room;
  assert.equal(dl.full, false);
  const lines = (await readFile(join(d, 'dead-letter.ndjson'), 'utf8')).split('\n').filter(Boolean);
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { record: { id: string } }).record.id),
    ['r1', 'r2'],
  );
  assert.equal(await deadLetterBytes(d), Buffer.byteLength(lines.join('\n')) + 1);
});

test('one write larger than the bound is kept when the files are empty; 0 means no bound', async (t) => {
  const d = await dir(t);
  const dl = new DeadLetterFile(d, 10);
  assert.equal(await dl.write(record(1), 413, 'too large'), 1);
  const unbounded = new DeadLetterFile(d, 0);
  for (let i = 0; i < 20; i++) await unbounded.write(record(i), 400, 'bad');
  assert.equal(
    (await readFile(join(d, 'dead-letter.ndjson'), 'utf8')).split('\n').filter(Boolean).length,
    21,
  );
});

test('a symlink planted at the dead-letter path is not followed', async (t) => {
  const d = await dir(t);
  const target = join(d, 'elsewhere');
  await writeFile(target, '');
  await symlink(target, join(d, 'dead-letter.ndjson'));
  const dl = new DeadLetterFile(d, 0);
  await assert.rejects(dl.write(record(1), 400, 'bad'), /ELOOP|symbolic link/);
  assert.equal(await readFile(target, 'utf8'), '');
});
