// The collector's refusals, against a real agent and a real collector on 127.0.0.1: refusals of the request
// hold delivery (nothing dead-lettered), a poison record is isolated from its neighbours, a collector that
// refuses every record holds delivery, full dead-letter files pause reading, `logferry replay` sends again.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { MAIN } from '../helpers/agent.js';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import type { Collector } from '../helpers/collector.js';
import { type Rig, rig } from '../helpers/rig.js';
import { otlpRecords, startElasticsearch, startOtlp } from '../helpers/sink-servers.js';
import { waitFor } from '../helpers/wait-for.js';

const exec = promisify(execFile);

function tokens(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}-${randomUUID()}`);
}

async function writeLines(file: string, lines: string[]): Promise<void> {
  await appendFile(file, lines.map((l) => `${l}\n`).join(''));
}

function missing(c: Collector, want: string[]): string[] {
  const got = new Set(c.records.map((r) => r.message));
  return want.filter((m) => !got.has(m));
}

async function delivered(c: Collector, want: string[], what: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(() => missing(c, want).length === 0, { timeoutMs, what }).catch(() => {});
  assert.deepEqual(missing(c, want), [], `${what}: lines were lost`);
}

interface DeadLetterEntry {
  status: number;
  reason: string;
  record: { message: string; id: string };
}

/** Every record in every dead-letter file of the state dir (the agent's and replay's). */
async function deadLetters(stateDir: string): Promise<DeadLetterEntry[]> {
  const names = await readdir(stateDir).catch(() => [] as string[]);
  const out: DeadLetterEntry[] = [];
  for (const n of names.filter((x) => x.startsWith('dead-letter.')).sort()) {
    const text = await readFile(join(stateDir, n), 'utf8');
    for (const l of text.split('\n')) if (l) out.push(JSON.parse(l) as DeadLetterEntry);
  }
  return out;
}

interface Status {
  delivery: string;
  held: { cause: string; status: number; reason: string; since: string } | null;
  deadLetter: { bytes: number; maxBytes: number; full: boolean; fullSince: string | null };
}

async function status(r: Rig): Promise<Status> {
  let res: Response | null = null;
  // The health server listens just after the agent says it started.
  await waitFor(
    async () => {
      res = await fetch(`http://127.0.0.1:${r.port}/status`).catch(() => null);
      return res !== null;
    },
    { what: 'GET /status' },
  );
  assert.equal(res!.status, 200);
  return (await res!.json()) as Status;
}

async function metric(r: Rig, series: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

async function healthy(r: Rig): Promise<void> {
  for (const path of ['/healthz', '/readyz']) {
    const res = await fetch(`http://127.0.0.1:${r.port}${path}`);
    assert.equal(res.status, 200, `${path} changed while delivery was held`);
    await res.body?.cancel();
  }
}

/** `logferry <command>` as a child process with the rig's environment: exit code and output. */
async function cli(
  r: Rig,
  command: string,
  extra: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [MAIN, command], {
      env: { PATH: process.env.PATH ?? '', ...r.env(extra) },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('401 for a while, then accepted: held (status, metric, one error log), nothing dead-lettered, all delivered, health unchanged', async (t) => {
  const r = await rig(t, { prefix: 'logferry-refusals-', withHealthPort: true });
  let denied = true;
  let refusals = 0;
  r.c.fault = () => {
    if (!denied) return undefined;
    refusals++;
    return { status: 401, body: 'token expired' };
  };
  const lines = tokens('held', 200);
  await writeLines(r.logFile, lines);
  const a = await r.start();

  await waitFor(async () => (await status(r)).held?.status === 401 && refusals >= 5, {
    what: 'the status to say delivery is held by a 401',
  });
  const s = await status(r);
  assert.equal(s.delivery, 'held');
  assert.equal(s.held!.cause, 'request');
  assert.match(s.held!.reason, /token expired/);
  assert.ok(!Number.isNaN(Date.parse(s.held!.since)));
  assert.ok(((await metric(r, 'logferry_delivery_held_total{status="401"}')) ?? 0) >= 1);
  assert.equal(await metric(r, 'logferry_delivery_held'), 1);
  await healthy(r);
  const shown = await cli(r, 'status');
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /delivery: HELD .*HTTP 401: token expired/);
  assert.deepEqual(await deadLetters(r.stateDir), [], 'a 401 dead-lettered lines');
  const errors = a.logs().filter((l) => l.code === 'LOGFERRY_DELIVERY_HELD');
  assert.ok(errors.length >= 1, 'the hold was not logged');
  assert.equal(errors[0]!.level, 'error', 'the hold is logged as an error');
  assert.equal(errors[0]!.status, 401);
  assert.match(String(errors[0]!.reason), /token expired/);
  assert.ok(
    errors.length * 5 <= refusals,
    `${errors.length} logs for ${refusals} refusals: not rate-limited`,
  );

  denied = false;
  await delivered(r.c, lines, 'after the 401s');
  await waitFor(async () => (await status(r)).delivery === 'ok', {
    what: 'the status to say delivery is ok',
  });
  assert.deepEqual(await deadLetters(r.stateDir), [], 'lines were dead-lettered');
  assert.equal(a.logs().filter((l) => l.code === 'LOGFERRY_DEAD_LETTER').length, 0);
});

test('one poison record in a batch: isolated by splitting, its neighbours delivered, only it dead-lettered', async (t) => {
  const r = await rig(t, { prefix: 'logferry-refusals-', withHealthPort: true });
  const POISON = `poison-${randomUUID()}`;
  r.c.fault = (_req, recs) =>
    recs.some((x) => x.message === POISON) ? { status: 400, body: 'field "message" is invalid' } : undefined;
  const before = tokens('before', 40);
  const after = tokens('after', 40);
  await writeLines(r.logFile, [...before, POISON, ...after]);
  const a = await r.start();

  await delivered(r.c, [...before, ...after], 'neighbours of the poison record');
  await waitFor(async () => (await deadLetters(r.stateDir)).length > 0, { what: 'the dead-letter file' });
  const dead = await deadLetters(r.stateDir);
  assert.deepEqual(
    dead.map((d) => d.record.message),
    [POISON],
  );
  assert.equal(dead[0]!.status, 400);
  assert.match(dead[0]!.reason, /field "message" is invalid/);
  assert.ok(
    r.c.records.every((x) => x.message !== POISON),
    'the poison record was accepted',
  );
  assert.ok(
    a.logs().some((l) => l.code === 'LOGFERRY_DEAD_LETTER' && l.status === 400),
    'dead-lettering was not logged',
  );
  // Shipping goes on.
  const later = tokens('later', 10);
  await writeLines(r.logFile, later);
  await delivered(r.c, later, 'lines after the poison record');
  assert.equal((await deadLetters(r.stateDir)).length, 1);
});

test('a poison record sent beside all its neighbours, then a quiet file: dead-lettered, the checkpoint passes it', async (t) => {
  // One record per request, all in flight at once: no request is sent after the poison's refusal, and the
  // application writes nothing more, so the only evidence is the neighbours' acceptance meanwhile.
  const r = await rig(t, {
    prefix: 'logferry-refusals-quiet-',
    env: { LOGFERRY_BATCH_MAX_RECORDS: '1', LOGFERRY_MAX_IN_FLIGHT: '4' },
  });
  const POISON = `poison-${randomUUID()}`;
  r.c.fault = (_req, recs) =>
    recs.some((x) => x.message === POISON) ? { status: 400, body: 'bad' } : undefined;
  const good = tokens('good', 2);
  await writeLines(r.logFile, [good[0]!, POISON, good[1]!]);
  await r.start();
  await delivered(r.c, good, 'the neighbours');
  await waitFor(async () => (await deadLetters(r.stateDir)).length > 0, {
    what: 'the poison record dead-lettered with nothing written after it',
    timeoutMs: 10_000,
  });
  assert.deepEqual(
    (await deadLetters(r.stateDir)).map((d) => d.record.message),
    [POISON],
  );
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === size, {
    what: 'the checkpoint past the poison record',
  });
});

test('a collector that refuses every record with 400: held (status says so), nothing dead-lettered; delivered once it accepts', async (t) => {
  const r = await rig(t, { prefix: 'logferry-refusals-', withHealthPort: true });
  let refusing = true;
  let refusals = 0;
  r.c.fault = () => {
    if (!refusing) return undefined;
    refusals++;
    return { status: 400, body: 'schema mismatch: unknown field "offset"' };
  };
  const lines = tokens('refused', 60);
  await writeLines(r.logFile, lines);
  await r.start();

  await waitFor(async () => (await status(r)).held?.cause === 'refusals' && refusals >= 80, {
    what: 'the status to say every record is refused',
    timeoutMs: 30_000,
  });
  const s = await status(r);
  assert.equal(s.delivery, 'held');
  assert.equal(s.held!.status, 400);
  assert.match(s.held!.reason, /schema mismatch/);
  assert.deepEqual(await deadLetters(r.stateDir), [], 'records were dead-lettered');
  await healthy(r);
  const more = tokens('refused-more', 20);
  await writeLines(r.logFile, more);

  refusing = false;
  await delivered(r.c, [...lines, ...more], 'once the collector accepts');
  assert.deepEqual(await deadLetters(r.stateDir), [], 'records were dead-lettered');
  await waitFor(async () => (await status(r)).delivery === 'ok', { what: 'delivery ok again' });
});

test('dead-letter bound reached: reading pauses, nothing lost; replay frees space and everything is delivered', async (t) => {
  const r = await rig(t, { prefix: 'logferry-refusals-', withHealthPort: true });
  let poisonRefused = true;
  r.c.fault = (_req, recs) =>
    poisonRefused && recs.some((x) => x.message.startsWith('POISON'))
      ? { status: 422, body: 'unprocessable' }
      : undefined;
  // One dead-letter line is ~280 bytes: the bound holds one, not two.
  const env = { LOGFERRY_DEAD_LETTER_MAX_BYTES: '450' };
  const p1 = `POISON-1-${randomUUID()}`;
  const p2 = `POISON-2-${randomUUID()}`;
  const good1 = tokens('good1', 20);
  const good2 = tokens('good2', 20);
  await writeLines(r.logFile, [...good1, p1]);
  const a = await r.start(env);
  await delivered(r.c, good1, 'lines before the first poison record');
  await waitFor(async () => (await deadLetters(r.stateDir)).length === 1, { what: 'the first dead letter' });

  await writeLines(r.logFile, [...good2, p2]);
  await delivered(r.c, good2, 'lines before the second poison record');
  await waitFor(async () => (await status(r)).deadLetter.full, {
    what: 'the status to say the files are full',
  });
  assert.equal(await metric(r, 'logferry_dead_letter_full'), 1);
  assert.ok(((await metric(r, 'logferry_dead_letter_bytes')) ?? 0) > 0);
  assert.ok(
    a.logs().some((l) => l.code === 'LOGFERRY_DEAD_LETTER_FULL'),
    'the full dead-letter files were not logged',
  );
  // Reading is paused: lines written now are not read while the files stay full (checked for a second).
  const paused = tokens('paused', 20);
  await writeLines(r.logFile, paused);
  const writtenAt = Date.now();
  await waitFor(
    async () => {
      const s = await status(r);
      return s.deadLetter.full && Date.now() - writtenAt > 1000;
    },
    { what: 'a second of full dead-letter files' },
  );
  assert.deepEqual(
    missing(r.c, paused),
    paused,
    'lines were read and sent while the dead-letter files were full',
  );
  await healthy(r);
  assert.deepEqual(
    (await deadLetters(r.stateDir)).map((d) => d.record.message),
    [p1],
    'only the first refused record fits',
  );

  // The collector accepts the poison records now: replay sends the first, frees the space; the agent
  // writes the second (already refused) and reads on.
  poisonRefused = false;
  const first = await cli(r, 'replay', env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /1 accepted and removed, 0 kept/);
  await delivered(r.c, [p1, ...paused], 'after replay freed space');
  await waitFor(async () => !(await status(r)).deadLetter.full, { what: 'room again' });
  await waitFor(async () => (await deadLetters(r.stateDir)).some((d) => d.record.message === p2), {
    what: 'the second refused record in the dead-letter file',
  });
  const second = await cli(r, 'replay', env);
  assert.equal(second.code, 0, second.stderr);
  await delivered(r.c, [p2], 'the second poison record, by replay');
  assert.deepEqual(await deadLetters(r.stateDir), []);
});

test('replay: removes what the collector accepts, keeps what it refuses (exit 1), exit 0 when nothing is left; a 401 keeps everything', async (t) => {
  const r = await rig(t, { prefix: 'logferry-replay-' });
  await mkdir(r.stateDir, { recursive: true });
  const good = tokens('replay-good', 7);
  const bad = tokens('STILL-BAD', 2);
  const all = [good[0]!, bad[0]!, ...good.slice(1, 5), bad[1]!, ...good.slice(5)];
  const line = (m: string, i: number) =>
    JSON.stringify({
      time: new Date().toISOString(),
      status: 400,
      reason: 'HTTP 400: bad',
      record: {
        timestamp: new Date().toISOString(),
        file: '/x/app.log',
        offset: i * 10,
        id: `x:${i}`,
        message: m,
      },
    });
  await writeFile(join(r.stateDir, 'dead-letter.ndjson'), `${all.map(line).join('\n')}\n`);

  // A refusal of the request: nothing is removed.
  r.c.fault = () => ({ status: 401, body: 'no token' });
  const held = await cli(r, 'replay');
  assert.equal(held.code, 1);
  assert.match(held.stderr, /refuses the requests \(HTTP 401: no token\)/);
  assert.equal((await deadLetters(r.stateDir)).length, all.length);
  assert.equal(r.c.records.length, 0);

  r.c.fault = (_req, recs) =>
    recs.some((x) => x.message.startsWith('STILL-BAD')) ? { status: 400, body: 'still bad' } : undefined;
  const partial = await cli(r, 'replay');
  assert.equal(partial.code, 1, partial.stderr);
  assert.match(partial.stderr, /7 accepted and removed, 2 kept/);
  assert.deepEqual(missing(r.c, good), []);
  assert.deepEqual((await deadLetters(r.stateDir)).map((d) => d.record.message).sort(), [...bad].sort());
  assert.deepEqual(
    r.c.records.find((x) => x.message === good[0])!,
    {
      timestamp: r.c.records.find((x) => x.message === good[0])!.timestamp,
      file: '/x/app.log',
      offset: 0,
      id: 'x:0',
      message: good[0],
    },
    'the record is sent as it was dead-lettered',
  );

  r.c.fault = null;
  const done = await cli(r, 'replay');
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stderr, /nothing left/);
  assert.deepEqual(missing(r.c, bad), []);
  assert.deepEqual(await deadLetters(r.stateDir), []);
  assert.deepEqual(
    (await readdir(r.stateDir)).filter((n) => n.startsWith('dead-letter.') || n === 'replay.lock'),
    [],
  );
});

test('otlp: a partial success rejecting every record of every request is a refusal: held, nothing dead-lettered; one rejected record among stored ones is isolated', async (t) => {
  const otlp = await startOtlp();
  const r = await rig(t, {
    prefix: 'logferry-refusals-',
    withHealthPort: true,
    closers: [() => otlp.close()],
  });
  let rejectingAll = true;
  let rejections = 0;
  const POISON = `otlp-poison-${randomUUID()}`;
  otlp.fault = (_req, decoded) => {
    const recs = otlpRecords([decoded]);
    if (rejectingAll) {
      rejections++;
      return { rejected: recs.length, message: 'attribute limits exceeded' };
    }
    return recs.some((x) => x.body === POISON) ? { rejected: 1, message: 'bad record' } : undefined;
  };
  const lines = tokens('otlp-all', 30);
  await writeLines(r.logFile, lines);
  await r.start({ LOGFERRY_SINK: 'otlp', LOGFERRY_ENDPOINT: `${otlp.url}/v1/logs` });
  await waitFor(async () => (await status(r)).held?.cause === 'refusals' && rejections >= 20, {
    what: 'delivery held by partial successes that reject everything',
    timeoutMs: 30_000,
  });
  assert.match((await status(r)).held!.reason, /attribute limits exceeded/);
  assert.deepEqual(await deadLetters(r.stateDir), [], 'rejected records were dead-lettered');

  rejectingAll = false;
  const stored = () => new Set(otlpRecords(otlp.exports).map((x) => x.body));
  await waitFor(() => lines.every((l) => stored().has(l)), { what: 'every line stored once accepted' }).catch(
    () => {},
  );
  assert.deepEqual(
    lines.filter((l) => !stored().has(l)),
    [],
    'lines were lost',
  );
  assert.deepEqual(await deadLetters(r.stateDir), [], 'rejected records were dead-lettered');
  // Nothing else in flight (a batch held earlier and re-sent now would be evidence): every line acknowledged.
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === size, {
    what: 'every line acknowledged and checkpointed',
  });
  // A record rejected alone, with nothing else to send, waits; once later lines are accepted it is set aside.
  let poisonSeen = 0;
  const before = otlp.fault;
  otlp.fault = (req, decoded) => {
    if (otlpRecords([decoded]).some((x) => x.body === POISON)) poisonSeen++;
    return before!(req, decoded);
  };
  await writeLines(r.logFile, [POISON]);
  await waitFor(() => poisonSeen >= 2, { what: 'the lone rejected record sent again' });
  assert.deepEqual(await deadLetters(r.stateDir), [], 'a lone record was dead-lettered without evidence');
  const later = tokens('otlp-later', 5);
  await writeLines(r.logFile, later);
  await waitFor(async () => (await deadLetters(r.stateDir)).length > 0, {
    what: 'the rejected record set aside',
  });
  assert.deepEqual(
    (await deadLetters(r.stateDir)).map((d) => d.record.message),
    [POISON],
  );
  assert.deepEqual(
    later.filter((l) => !stored().has(l)),
    [],
  );
});

test('replay with the elasticsearch sink: records re-encoded as documents with their ids; an item mapping error is kept', async (t) => {
  const es = await startElasticsearch();
  const r = await rig(t, { prefix: 'logferry-replay-', closers: [() => es.close()] });
  await mkdir(r.stateDir, { recursive: true });
  const msgs = tokens('es-replay', 4);
  const entries = msgs.map((m, i) =>
    JSON.stringify({
      time: new Date().toISOString(),
      status: 400,
      reason: 'item status 400: mapper_parsing_exception',
      record: {
        timestamp: '2026-12-04T10:00:00.000Z',
        file: '/x/app.log',
        offset: i * 100,
        id: `es:${i}`,
        message: m,
        labels: { app: 'shop' },
      },
    }),
  );
  await writeFile(join(r.stateDir, 'dead-letter.ndjson'), `${entries.join('\n')}\n`);
  es.itemFault = (doc) =>
    JSON.stringify(doc).includes(msgs[2]!)
      ? { status: 400, error: { type: 'mapper_parsing_exception', reason: 'still bad' } }
      : undefined;
  const env = { LOGFERRY_SINK: 'elasticsearch', LOGFERRY_ENDPOINT: es.url, LOGFERRY_ES_INDEX: 'logs' };
  const res = await cli(r, 'replay', env);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /3 accepted and removed, 1 kept/);
  assert.deepEqual(es.violations, []);
  const stored = [...es.docs.values()].map((d) => JSON.stringify(d));
  for (const i of [0, 1, 3]) {
    assert.ok(
      stored.some((d) => d.includes(msgs[i]!) && d.includes(`"es:${i}"`)),
      `record ${i} not stored with its id`,
    );
  }
  assert.deepEqual(
    (await deadLetters(r.stateDir)).map((d) => d.record.message),
    [msgs[2]],
  );
});
