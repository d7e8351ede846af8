// The life of a followed file: START_AT at the first start only, ids of a replaced file, forgetting idle files,
// files lost while waiting for a descriptor, and checkpoints that follow acknowledgements.
import assert from 'node:assert/strict';
import { access, appendFile, mkdtemp, rename, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import { type Rig, rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait-for.js';

const messages = (r: Rig) => r.c.records.map((x) => x.message);
const has = (r: Rig, m: string) => r.c.records.some((x) => x.message === m);

/** Make files until one gets inode `ino` (just freed): its path, or null when the file system does not reuse it. */
async function takeInode(ino: number, make: (n: number) => Promise<string>): Promise<string | null> {
  let n = 0;
  let got: string | null = null;
  await waitFor(
    async () => {
      const p = await make(n++);
      if ((await stat(p)).ino !== ino) return false;
      got = p;
      return true;
    },
    { what: 'a file with the freed inode', timeoutMs: 5000 },
  ).catch(() => {});
  return got;
}

async function metrics(r: Rig): Promise<string> {
  return (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
}

test('START_AT=end applies at the first start only: lines and files that appear while stopped are read', async (t) => {
  const r = await rig(t, { prefix: 'logferry-life-startat-', env: { LOGFERRY_START_AT: 'end' } });
  const old = join(r.logDir, 'old.log');
  await writeFile(old, 'old-1\nold-2\n');
  const a = await r.start();
  await appendFile(old, 'old-3\n');
  await waitFor(() => has(r, 'old-3'), { what: 'old-3' });
  a.kill('SIGTERM');
  assert.equal(await a.exited, 0);
  // While stopped: a line appended, and a new file.
  await appendFile(old, 'old-4\n');
  await writeFile(join(r.logDir, 'new.log'), 'new-1\nnew-2\n');
  await r.start();
  await waitFor(() => ['old-4', 'new-1', 'new-2'].every((m) => has(r, m)), {
    what: 'lines written while down',
  });
  assert.deepEqual([...new Set(messages(r))].sort(), ['new-1', 'new-2', 'old-3', 'old-4']);
  assert.equal(r.c.records.find((x) => x.message === 'new-1')!.offset, 0);
});

test('a first start killed before it wrote any checkpoint of its own does not skip on the next start', async (t) => {
  const r = await rig(t, { prefix: 'logferry-life-firstkill-', env: { LOGFERRY_START_AT: 'end' } });
  const pre = join(r.logDir, 'pre.log');
  await writeFile(pre, 'pre-1\n');
  const a = await r.start();
  // The marker of the first start is on disk before anything is read.
  await access(join(r.stateDir, 'checkpoints.json'));
  a.kill('SIGKILL');
  await a.exited;
  assert.equal(r.c.records.length, 0);
  await appendFile(pre, 'pre-2\n');
  await writeFile(join(r.logDir, 'later.log'), 'later-1\n');
  await r.start();
  await waitFor(() => has(r, 'pre-2') && has(r, 'later-1'), { what: 'lines written after the first start' });
  assert.ok(!has(r, 'pre-1'), 'what existed at the very first start stays skipped');
});

test('a first start with no file at all is still the first: a file created while stopped is read from 0', async (t) => {
  const r = await rig(t, { prefix: 'logferry-life-empty-', env: { LOGFERRY_START_AT: 'end' } });
  const a = await r.start();
  a.kill('SIGKILL');
  await a.exited;
  await writeFile(r.logFile, 'made-while-down\n');
  await r.start();
  await waitFor(() => has(r, 'made-while-down'), { what: 'the file made while stopped' });
});

test("a file that reuses a deleted one's inode and first line gets new record ids", async (t) => {
  const r = await rig(t, { prefix: 'logferry-life-ids-' });
  // The state directory on another file system where there is one: its checkpoint writes would take the
  // freed inode.
  const shm = await mkdtemp('/dev/shm/logferry-life-ids-').catch(() => null);
  if (shm !== null) t.after(() => rm(shm, { recursive: true, force: true }));
  const stateDir = shm ?? r.stateDir;
  const a = await r.start({ LOGFERRY_STATE_DIR: stateDir });
  await writeFile(r.logFile, 'header\nA-1\nA-2\n');
  const ino = (await stat(r.logFile)).ino;
  await waitFor(() => has(r, 'A-2'), { what: 'the first file' });
  await unlink(r.logFile);
  await waitFor(() => a.stdout.includes('"msg":"done with file"'), { what: 'the deleted file let go' });
  await waitFor(async () => (await checkpointOffset(stateDir, r.logFile)) === -1, {
    what: 'its checkpoint entry dropped',
  });
  // The new file is made beside the watched directory until it gets the freed inode (once the agent
  // closed it), then renamed in: the same device, inode and first line as the deleted file.
  const probe = await takeInode(ino, async (n) => {
    const p = join(r.dir, `probe-${n}`);
    await writeFile(p, 'header\nB-1\nB-2\n');
    return p;
  });
  if (probe === null) {
    t.skip('the file system did not hand out the freed inode again');
    return;
  }
  await rename(probe, r.logFile);
  await waitFor(() => has(r, 'B-2'), { what: 'the second file' });
  const idsOf = (p: string) => new Set(r.c.records.filter((x) => x.message.startsWith(p)).map((x) => x.id));
  const first = idsOf('A-');
  const second = [...idsOf('B-')];
  assert.equal(second.length, 2);
  assert.ok(
    second.every((id) => !first.has(id)),
    'new lines reuse old ids',
  );
  // The header line is in both files at offset 0: two different lines, two ids.
  assert.equal(new Set(r.c.records.filter((x) => x.message === 'header').map((x) => x.id)).size, 2);
});

test('a stranger that got the inode of a file deleted while stopped is not read as its rotated rest', async (t) => {
  const r = await rig(t, { prefix: 'logferry-life-stranger-' });
  const shm = await mkdtemp('/dev/shm/logferry-life-stranger-').catch(() => null);
  if (shm !== null) t.after(() => rm(shm, { recursive: true, force: true }));
  const stateDir = shm ?? r.stateDir;
  // Refused, so the file's entry stays at offset 0: it vouches only for the bytes read (its fingerprint).
  r.c.fault = () => ({ status: 503 });
  await writeFile(r.logFile, 'ours-1\nours-2\n');
  const ino = (await stat(r.logFile)).ino;
  const a = await r.start({ LOGFERRY_STATE_DIR: stateDir });
  await waitFor(async () => (await checkpointOffset(stateDir, r.logFile)) === 0, { what: 'its entry' });
  a.kill('SIGKILL');
  await a.exited;
  await unlink(r.logFile);
  // Beside it, under a name the pattern does not match, a file with other content and the freed inode.
  const stranger = await takeInode(ino, async (n) => {
    const p = join(r.logDir, `copy-${n}.txt`);
    await writeFile(p, 'stranger-1\nstranger-2\n');
    return p;
  });
  if (stranger === null) {
    t.skip('the file system did not hand out the freed inode again');
    return;
  }
  r.c.fault = null;
  const b = await r.start({ LOGFERRY_STATE_DIR: stateDir });
  await writeFile(join(r.logDir, 'later.log'), 'later-1\n');
  await waitFor(() => has(r, 'later-1'), { what: 'a line written after the restart' });
  await waitFor(async () => (await checkpointOffset(stateDir, r.logFile)) === -1, {
    what: 'the entry of the deleted file let go',
  });
  assert.deepEqual(
    messages(r).filter((m) => m.startsWith('stranger')),
    [],
    'the stranger was read',
  );
  assert.ok(!b.stdout.includes('reading the rest of a file rotated while stopped'));
});

test('each content of a file truncated across restarts gets its own ids, the same first line or not', async (t) => {
  // A short shutdown: the collector refuses, and the stops give up waiting for it.
  const r = await rig(t, {
    prefix: 'logferry-life-trunc-ids-',
    env: { LOGFERRY_SHUTDOWN_TIMEOUT_MS: '500' },
  });
  // Every record the agent offered, with the content it was offered in (the collector refuses until the end).
  const offered: { phase: string; id: string; message: string }[] = [];
  let phase = 'A';
  r.c.fault = (_req, records) => {
    if (phase === 'C') return undefined;
    for (const x of records) offered.push({ phase, id: x.id, message: x.message });
    return { status: 503 };
  };
  const tried = (m: string) => offered.some((x) => x.message === m);
  await writeFile(r.logFile, '');
  let a = await r.start();
  await appendFile(r.logFile, 'same first line\nA-1\n');
  await waitFor(() => tried('A-1'), { what: 'A offered' });
  await truncate(r.logFile, 0);
  await waitFor(() => a.stdout.includes('file truncated'), { what: 'the truncation noticed' });
  // Stopped with nothing of the new content read: the checkpoint has no key of the new content to give.
  a.kill('SIGTERM');
  assert.equal(await a.exited, 0);
  phase = 'B';
  a = await r.start();
  await appendFile(r.logFile, 'same first line\nB-1\n');
  await waitFor(() => tried('B-1'), { what: 'B offered' });
  a.kill('SIGTERM');
  assert.equal(await a.exited, 0);
  // Truncated and rewritten while stopped, the same first line again.
  await truncate(r.logFile, 0);
  await appendFile(r.logFile, 'same first line\nC-1\n');
  phase = 'C';
  await r.start();
  await waitFor(() => has(r, 'C-1'), { what: 'C delivered' });
  const ids = (p: string) =>
    new Set([...offered.filter((x) => x.phase === p), ...(p === 'C' ? r.c.records : [])].map((x) => x.id));
  const [A, B, C] = [ids('A'), ids('B'), ids('C')];
  assert.equal(A.size, 2);
  assert.equal(B.size, 2);
  assert.equal(C.size, 2);
  for (const [x, y, what] of [
    [A, B, 'A and B'],
    [A, C, 'A and C'],
    [B, C, 'B and C'],
  ] as const)
    assert.deepEqual(
      [...x].filter((id) => y.has(id)),
      [],
      `${what} share ids`,
    );
});

test('a truncation is on disk before the new content is read: a SIGKILL then keeps both contents apart', async (t) => {
  // No periodic checkpoint and nothing acknowledged before the kill: only the truncation writes one.
  const r = await rig(t, {
    prefix: 'logferry-life-trunc-kill-',
    env: { LOGFERRY_CHECKPOINT_INTERVAL_MS: '600000' },
  });
  const offered: { id: string; message: string }[] = [];
  let accept = false;
  r.c.fault = (_req, records) => {
    offered.push(...records.map((x) => ({ id: x.id, message: x.message })));
    return accept ? undefined : { status: 503 };
  };
  const tried = (m: string) => offered.some((x) => x.message === m);
  await writeFile(r.logFile, 'same first line\nA-1\n');
  const a = await r.start();
  await waitFor(() => tried('A-1'), { what: 'A offered' });
  await truncate(r.logFile, 0);
  await waitFor(() => a.stdout.includes('file truncated'), { what: 'the truncation noticed' });
  await appendFile(r.logFile, 'same first line\nB-1\n');
  await waitFor(() => tried('B-1'), { what: 'B offered' });
  a.kill('SIGKILL');
  await a.exited;
  accept = true;
  await r.start();
  await waitFor(() => has(r, 'B-1'), { what: 'B delivered after the restart' });
  // An id is `<key>:<offset>`: the key tells the content.
  const keys = (m: string) => new Set(offered.filter((x) => x.message === m).map((x) => x.id.split(':')[0]));
  const [A, B] = [keys('A-1'), keys('B-1')];
  assert.equal(A.size, 1);
  // The same lines keep their key across the kill, so a collector can drop the copies it already has.
  assert.equal(B.size, 1, 'the new content changed ids at the restart');
  assert.notDeepEqual([...B], [...A], 'the new content took the old key');
  assert.deepEqual(keys('same first line'), new Set([...A, ...B]));
});

test('an idle, fully delivered file is forgotten, resumes from its checkpoint, and its entry goes with it', async (t) => {
  const r = await rig(t, {
    prefix: 'logferry-life-forget-',
    withHealthPort: true,
    env: { LOGFERRY_FORGET_IDLE_MS: '1000' },
  });
  const a = await r.start();
  await writeFile(r.logFile, 'one\ntwo\n');
  await waitFor(() => has(r, 'two'), { what: 'the first lines' });
  await waitFor(() => a.stdout.includes('idle file forgotten'), { what: 'the file forgotten' });
  const m = await metrics(r);
  assert.match(m, /logferry_files_forgotten_total 1/);
  assert.ok(!m.includes(`file="${r.logFile}"`), 'its metric series are gone');
  assert.equal(await checkpointOffset(r.stateDir, r.logFile), 8, 'its checkpoint entry stays');
  // It grows again: followed from its checkpoint, nothing sent twice.
  await appendFile(r.logFile, 'three\n');
  await waitFor(() => has(r, 'three'), { what: 'the line after forgetting' });
  assert.deepEqual(messages(r), ['one', 'two', 'three']);
  assert.ok(a.stdout.includes('"from":"checkpoint"'));
  // Forgotten again, then deleted: the entry leaves the checkpoint file.
  await waitFor(() => a.stdout.split('idle file forgotten').length > 2, { what: 'forgotten again' });
  await unlink(r.logFile);
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === -1, {
    what: 'the entry of the deleted file dropped',
  });
});

test('a forgotten file rotated away is read to its end (lines written after the rename are delivered)', async (t) => {
  const r = await rig(t, { prefix: 'logferry-life-forgetrot-', env: { LOGFERRY_FORGET_IDLE_MS: '1000' } });
  const a = await r.start();
  await writeFile(r.logFile, 'before\n');
  await waitFor(() => has(r, 'before'), { what: 'the first line' });
  await waitFor(() => a.stdout.includes('idle file forgotten'), { what: 'the file forgotten' });
  // logrotate `create`: rename, new file; the app writes a last line to the renamed file before reopening.
  const rotated = `${r.logFile}.1`;
  await rename(r.logFile, rotated);
  await appendFile(rotated, 'late\n');
  await writeFile(r.logFile, 'fresh\n');
  await waitFor(() => has(r, 'late') && has(r, 'fresh'), { what: 'the late line and the new file' });
  assert.deepEqual(messages(r).sort(), ['before', 'fresh', 'late']);
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === 6, {
    what: 'only the new file in the checkpoint',
  });
});

test('a file rotated away while it waits for a descriptor is counted and logged', async (t) => {
  const r = await rig(t, {
    prefix: 'logferry-life-waiting-',
    withHealthPort: true,
    env: { LOGFERRY_MAX_OPEN_FILES: '4' },
  });
  // The collector refuses for now: the four files keep unacknowledged lines, so no descriptor is let go.
  const refused = new Set<string>();
  r.c.fault = (_req, recs) => {
    for (const x of recs) refused.add(x.message);
    return { status: 503 };
  };
  const a = await r.start();
  for (let i = 0; i < 4; i++) await writeFile(join(r.logDir, `busy-${i}.log`), `busy-${i}\n`);
  await waitFor(() => a.stdout.split('"msg":"following file"').length > 4, { what: 'four files followed' });
  // Their lines are sent (and refused): a file with lines in flight keeps its descriptor.
  await waitFor(() => refused.size === 4, { what: 'the four lines sent' });
  const waiting = join(r.logDir, 'waiting.log');
  await writeFile(waiting, 'never-read\n');
  await waitFor(async () => /logferry_files_waiting 1/.test(await metrics(r)), { what: 'a file waiting' });
  await rename(waiting, join(r.logDir, 'waiting.old'));
  await waitFor(async () => /logferry_files_lost_waiting_total 1/.test(await metrics(r)), {
    what: 'the lost file counted',
  });
  assert.ok(a.stdout.includes('LOGFERRY_LOST_WAITING'));
  r.c.fault = null;
  await waitFor(() => [0, 1, 2, 3].every((i) => has(r, `busy-${i}`)), { what: 'the busy files delivered' });
});

test('a checkpoint follows its acknowledgement without waiting for the checkpoint interval', async (t) => {
  const r = await rig(t, {
    prefix: 'logferry-life-ackcp-',
    env: { LOGFERRY_CHECKPOINT_INTERVAL_MS: '600000' },
  });
  await r.start();
  await writeFile(r.logFile, 'a line\n');
  await waitFor(() => has(r, 'a line'), { what: 'the line' });
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === 7, {
    timeoutMs: 3000,
    what: 'the checkpoint at the end of the line (the periodic write is ten minutes away)',
  });
});
