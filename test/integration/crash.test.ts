// Crashes and stops: the agent is a real child process killed with SIGKILL or stopped with SIGTERM while
// a writer in this process appends lines carrying sequence numbers. The collector (real HTTP, 127.0.0.1)
// must end up with every sequence number: zero lost; duplicates are allowed, counted and printed.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as pace } from 'node:timers/promises';
import { agentStarted } from '../helpers/agent.js';
import { waitFor } from '../helpers/wait-for.js';
import { lineOf, openFiles, setupLogAgent, tally, Writer, waitAll } from '../helpers/writer.js';

const setup = (t: { after(fn: () => Promise<void>): void }) => setupLogAgent(t, 'logferry-crash-');

async function readCheckpoint(state: string): Promise<{ version: number; files: { offset: number }[] }> {
  return JSON.parse(await readFile(join(state, 'checkpoints.json'), 'utf8')) as {
    version: number;
    files: { offset: number }[];
  };
}

test('SIGKILL while lines are written: the restarted agent resumes from its checkpoint, nothing is lost', async (t) => {
  const { logs, collector, run } = await setup(t);
  const TOTAL = 20_000;
  const FILES = 20;
  const PER_FILE_WRITE = 5; // 100 lines per round over the 20 files
  const counter = { n: 0 };
  const writers: Writer[] = [];
  for (let i = 0; i < FILES; i++) writers.push(await Writer.open(join(logs, `app-${i}.log`), 'k', counter));
  t.after(async () => {
    for (const w of writers) await w.close();
  });

  const first = run();
  await agentStarted(first);

  let killed: () => void = () => {};
  const killedNow = new Promise<void>((resolve) => {
    killed = resolve;
  });
  // ~20k lines over ~2 s; the second half waits until the agent was killed, so the kill is mid-way.
  const writing = (async () => {
    while (counter.n < TOTAL) {
      if (counter.n === TOTAL / 2) await killedNow;
      for (const w of writers) await w.write(PER_FILE_WRITE);
      await pace(10); // the writer's pace, not a wait for a condition
    }
  })();

  await waitFor(() => tally(collector.records, 'k', TOTAL).bySeq.size >= 3000, {
    timeoutMs: 15_000,
    what: 'the first agent to deliver 3000 lines',
  });
  const writtenAtKill = counter.n;
  first.kill('SIGKILL');
  assert.equal(await first.exited, 128, 'the agent died of SIGKILL');
  killed();
  assert.ok(writtenAtKill < TOTAL, 'the agent was killed while lines were being written');

  const second = run();
  await agentStarted(second);
  // Everything the killed agent sent has been received by now (its process and sockets are gone).
  const fromSecond = collector.records.length;
  await writing;
  const r = await waitAll(collector, 'k', TOTAL, second);

  console.log(
    `SIGKILL after ${writtenAtKill} lines written: ${r.duplicates} duplicates of ${TOTAL} lines ` +
      `(${fromSecond} records before the restart)`,
  );
  assert.deepEqual(r.malformed, [], 'every record carries an intact line');
  assert.deepEqual(r.unstable, [], 'a line re-sent after the restart has the same id and offset');

  // Within one run and without failures, no line is sent twice.
  const second1 = tally(collector.records.slice(fromSecond), 'k', TOTAL);
  assert.equal(second1.duplicates, 0, 'the restarted agent sent each line once');

  // The second agent resumed every file from its checkpoint, not from the beginning.
  const follows = second.logs().filter((l) => l.msg === 'following file');
  assert.equal(follows.length, FILES, 'each file is followed once');
  for (const f of follows) {
    assert.equal(f.from, 'checkpoint', `${String(f.path)} resumes from its checkpoint`);
    assert.ok(Number(f.offset) > 0, `the checkpoint of ${String(f.path)} had moved before the kill`);
  }
  assert.ok(r.duplicates < fromSecond, 'not everything delivered before the kill was sent again');

  assert.equal(second.exitCode, null, 'the restarted agent is still running');
});

test('SIGTERM: everything written is delivered before exit 0, including a last line without a newline', async (t) => {
  const { logs, collector, run } = await setup(t);
  const writer = await Writer.open(join(logs, 'app.log'), 't');
  t.after(() => writer.close());
  await writer.write(10);
  const agent = run();
  await agentStarted(agent);
  await writer.write(1990);
  const partial = 'last words without a newline';
  await writer.raw(partial);

  agent.kill('SIGTERM');
  assert.equal(await agent.exited, 0, `clean exit: ${agent.stderr}`);
  // No waiting here: the collector must already have everything when the agent is gone.
  const r = tally(collector.records, 't', 2000);
  assert.equal(r.missing.length, 0, `lines missing at exit: ${r.missing.slice(0, 10).join(', ')}`);
  const last = collector.records.filter((rec) => rec.message === partial);
  assert.equal(last.length, 1, 'the unfinished last line is delivered once at shutdown');
  assert.equal(last[0]!.offset, 2000 * (lineOf('t', 0).length + 1), 'at the offset where it starts');
  console.log(`SIGTERM with the collector up: ${r.duplicates} duplicates`);
});

test('SIGTERM right after a line is added to a file closed while idle: it is delivered before exit', async (t) => {
  const { logs, collector, run } = await setup(t);
  const app = join(logs, 'app.log');
  const writer = await Writer.open(app, 'i');
  t.after(() => writer.close());
  await writer.write(20);
  const agent = run({ LOGFERRY_IDLE_CLOSE_MS: '100' });
  await agentStarted(agent);
  await waitAll(collector, 'i', 20, agent);
  // The agent lets go of the descriptor of a file idle for LOGFERRY_IDLE_CLOSE_MS.
  await waitFor(async () => !(await openFiles(agent)).includes(app), { what: 'the agent to close app.log' });

  // The app's last words, then the pod stops: the agent must read them before it exits (the volume may go).
  await writer.write(5);
  agent.kill('SIGTERM');
  assert.equal(await agent.exited, 0, `clean exit: ${agent.stderr}`);
  const r = tally(collector.records, 'i', 25);
  assert.deepEqual(r.missing, [], 'the last lines were delivered before the agent exited');
});

test('SIGTERM with the collector down: exit 0 at the shutdown deadline; the next start delivers all', async (t) => {
  const { logs, collector, run } = await setup(t);
  const writer = await Writer.open(join(logs, 'app.log'), 'd');
  t.after(() => writer.close());
  await writer.write(500);
  let refused = 0;
  collector.fault = () => {
    refused++;
    return { status: 503, body: 'down for the test' };
  };

  const agent = run({ LOGFERRY_SHUTDOWN_TIMEOUT_MS: '500' });
  await agentStarted(agent);
  await writer.write(500);
  await waitFor(() => refused >= 2, { what: 'the agent to try the collector' });
  const termAt = Date.now();
  agent.kill('SIGTERM');
  assert.equal(await agent.exited, 0, `clean exit at the deadline: ${agent.stderr}`);
  const tookMs = Date.now() - termAt;
  assert.ok(tookMs < 2500, `exited ${tookMs} ms after SIGTERM (shutdown timeout 500 ms)`);
  assert.equal(collector.records.length, 0, 'nothing was accepted while the collector was down');

  collector.fault = null;
  const again = run();
  await agentStarted(again);
  const r = await waitAll(collector, 'd', 1000, again);
  assert.deepEqual(r.malformed, []);
  console.log(`SIGTERM at the deadline (${tookMs} ms), restart: ${r.duplicates} duplicates`);
});

test('a second SIGTERM while draining exits at once; the checkpoint stays valid; the restart delivers all', async (t) => {
  const { logs, state, collector, run } = await setup(t);
  const writer = await Writer.open(join(logs, 'app.log'), 's');
  t.after(() => writer.close());
  await writer.write(300);
  const agent = run({ LOGFERRY_SHUTDOWN_TIMEOUT_MS: '60000' });
  await agentStarted(agent);
  await waitAll(collector, 's', 300, agent);
  const lineBytes = lineOf('s', 0).length + 1;
  await waitFor(
    async () => {
      const cp = await readCheckpoint(state).catch(() => null);
      return cp?.files.some((f) => f.offset === 300 * lineBytes) === true;
    },
    { what: 'a checkpoint of the first 300 lines' },
  );

  let refused = 0;
  collector.fault = () => {
    refused++;
    return { status: 503, body: 'down for the test' };
  };
  await writer.write(700);
  await waitFor(() => refused >= 2, { what: 'the agent to try the collector' });
  agent.kill('SIGTERM');
  await waitFor(() => agent.stdout.includes('stopping: reading files'), {
    what: 'the agent to start draining',
  });
  const secondAt = Date.now();
  agent.kill('SIGTERM');
  const code = await agent.exited;
  const tookMs = Date.now() - secondAt;
  assert.notEqual(code, 0, 'the second signal exits non-zero');
  assert.ok(tookMs < 2000, `exited ${tookMs} ms after the second signal`);

  const cp = await readCheckpoint(state);
  assert.equal(cp.version, 1);
  assert.ok(
    cp.files.some((f) => f.offset === 300 * lineBytes),
    `the checkpoint holds the acknowledged offset: ${JSON.stringify(cp.files)}`,
  );

  collector.fault = null;
  const again = run();
  await agentStarted(again);
  const r = await waitAll(collector, 's', 1000, again);
  assert.deepEqual(r.malformed, []);
  assert.equal(r.duplicates, 0, 'the restart resumes after the acknowledged lines');
  console.log(`second SIGTERM exited ${code} in ${tookMs} ms; restart: ${r.duplicates} duplicates`);
});

test('the second signal writes what is acknowledged at that moment, not the last interval write', async (t) => {
  const { logs, state, collector, run } = await setup(t);
  const writer = await Writer.open(join(logs, 'app.log'), 'e');
  t.after(() => writer.close());
  await writer.write(300);
  // No interval write during the test: only the exit paths write checkpoints.
  const agent = run({ LOGFERRY_SHUTDOWN_TIMEOUT_MS: '60000', LOGFERRY_CHECKPOINT_INTERVAL_MS: '600000' });
  await agentStarted(agent);
  await waitAll(collector, 'e', 300, agent);
  let refused = 0;
  collector.fault = () => {
    refused++;
    return { status: 503 };
  };
  await writer.write(200);
  await waitFor(() => refused >= 1, { what: 'the agent to try the collector' });
  agent.kill('SIGTERM');
  await waitFor(() => agent.stdout.includes('stopping: reading files'), { what: 'draining' });
  agent.kill('SIGTERM');
  assert.notEqual(await agent.exited, 0);
  const cp = await readCheckpoint(state);
  const lineBytes = lineOf('e', 0).length + 1;
  assert.deepEqual(
    cp.files.map((f) => f.offset),
    [300 * lineBytes],
    'the checkpoint holds exactly the acknowledged lines',
  );
  collector.fault = null;
  const again = run();
  await agentStarted(again);
  const r = await waitAll(collector, 'e', 500, again);
  assert.equal(r.duplicates, 0, 'the restart resumes right after the acknowledged lines');
});
