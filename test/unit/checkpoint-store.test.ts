// CheckpointStore: round trip, atomic writes, a corrupt file set aside (never a crash), flushSync.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { type CheckpointEntry, CheckpointStore } from '../../src/checkpoint/checkpoint-store.js';
import { tempDir } from '../helpers/agent.js';

const log = pino({ level: 'silent' });

function entry(key: string, offset: number, over: Partial<CheckpointEntry> = {}): CheckpointEntry {
  return {
    key,
    path: `/var/log/app/${key}.log`,
    offset,
    fingerprint: { len: 64, hash: `fp-${key}` },
    tail: offset === 0 ? null : { len: Math.min(offset, 32), hash: `tail-${key}-${offset}` },
    idKey: `id-${key}`,
    updatedAt: new Date(1_700_000_000_000 + offset).toISOString(),
    ...over,
  };
}

async function reload(dir: string): Promise<CheckpointStore> {
  const s = new CheckpointStore(dir, log);
  await s.load();
  return s;
}

test('round trip: set, delete, flush, load in a new store', async (t) => {
  const dir = join(await tempDir(t), 'state', 'nested'); // created by load()
  const a = await reload(dir);
  assert.deepEqual(a.all(), []);
  assert.equal(a.recoveredFromCorruption, false);
  const e1 = entry('1:100', 0);
  const e2 = entry('1:200', 12_345);
  const e3 = entry('1:300', 7);
  a.set(e1);
  a.set(e2);
  a.set(e3);
  a.delete('1:300');
  a.delete('never-there');
  a.set({ ...e2, offset: 20_000, tail: { len: 32, hash: 'moved' } }); // later value wins
  await a.flush();
  assert.equal(a.writes, 1);
  await a.flush(); // nothing changed: no write
  assert.equal(a.writes, 1);

  const b = await reload(dir);
  assert.equal(b.recoveredFromCorruption, false);
  assert.deepEqual(b.get('1:100'), e1);
  assert.deepEqual(b.get('1:200'), { ...e2, offset: 20_000, tail: { len: 32, hash: 'moved' } });
  assert.equal(b.get('1:300'), undefined);
  assert.equal(b.all().length, 2);
});

test('the file is replaced atomically: valid JSON every time, no temp file left behind', async (t) => {
  const dir = await tempDir(t);
  // A temp file left by a crash mid-write is neither read nor in the way.
  await writeFile(join(dir, 'checkpoints.json.tmp'), '{"version":1,"files":[{"half');
  const s = await reload(dir);
  assert.equal(s.recoveredFromCorruption, false);
  assert.deepEqual(s.all(), []);
  for (let i = 1; i <= 5; i++) {
    s.set(entry('k', i * 100));
    s.set(entry(`other-${i}`, i));
    await s.flush();
    const names = await readdir(dir);
    assert.deepEqual(names, ['checkpoints.json'], `after write ${i}`);
    const doc = JSON.parse(await readFile(s.file, 'utf8')) as { version: number; files: CheckpointEntry[] };
    assert.equal(doc.version, 1);
    assert.equal(doc.files.find((f) => f.key === 'k')!.offset, i * 100);
    assert.equal(doc.files.length, i + 1);
  }
  assert.equal(s.writes, 5);
  assert.equal(s.failures, 0);
});

test('a failed write is reported, counted, and retried on the next flush', async (t) => {
  const dir = await tempDir(t);
  const s = await reload(dir);
  s.set(entry('k', 10));
  // A directory where the temp file must go makes the write fail.
  await mkdir(`${s.file}.tmp`);
  await assert.rejects(
    s.flush(),
    (err: Error & { code?: string }) => err.code === 'LOGFERRY_CHECKPOINT_WRITE',
  );
  assert.equal(s.failures, 1);
  await rm(`${s.file}.tmp`, { recursive: true });
  await s.flush(); // still dirty: written now
  assert.equal((await reload(dir)).get('k')?.offset, 10);
});

const corrupt: [string, string][] = [
  ['garbage', 'this is not json {{{'],
  ['truncated JSON', '{"version":1,"files":[{"key":"a"'],
  ['empty file', ''],
  ['wrong version', JSON.stringify({ version: 99, files: [] })],
  ['files not an array', JSON.stringify({ version: 1, files: {} })],
  ['JSON null', 'null'],
  [
    'malformed entry (negative offset)',
    JSON.stringify({ version: 1, files: [entry('good', 5), { ...entry('bad', 1), offset: -1 }] }),
  ],
  [
    'malformed entry (missing fingerprint)',
    JSON.stringify({ version: 1, files: [{ ...entry('x', 1), fingerprint: undefined }] }),
  ],
  ['malformed entry (not an object)', JSON.stringify({ version: 1, files: [42] })],
];

for (const [name, content] of corrupt) {
  test(`corrupt file (${name}) is set aside and load() does not throw`, async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'checkpoints.json');
    await writeFile(file, content);
    const s = new CheckpointStore(dir, log);
    await s.load();
    assert.equal(s.recoveredFromCorruption, true);
    assert.deepEqual(s.all(), [], 'no entry survives from a corrupt file');
    const names = await readdir(dir);
    const aside = names.filter((n) => n.startsWith('checkpoints.json.corrupt-'));
    assert.equal(aside.length, 1, `names: ${names.join(', ')}`);
    assert.ok(!names.includes('checkpoints.json'), 'the corrupt file is no longer in place');
    assert.equal(await readFile(join(dir, aside[0]!), 'utf8'), content, 'set aside unchanged');
    // The store works on: the next write produces a valid file that loads cleanly.
    s.set(entry('new', 3));
    await s.flush();
    const again = await reload(dir);
    assert.equal(again.recoveredFromCorruption, false);
    assert.deepEqual(again.get('new'), entry('new', 3));
  });
}

test('the corruption is logged with its code', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'checkpoints.json'), 'garbage');
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
  const s = new CheckpointStore(dir, logger);
  await s.load();
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const rec = logged.find((l) => l['code'] === 'LOGFERRY_CHECKPOINT_CORRUPT');
  assert.ok(rec, `logged: ${lines.join('')}`);
  assert.match(String(rec['setAside']), /checkpoints\.json\.corrupt-/);
});

test('flushSync writes the current entries atomically', async (t) => {
  const dir = await tempDir(t);
  const s = await reload(dir);
  s.set(entry('a', 1));
  await s.flush();
  s.set(entry('a', 999));
  s.set(entry('b', 0));
  s.flushSync();
  assert.deepEqual(await readdir(dir), ['checkpoints.json']);
  const b = await reload(dir);
  assert.equal(b.recoveredFromCorruption, false);
  assert.equal(b.get('a')?.offset, 999);
  assert.deepEqual(b.get('b'), entry('b', 0));
  // flushSync left the store clean: an async flush has nothing to write.
  const writes = s.writes;
  await s.flush();
  assert.equal(s.writes, writes);
});

test('the first start: no checkpoint file means first start; the marker write makes the next load not one', async (t) => {
  const dir = join(await tempDir(t), 'state');
  const a = await reload(dir);
  assert.equal(a.firstStart, true);
  a.markStarted();
  await a.flush();
  const b = await reload(dir);
  assert.equal(b.firstStart, false);
  assert.deepEqual(b.all(), []);
  b.markStarted(); // not a first start: nothing to write
  const writes = b.writes;
  await b.flush();
  assert.equal(b.writes, writes);
});

test('a retired entry keeps only its id key, survives a reload, is not listed, and the oldest go past the cap', async (t) => {
  const dir = join(await tempDir(t), 'state');
  const a = await reload(dir);
  a.set(entry('1:1', 500));
  a.set(entry('1:2', 10));
  a.retire('1:1');
  a.retire('never-there');
  assert.deepEqual(
    a.all().map((e) => e.key),
    ['1:2'],
  );
  const r = a.get('1:1')!;
  assert.equal(r.idKey, 'id-1:1');
  assert.equal(typeof r.retired, 'string');
  assert.equal(r.path, '');
  assert.equal(r.offset, 0);
  await a.flush();
  const b = await reload(dir);
  assert.equal(b.recoveredFromCorruption, false);
  assert.equal(b.get('1:1')?.retired, r.retired);
  // Past 256 retired entries, the oldest are dropped.
  for (let i = 0; i < 300; i++) {
    b.set(entry(`2:${i}`, 1));
    b.retire(`2:${i}`);
  }
  assert.equal(b.get('1:1'), undefined);
  assert.equal(b.get('2:43'), undefined);
  assert.equal(b.get('2:44')?.idKey, 'id-2:44');
  assert.equal(b.get('2:299')?.idKey, 'id-2:299');
  assert.deepEqual(
    b.all().map((e) => e.key),
    ['1:2'],
  );
});
