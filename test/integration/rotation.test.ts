// Rotation, truncation, deletion and new files: the agent is a real child process following files that a
// writer in this process appends numbered lines to, and renames, copies, truncates, deletes or links the
// way loggers and logrotate do. The collector (real HTTP, 127.0.0.1) must end up with every line: zero lost;
// duplicates are counted and printed (and none are expected where nothing failed or restarted).
import assert from 'node:assert/strict';
import { copyFile, mkdir, rename, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as pace } from 'node:timers/promises';
import { agentStarted } from '../helpers/agent.js';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import { waitFor } from '../helpers/wait-for.js';
import { lineOf, openFiles, setupLogAgent, tally, Writer, waitAll } from '../helpers/writer.js';

const setup = (t: { after(fn: () => Promise<void>): void }) => setupLogAgent(t, 'logferry-rot-');

/** Write `total` lines in writes of `perWrite` lines, one write every ~10 ms. */
async function writePaced(w: Writer, total: number, perWrite: number): Promise<void> {
  for (let i = 0; i < total; i += perWrite) {
    await w.write(Math.min(perWrite, total - i));
    await pace(10); // the writer's pace, not a wait for a condition
  }
}

test('rename rotation while writing (logrotate create): the old file is read to its end, the new one from 0', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  const rotated = join(logs, 'app.log.1'); // not matched by *.log
  const counter = { n: 0 };
  const old = await Writer.open(app, 'r', counter);
  t.after(() => old.close());
  await old.write(100);
  const agent = run();
  await agentStarted(agent);

  await writePaced(old, 1400, 50);
  await rename(app, rotated);
  // The logger has not reopened yet: a few more lines go to the old descriptor, i.e. to app.log.1,
  // some of them after the agent saw the rename (within LOGFERRY_ROTATE_WAIT_MS of it).
  await old.write(30);
  await waitFor(() => agent.stdout.includes('file rotated or removed'), {
    what: 'the agent to see the rename',
  });
  await old.write(30);
  const fresh = await Writer.open(app, 'r', counter);
  t.after(() => fresh.close());
  await writePaced(fresh, 1440, 50);
  assert.equal(counter.n, 3000);

  const r = await waitAll(collector, 'r', 3000, agent);
  console.log(`rename rotation: ${r.duplicates} duplicates`);
  assert.deepEqual(r.malformed, []);
  assert.equal(r.duplicates, 0, 'nothing failed, so nothing is sent twice');
  // The lines written to the old descriptor after the rename came from the old file; the rest from offset 0.
  const lineBytes = lineOf('r', 0).length + 1;
  assert.equal(r.bySeq.get(1559)![0]!.offset, 1559 * lineBytes);
  assert.equal(r.bySeq.get(1560)![0]!.offset, 0);
  // The rotated file is let go once read to its end.
  await waitFor(async () => !(await openFiles(agent)).includes(rotated), {
    what: 'the agent to close app.log.1',
  });
  assert.equal(agent.exitCode, null);
});

test('rename rotation of a file the agent had closed while idle: found beside its old path by inode', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  const counter = { n: 0 };
  const old = await Writer.open(app, 'q', counter);
  t.after(() => old.close());
  await old.write(50);
  const agent = run({ LOGFERRY_IDLE_CLOSE_MS: '100' });
  await agentStarted(agent);
  await waitAll(collector, 'q', 50, agent);
  await waitFor(async () => !(await openFiles(agent)).includes(app), { what: 'the agent to close app.log' });

  // Lines, then rotation before the agent reopened the file, then lines to the old descriptor and a new file.
  await old.write(50);
  await rename(app, join(logs, 'app.log.1'));
  await old.write(50);
  const fresh = await Writer.open(app, 'q', counter);
  t.after(() => fresh.close());
  await fresh.write(50);

  const r = await waitAll(collector, 'q', 200, agent);
  console.log(`rename rotation of an idle-closed file: ${r.duplicates} duplicates`);
  assert.deepEqual(r.malformed, []);
  assert.equal(r.duplicates, 0, 'nothing failed, so nothing is sent twice');
});

test('copytruncate while writing: lines read before the truncation and every line after it arrive', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  const w1 = await Writer.open(app, 'c1');
  t.after(() => w1.close());
  const agent = run();
  await agentStarted(agent);
  await writePaced(w1, 2000, 50);
  await waitFor(() => tally(collector.records, 'c1', 2000).bySeq.size >= 1500, {
    what: '1500 lines before the truncation',
  });
  // logrotate copytruncate, with the writer paused during copy + truncate (its race is not the agent's).
  await copyFile(app, join(logs, 'app.log.1'));
  await truncate(app, 0);
  // The logger goes on through its O_APPEND descriptor, so from offset 0. Fewer bytes than were read,
  // so the agent can tell the file shrank.
  const w2 = await Writer.open(app, 'c2');
  t.after(() => w2.close());
  await writePaced(w2, 1000, 50);

  const r2 = await waitAll(collector, 'c2', 1000, agent);
  const lineBytes = lineOf('c1', 0).length + 1;
  for (let s = 0; s < 1000; s++)
    assert.equal(r2.bySeq.get(s)![0]!.offset, s * lineBytes, 'read again from 0');
  const warn = agent.logs().find((l) => l.msg === 'file truncated; reading it again from the beginning');
  assert.ok(warn, 'the truncation is noticed');
  // Every line before the offset the agent had read when it noticed arrives.
  const readLines = Math.floor(Number(warn.was) / lineBytes);
  const r1 = tally(collector.records, 'c1', readLines);
  assert.deepEqual(r1.missing, [], 'lines read before the truncation are delivered');
  const lost = 2000 - tally(collector.records, 'c1', 2000).bySeq.size;
  console.log(
    `copytruncate: ${lost} lines unread at the truncation (they are in the copy); ` +
      `duplicates ${r1.duplicates + r2.duplicates}; partial records ${r1.malformed.length}`,
  );
  assert.deepEqual(r2.malformed, []);
  assert.equal(r1.duplicates + r2.duplicates, 0, 'nothing failed, so nothing is sent twice');
});

test('a file deleted while the collector is down is read to its end through its open descriptor', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  const w = await Writer.open(app, 'x');
  await w.write(2000);
  await w.close();
  const attempted = new Set<number>();
  collector.fault = (_req, records) => {
    for (const r of records) attempted.add(Number(r.message.slice(6, 14)));
    return { status: 503, body: 'down for the test' };
  };
  // A small memory budget: the agent must stop reading long before the end of the file.
  const agent = run({
    LOGFERRY_BUFFER_MAX_BYTES: String(64 * 1024),
    LOGFERRY_BATCH_MAX_BYTES: '16384',
    LOGFERRY_READ_CHUNK_BYTES: '4096',
  });
  await agentStarted(agent);
  await waitFor(() => attempted.size > 0, { what: 'the agent to try the collector' });
  await unlink(app);
  assert.ok(attempted.size < 2000, `the agent had not read the whole file (${attempted.size} lines tried)`);
  await waitFor(() => agent.stdout.includes('file rotated or removed'), {
    what: 'the agent to see the delete',
  });

  collector.fault = null;
  const r = await waitAll(collector, 'x', 2000, agent);
  console.log(`deleted while the collector was down: ${r.duplicates} duplicates`);
  assert.deepEqual(r.malformed, []);
  await waitFor(async () => !(await openFiles(agent)).some((f) => f.startsWith(app)), {
    what: 'the agent to close the deleted file',
  });
  assert.equal(agent.exitCode, null);
});

test('a file rotated while the agent was stopped: the rest is found beside it by inode, the new file read', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  const counter = { n: 0 };
  const old = await Writer.open(app, 'p', counter);
  t.after(() => old.close());
  await old.write(500);
  const first = run();
  await agentStarted(first);
  await waitAll(collector, 'p', 500, first);
  first.kill('SIGTERM');
  assert.equal(await first.exited, 0);

  // While the agent is stopped: more lines, then rotation (rename to an unmatched name + a new file).
  await old.write(300);
  await rename(app, join(logs, 'app.log.1'));
  await old.write(20);
  const fresh = await Writer.open(app, 'p', counter);
  t.after(() => fresh.close());
  await fresh.write(200);

  const second = run();
  await agentStarted(second);
  const r = await waitAll(collector, 'p', 1020, second);
  console.log(`rotated while stopped: ${r.duplicates} duplicates`);
  assert.deepEqual(r.malformed, []);
  assert.equal(r.duplicates, 0, 'the restart resumes exactly after the delivered lines');
  const lineBytes = lineOf('p', 0).length + 1;
  assert.equal(r.bySeq.get(819)![0]!.offset, 819 * lineBytes, 'the old file continued at its offset');
  assert.equal(r.bySeq.get(820)![0]!.offset, 0, 'the new file from its beginning');
});

test('truncation (not rotation): the file rewritten after truncation is read again from offset 0', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  // Like an app that starts every file with the same banner line.
  const banner = 'service starting; log format v2\n';
  await writeFile(app, banner);
  const w = await Writer.open(app, 'u1');
  t.after(() => w.close());
  await w.write(1000);
  const agent = run();
  await agentStarted(agent);
  const before = await waitAll(collector, 'u1', 1000, agent);

  await truncate(app, 0);
  await writeFile(app, banner);
  const w2 = await Writer.open(app, 'u2');
  t.after(() => w2.close());
  await w2.write(200);

  const r = await waitAll(collector, 'u2', 200, agent);
  const lineBytes = lineOf('u2', 0).length + 1;
  for (let s = 0; s < 200; s++) {
    assert.equal(r.bySeq.get(s)![0]!.offset, banner.length + s * lineBytes, 'read again from offset 0');
  }
  assert.deepEqual(r.malformed, []);
  assert.equal(r.duplicates + before.duplicates, 0, 'nothing failed, so nothing is sent twice');
  // New lines get new ids, or a collector that drops duplicates by id would drop them.
  const oldIds = new Set([...before.bySeq.values()].map((l) => l[0]!.id));
  const reused = [...r.bySeq.values()].filter((l) => oldIds.has(l[0]!.id)).length;
  assert.equal(reused, 0, `${reused} new lines carry the id of an old line`);
});

test('new files: a file created after start, one in a directory created after start, symlinked files once', async (t) => {
  const { logs, collector, run } = await setup(t);
  const sub = join(logs, 'sub');
  const real = join(logs, 'real.log');
  const wReal = await Writer.open(real, 'l');
  t.after(() => wReal.close());
  await wReal.write(50);
  await symlink(real, join(logs, 'link.log'));
  const agent = run({ LOGFERRY_PATHS: `${join(logs, '*.log')},${join(sub, '*.log')}` });
  await agentStarted(agent);

  // A file that appears after start, in a watched directory.
  let at = Date.now();
  const late = await Writer.open(join(logs, 'late.log'), 'n');
  t.after(() => late.close());
  await late.write(20);
  await waitAll(collector, 'n', 20, agent, 3000);
  const lateMs = Date.now() - at;

  // A file in a directory that did not exist at start.
  at = Date.now();
  await mkdir(sub);
  const deep = await Writer.open(join(sub, 'a.log'), 'd');
  t.after(() => deep.close());
  await deep.write(20);
  await waitAll(collector, 'd', 20, agent, 3000);
  const subMs = Date.now() - at;

  // A symlink created after start to a file that is matched too.
  const real2 = join(logs, 'real2.log');
  const w2 = await Writer.open(real2, 's');
  t.after(() => w2.close());
  await w2.write(30);
  await symlink(real2, join(logs, 'link2.log'));
  await w2.write(30);
  await wReal.write(50);
  await waitAll(collector, 's', 60, agent, 3000);
  const r = await waitAll(collector, 'l', 100, agent, 3000);
  const r2 = tally(collector.records, 's', 60);
  console.log(`new files: late.log in ${lateMs} ms, sub/a.log in ${subMs} ms`);
  assert.equal(r.duplicates, 0, 'a file and a symlink to it: each line once');
  assert.equal(r2.duplicates, 0, 'a file and a symlink created after start: each line once');
  assert.equal(collector.ids.size, collector.records.length, 'every record has its own id');
});

test('a symlink removed while its target stays matched: the file is followed on, not read again', async (t) => {
  const { logs, state, collector, run } = await setup(t);
  const real = join(logs, 'real.log');
  const w = await Writer.open(real, 'm');
  t.after(() => w.close());
  await w.write(100);
  await symlink(real, join(logs, 'link.log'));
  // No grace period for files whose path is gone, so a file let go is let go at once.
  const agent = run({ LOGFERRY_ROTATE_WAIT_MS: '0' });
  await agentStarted(agent);
  await waitAll(collector, 'm', 100, agent);

  await unlink(join(logs, 'link.log'));
  // A barrier: a file created after the unlink, delivered and checkpointed, so the agent has handled the
  // unlink (events come in order) and written a checkpoint since.
  const barrier = join(logs, 'barrier.log');
  await writeFile(barrier, 'barrier\n');
  await waitFor(async () => (await checkpointOffset(state, barrier)) === 8, {
    what: 'the barrier file to be checkpointed',
  });
  await w.write(50);
  const r = await waitAll(collector, 'm', 150, agent);
  console.log(`symlink removed: ${r.duplicates} duplicates`);
  assert.equal(r.duplicates, 0, 'removing a symlink does not make its target be read again');
  assert.equal(collector.ids.size, collector.records.length, 'every record has its own id');
});

test('a rotated file renamed back while its last lines await acknowledgement is followed on, not sent again', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  const away = join(logs, 'app.log.1'); // not matched by *.log
  const w = await Writer.open(app, 'k');
  t.after(() => w.close());
  await w.write(100);
  const agent = run();
  await agentStarted(agent);
  await waitAll(collector, 'k', 100, agent);

  // Acknowledgements held: the rotated file, read to its end, waits for them (finishing).
  collector.fault = () => ({ status: 503 });
  await w.write(20);
  await rename(app, away);
  await waitFor(() => agent.stdout.includes('rotated file read to its end'), {
    what: 'the agent to finish the rotated file',
  });
  await rename(away, app);
  await waitFor(() => agent.stdout.includes('found again under a matching path'), {
    what: 'the agent to find the file again',
  });
  collector.fault = null;
  await waitAll(collector, 'k', 120, agent);
  await w.write(30);
  const r = await waitAll(collector, 'k', 150, agent);
  assert.deepEqual(r.malformed, []);
  assert.equal(r.duplicates, 0, 'the file is followed on from where it was, not read again from 0');
  assert.equal(r.bySeq.get(120)![0]!.offset, 120 * (lineOf('k', 0).length + 1));
  assert.ok(!agent.stdout.includes('done with file'), 'the file was not let go');
  assert.equal(agent.exitCode, null);
});
