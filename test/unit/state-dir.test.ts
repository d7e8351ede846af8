// The state directory against planted symlinks and FIFOs: checkpoint and dead-letter writes are not redirected.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { type CheckpointEntry, CheckpointStore } from '../../src/checkpoint/checkpoint-store.js';
import { DeadLetterFile } from '../../src/send/dead-letter.js';
import { tempDir } from '../helpers/agent.js';

const log = pino({ level: 'silent' });

const entry: CheckpointEntry = {
  key: '1:2',
  path: '/var/log/app/a.log',
  offset: 10,
  fingerprint: { len: 10, hash: 'fp' },
  tail: { len: 10, hash: 'tail' },
  idKey: 'id',
  updatedAt: new Date(0).toISOString(),
};

/** A state dir and a victim file outside it that a planted symlink points to. */
async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dir = await tempDir(t, 'logferry-state-');
  const state = join(dir, 'state');
  const victim = join(dir, 'victim.txt');
  await mkdir(state);
  await writeFile(victim, 'untouched\n');
  return { state, victim };
}

test('a symlink planted at the checkpoint temp paths does not redirect the write', async (t) => {
  const { state, victim } = await setup(t);
  await symlink(victim, join(state, 'checkpoints.json.tmp'));
  await symlink(victim, join(state, 'checkpoints.json.tmp-exit'));
  const store = new CheckpointStore(state, log);
  await store.load();
  store.set(entry);
  await store.flush();
  assert.equal(await readFile(victim, 'utf8'), 'untouched\n');
  assert.ok((await lstat(store.file)).isFile(), 'the checkpoint is a regular file of its own');
  store.set({ ...entry, offset: 20 });
  store.flushSync();
  assert.equal(await readFile(victim, 'utf8'), 'untouched\n');
  const again = new CheckpointStore(state, log);
  await again.load();
  assert.equal(again.get('1:2')?.offset, 20);
});

test('a symlink or a FIFO planted at the checkpoint file is set aside, not followed', async (t) => {
  const { state, victim } = await setup(t);
  await writeFile(victim, `${JSON.stringify({ version: 1, files: [{ ...entry, offset: 999 }] })}\n`);
  await symlink(victim, join(state, 'checkpoints.json'));
  const store = new CheckpointStore(state, log);
  await store.load();
  assert.equal(store.get('1:2'), undefined, 'the planted state is not believed');
  assert.equal(store.recoveredFromCorruption, true);
  store.set(entry);
  await store.flush();
  assert.ok((await lstat(store.file)).isFile());
  assert.match(await readFile(victim, 'utf8'), /"offset": ?999/, 'the link target is not written');
  // A FIFO does not block the load.
  const fifoDir = join(state, 'fifo');
  await mkdir(fifoDir);
  execFileSync('mkfifo', [join(fifoDir, 'checkpoints.json')]);
  const f = new CheckpointStore(fifoDir, log);
  await f.load();
  assert.equal(f.recoveredFromCorruption, true);
});

test('a symlink planted at the dead-letter file does not redirect the append', async (t) => {
  const { state, victim } = await setup(t);
  const dl = new DeadLetterFile(state, 0);
  await symlink(victim, dl.file);
  await assert.rejects(dl.write(Buffer.from('{"message":"x"}\n'), 400, 'bad'), { code: 'ELOOP' });
  assert.equal(await readFile(victim, 'utf8'), 'untouched\n');
  // An ordinary dead-letter file is appended to as before.
  const clean = new DeadLetterFile(join(state, '..'), 0);
  assert.equal(await clean.write(Buffer.from('{"message":"y"}\n'), 400, 'bad'), 1);
  assert.match(await readFile(clean.file, 'utf8'), /"record":\{"message":"y"\}/);
});
