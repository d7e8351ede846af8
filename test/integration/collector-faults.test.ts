// The agent (a real child process) against a real collector on 127.0.0.1 that misbehaves: 5xx, 429 with
// Retry-After, connection resets, hangs, a poison record (400), 413 (split, then dead-letter), gzip on/off.
// Every line carries a unique token; each test asserts that no line is lost and the agent stays healthy.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import type { Agent } from '../helpers/agent.js';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import type { Collector, ReceivedRecord } from '../helpers/collector.js';
import { type Rig, rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait-for.js';

type TestContext = { after(fn: () => Promise<void>): void };

/** A rig whose agents serve /healthz and /readyz on `r.port`. */
function faultsRig(t: TestContext): Promise<Rig> {
  return rig(t, { prefix: 'logferry-faults-', withHealthPort: true });
}

function tokens(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}-${randomUUID()}`);
}

async function writeLines(file: string, lines: string[]): Promise<void> {
  await appendFile(file, lines.map((l) => `${l}\n`).join(''));
}

/** Every token arrived at least once, and every line kept one stable id across re-sends. */
async function expectDelivered(
  c: Collector,
  want: string[],
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const missing = () => {
    const got = new Set(c.records.map((r) => r.message));
    return want.filter((m) => !got.has(m));
  };
  await waitFor(() => missing().length === 0, { timeoutMs, what }).catch(() => {});
  assert.deepEqual(missing(), [], `${what}: lines were lost`);
  const idsByMessage = new Map<string, Set<string>>();
  for (const r of c.records) {
    const s = idsByMessage.get(r.message) ?? new Set<string>();
    s.add(r.id);
    idsByMessage.set(r.message, s);
  }
  const ids = new Set<string>();
  for (const m of want) {
    const s = idsByMessage.get(m)!;
    assert.equal(s.size, 1, `${what}: line ${m} arrived under several ids: ${[...s].join(', ')}`);
    ids.add([...s][0]!);
  }
  assert.equal(ids.size, want.length, `${what}: distinct lines share an id`);
}

/** Still running, /healthz and /readyz answer 200, no fatal or internal errors logged. */
async function expectHealthy(a: Agent, port: number): Promise<void> {
  assert.equal(a.exitCode, null, `agent exited: ${a.stderr}${a.stdout.slice(-2000)}`);
  const logs = a.logs();
  assert.equal(
    logs.some((l) => l.code === 'LOGFERRY_HTTP_LISTEN'),
    false,
    'health port was taken; cannot check health',
  );
  const bad = logs.filter((l) => l.level === 'fatal' || l.code === 'LOGFERRY_SEND_INTERNAL');
  assert.deepEqual(bad, [], 'agent logged fatal/internal errors');
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(ready.status, 200);
  await ready.body?.cancel();
}

function retryLogs(a: Agent): Record<string, unknown>[] {
  return a.logs().filter((l) => l.code === 'LOGFERRY_SEND_RETRY');
}

interface DeadLetterEntry {
  time: string;
  status: number;
  reason: string;
  record: ReceivedRecord;
}

async function readDeadLetter(stateDir: string): Promise<DeadLetterEntry[]> {
  const text = await readFile(join(stateDir, 'dead-letter.ndjson'), 'utf8').catch((err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  });
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as DeadLetterEntry);
}

/** Decoded NDJSON size of a request, as the collector sees it. */
function bodyBytes(records: ReceivedRecord[]): number {
  return records.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)) + 1, 0);
}

interface Seen {
  at: number;
  ids: string[];
  status: number | 'hang' | 'reset';
}

test('5xx: 503/500 for the first requests, then accepted: nothing lost, retry warnings rate-limited', async (t) => {
  const r = await faultsRig(t);
  const FAILURES = 15;
  let n = 0;
  r.c.fault = () => {
    n++;
    if (n <= FAILURES) return { status: n % 2 === 1 ? 503 : 500, body: 'collector overloaded' };
    return undefined;
  };
  const before = tokens('5xx-before', 50);
  await writeLines(r.logFile, before);
  const a = await r.start();
  const after = tokens('5xx-after', 50);
  await writeLines(r.logFile, after);

  await expectDelivered(r.c, [...before, ...after], '5xx');
  assert.ok(n > FAILURES, `collector answered only ${n} requests`);
  const warns = retryLogs(a);
  assert.ok(warns.length >= 1, 'the retry was not logged with code LOGFERRY_SEND_RETRY');
  assert.match(String(warns[0]!.reason), /^HTTP 50[03]$/);
  assert.equal(warns[0]!.level, 'warn');
  assert.ok(
    warns.length <= 3 && warns.length * 5 <= FAILURES,
    `${warns.length} retry warnings for ${FAILURES} failed requests: not rate-limited`,
  );
  await expectHealthy(a, r.port);
});

for (const variant of ['delay-seconds', 'HTTP-date'] as const) {
  test(`429 with Retry-After as ${variant}: the retry waits for it, nothing lost`, async (t) => {
    const r = await faultsRig(t);
    const seen: Seen[] = [];
    let notBefore = 0;
    r.c.fault = (_req, recs) => {
      const at = Date.now();
      const ids = recs.map((x) => x.id);
      if (seen.length === 0) {
        let retryAfter: string;
        if (variant === 'delay-seconds') {
          retryAfter = '1';
          notBefore = at + 1000;
        } else {
          // HTTP dates have whole seconds: the agent should wait until that second, 1.5-2.5 s from now.
          retryAfter = new Date(at + 2500).toUTCString();
          notBefore = Date.parse(retryAfter);
        }
        seen.push({ at, ids, status: 429 });
        return { status: 429, headers: { 'retry-after': retryAfter }, body: 'slow down' };
      }
      seen.push({ at, ids, status: 200 });
      return undefined;
    };
    const lines = tokens(`429-${variant}`, 40);
    await writeLines(r.logFile, lines);
    const a = await r.start();
    await expectDelivered(r.c, lines, `429 ${variant}`);

    const first = seen[0]!;
    assert.equal(first.status, 429);
    const retry = seen.slice(1).find((s) => s.ids.includes(first.ids[0]!));
    assert.ok(retry, 'the batch answered 429 was never sent again');
    const gap = retry.at - first.at;
    // Timers may fire a few ms early; the clock is shared with the agent.
    assert.ok(
      retry.at >= notBefore - 50,
      `retry came ${gap} ms after the 429, ${notBefore - retry.at} ms before Retry-After allowed`,
    );
    assert.ok(gap < 10_000, `retry came only after ${gap} ms`);
    const warns = retryLogs(a);
    assert.ok(warns.length >= 1, 'the 429 retry was not logged');
    assert.equal(warns[0]!.reason, 'HTTP 429');
    await expectHealthy(a, r.port);
  });
}

test('connection reset on the first requests: retried, nothing lost', async (t) => {
  const r = await faultsRig(t);
  const RESETS = 3;
  let n = 0;
  r.c.fault = () => (++n <= RESETS ? { reset: true } : undefined);
  const before = tokens('reset-before', 30);
  await writeLines(r.logFile, before);
  const a = await r.start();
  const after = tokens('reset-after', 30);
  await writeLines(r.logFile, after);

  await expectDelivered(r.c, [...before, ...after], 'reset');
  assert.ok(n > RESETS, `collector saw only ${n} requests`);
  const warns = retryLogs(a);
  assert.ok(warns.length >= 1, 'the retry after a reset was not logged');
  assert.equal(warns[0]!.reason, 'network');
  await expectHealthy(a, r.port);
});

test('no answer within LOGFERRY_REQUEST_TIMEOUT_MS: timed out, retried, nothing lost', async (t) => {
  const r = await faultsRig(t);
  const HANGS = 2;
  const seen: Seen[] = [];
  r.c.fault = (_req, recs) => {
    const hang = seen.length < HANGS;
    seen.push({ at: Date.now(), ids: recs.map((x) => x.id), status: hang ? 'hang' : 200 });
    return hang ? { hang: true } : undefined;
  };
  const lines = tokens('hang', 40);
  await writeLines(r.logFile, lines);
  const a = await r.start({ LOGFERRY_REQUEST_TIMEOUT_MS: '500' });
  const more = tokens('hang-more', 20);
  await writeLines(r.logFile, more);

  await expectDelivered(r.c, [...lines, ...more], 'hang');
  const hung = seen[0]!;
  assert.equal(hung.status, 'hang');
  const retry = seen.slice(1).find((s) => s.ids.includes(hung.ids[0]!));
  assert.ok(retry, 'the batch whose request hung was never sent again');
  // Backoff alone is at most 200 ms; a retry that waited for the 500 ms timeout comes well after that
  // (the agent's timer starts a little before the collector sees the request, hence the margin).
  assert.ok(
    retry.at - hung.at >= 300,
    `retried ${retry.at - hung.at} ms after the request: before the timeout`,
  );
  const warns = retryLogs(a);
  assert.ok(warns.length >= 1, 'the timeout was not logged as a retry');
  assert.equal(warns[0]!.reason, 'timeout');
  await expectHealthy(a, r.port);
});

test('poison record: 400 dead-letters it (once other records are accepted), the rest is shipped, the checkpoint moves past it', async (t) => {
  const r = await faultsRig(t);
  const POISON = `poison-${randomUUID()}`;
  const rejected: ReceivedRecord[][] = [];
  r.c.fault = (_req, recs) => {
    if (recs.some((x) => x.message.includes(POISON))) {
      rejected.push(recs);
      return { status: 400, headers: { 'content-type': 'text/plain' }, body: 'bad record xyz' };
    }
    return undefined;
  };
  const before = tokens('poison-before', 20);
  const after = tokens('poison-after', 20);
  await writeLines(r.logFile, [...before, POISON, ...after]);
  const a = await r.start({ LOGFERRY_BATCH_MAX_RECORDS: '1' });

  await expectDelivered(r.c, [...before, ...after], 'poison: lines around it');
  await waitFor(async () => (await readDeadLetter(r.stateDir)).length > 0, { what: 'dead-letter file' });
  // Shipping goes on after the dead-lettered request.
  const later = tokens('poison-later', 20);
  await writeLines(r.logFile, later);
  await expectDelivered(r.c, later, 'poison: lines written afterwards');

  assert.equal(
    r.c.records.some((x) => x.message === POISON),
    false,
    'poison line was accepted',
  );
  // Alone in its request, it is sent again until a request sent after its refusal is accepted (evidence that
  // the collector takes other records, not refusing everything); then set aside.
  const sends = rejected.length;
  assert.ok(sends >= 2 && sends <= 10, `the poison request was sent ${sends} times`);
  const dead = await readDeadLetter(r.stateDir);
  const rejectedRecords = rejected.flat();
  assert.deepEqual(
    dead.map((d) => d.record.id),
    [...new Set(rejectedRecords.map((x) => x.id))],
    'dead-letter file holds exactly the records of the rejected request',
  );
  assert.deepEqual(
    dead.map((d) => d.record.message),
    [POISON],
  );
  for (const d of dead) {
    assert.equal(d.status, 400);
    assert.match(d.reason, /bad record xyz/);
    assert.ok(!Number.isNaN(Date.parse(d.time)), `bad time ${d.time}`);
    assert.deepEqual(
      d.record,
      rejectedRecords.find((x) => x.id === d.record.id),
    );
  }
  assert.ok(
    a.logs().some((l) => l.code === 'LOGFERRY_DEAD_LETTER' && l.status === 400),
    'dead-lettering was not logged',
  );
  await expectHealthy(a, r.port);

  a.kill('SIGTERM');
  assert.equal(await a.exited, 0, `agent did not stop cleanly: ${a.stdout.slice(-2000)}`);
  const cp = JSON.parse(await readFile(join(r.stateDir, 'checkpoints.json'), 'utf8')) as {
    files: { path: string; offset: number }[];
  };
  const entry = cp.files.find((f) => f.path === r.logFile);
  assert.ok(entry, `no checkpoint for ${r.logFile}: ${JSON.stringify(cp)}`);
  assert.equal(entry.offset, (await stat(r.logFile)).size, 'checkpoint did not move past the poison line');
  assert.equal(rejected.length, sends, 'the poison request was re-sent after it was dead-lettered');
});

test('413 for requests over K records: the agent splits, everything arrives, nothing dead-lettered', async (t) => {
  const r = await faultsRig(t);
  const K = 8;
  let tooLarge = 0;
  let maxAccepted = 0;
  r.c.fault = (_req, recs) => {
    if (recs.length > K) {
      tooLarge++;
      return { status: 413, body: `at most ${K} records` };
    }
    maxAccepted = Math.max(maxAccepted, recs.length);
    return undefined;
  };
  const lines = tokens('split', 100);
  await writeLines(r.logFile, lines);
  const a = await r.start();

  await expectDelivered(r.c, lines, '413 split');
  assert.ok(tooLarge >= 1, 'no request was larger than K: the split was not exercised');
  assert.ok(maxAccepted <= K);
  assert.deepEqual(await readDeadLetter(r.stateDir), [], 'split batches were dead-lettered');
  assert.ok(
    a.logs().some((l) => String(l.msg).includes('splitting')),
    'the split was not logged',
  );
  await expectHealthy(a, r.port);
});

test('413 for a single record too large: that record is dead-lettered, the rest arrives', async (t) => {
  const r = await faultsRig(t);
  const LIMIT = 4096;
  let tooLarge = 0;
  r.c.fault = (_req, recs) => {
    if (bodyBytes(recs) > LIMIT) {
      tooLarge++;
      return { status: 413, body: `body over ${LIMIT} bytes` };
    }
    return undefined;
  };
  const HUGE = `huge-${randomUUID()}-${'x'.repeat(10_000)}`;
  const before = tokens('huge-before', 30);
  const after = tokens('huge-after', 30);
  await writeLines(r.logFile, [...before, HUGE, ...after]);
  const a = await r.start();

  await expectDelivered(r.c, [...before, ...after], '413 huge');
  await waitFor(async () => (await readDeadLetter(r.stateDir)).length > 0, { what: 'dead-letter file' });
  const later = tokens('huge-later', 10);
  await writeLines(r.logFile, later);
  await expectDelivered(r.c, later, '413 huge: lines written afterwards');

  assert.ok(tooLarge >= 2, `only ${tooLarge} 413 answers: the split was not exercised`);
  assert.equal(
    r.c.records.some((x) => x.message === HUGE),
    false,
  );
  const dead = await readDeadLetter(r.stateDir);
  assert.equal(dead.length, 1, `dead-lettered: ${dead.map((d) => d.record.message.slice(0, 60)).join(', ')}`);
  assert.equal(dead[0]!.status, 413);
  assert.match(dead[0]!.reason, /413/);
  assert.equal(dead[0]!.record.message, HUGE);
  assert.equal(typeof dead[0]!.record.id, 'string');
  assert.equal(dead[0]!.record.file, r.logFile);
  await expectHealthy(a, r.port);
});

test('compression: gzip by default, none with LOGFERRY_COMPRESSION=none; both deliver', async (t) => {
  for (const mode of ['gzip', 'none'] as const) {
    const r = await faultsRig(t);
    const encodings: (string | undefined)[] = [];
    r.c.fault = (req) => {
      encodings.push(req.headers['content-encoding']);
      return undefined;
    };
    const lines = tokens(`compression-${mode}`, 60);
    await writeLines(r.logFile, lines);
    const a = await r.start(mode === 'none' ? { LOGFERRY_COMPRESSION: 'none' } : {});
    const more = tokens(`compression-${mode}-more`, 20);
    await writeLines(r.logFile, more);

    await expectDelivered(r.c, [...lines, ...more], `compression ${mode}`);
    assert.ok(encodings.length >= 1);
    assert.deepEqual(
      [...new Set(encodings)],
      [mode === 'gzip' ? 'gzip' : undefined],
      `content-encoding seen with ${mode}`,
    );
    await expectHealthy(a, r.port);
  }
});

test('dead-letter file not writable: the checkpoint waits at the refused line while later lines ship; once writable, it is written and the checkpoint catches up', async (t) => {
  const r = await faultsRig(t);
  // A directory where the dead-letter file goes: every write fails (EISDIR) until it is removed.
  const deadLetterPath = join(r.stateDir, 'dead-letter.ndjson');
  await mkdir(deadLetterPath, { recursive: true });
  const POISON = `poison-${randomUUID()}`;
  let refusals = 0;
  r.c.fault = (_req, recs) => {
    if (!recs.some((x) => x.message.includes(POISON))) return undefined;
    refusals++;
    return { status: 400, headers: { 'content-type': 'text/plain' }, body: 'bad record xyz' };
  };
  const before = tokens('dlw-before', 10);
  const after = tokens('dlw-after', 10);
  await writeLines(r.logFile, [...before, POISON, ...after]);
  const poisonOffset = Buffer.byteLength(before.map((l) => `${l}\n`).join(''));
  // One record per request: the poison line is refused alone.
  const a = await r.start({ LOGFERRY_BATCH_MAX_RECORDS: '1' });

  await expectDelivered(r.c, [...before, ...after], 'lines around the refused one');
  await waitFor(() => a.logs().some((l) => l.code === 'LOGFERRY_DEAD_LETTER_WRITE'), {
    what: 'the failed dead-letter write to be logged',
  });
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === poisonOffset, {
    what: 'the checkpoint up to the refused line',
  });
  // Lines written now still ship...
  const later = tokens('dlw-later', 10);
  await writeLines(r.logFile, later);
  await expectDelivered(r.c, later, 'lines written while the dead-letter file is not writable');
  // ...and a checkpoint is written after their acknowledgement (another file's, used as a clock): the
  // refused line's file is still held at the refused line.
  const clockFile = join(dirname(r.logFile), 'clock.log');
  await writeLines(clockFile, tokens('dlw-clock', 1));
  const clockSize = (await stat(clockFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, clockFile)) === clockSize, {
    what: 'a checkpoint written after the later lines were acknowledged',
  });
  assert.equal(
    await checkpointOffset(r.stateDir, r.logFile),
    poisonOffset,
    'the checkpoint moved past a refused line that is in no dead-letter file',
  );
  // Sent again until other records are accepted, then judged poison: its dead-letter write is what waits.
  const sends = refusals;
  assert.ok(sends >= 2 && sends <= 10, `the refused request was sent ${sends} times`);
  const failures = a.logs().filter((l) => l.code === 'LOGFERRY_DEAD_LETTER_WRITE');
  assert.equal(failures.length, 1, 'failed dead-letter writes are logged once per window, not per attempt');
  assert.equal(failures[0]!.file, deadLetterPath);
  assert.equal(
    a.logs().some((l) => l.code === 'LOGFERRY_DEAD_LETTER'),
    false,
    'dead-lettering was reported before it was written',
  );

  // Writable again: the record is written, and the checkpoint catches up to the end of the file.
  await rm(deadLetterPath, { recursive: true });
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === size, {
    what: 'the checkpoint at the end of the file once the dead-letter file was written',
  });
  const dead = await readDeadLetter(r.stateDir);
  assert.deepEqual(
    dead.map((d) => d.record.message),
    [POISON],
  );
  assert.equal(dead[0]!.status, 400);
  assert.match(dead[0]!.reason, /bad record xyz/);
  assert.equal(dead[0]!.record.offset, poisonOffset);
  assert.ok(
    a.logs().some((l) => l.code === 'LOGFERRY_DEAD_LETTER' && l.status === 400),
    'dead-lettering was not logged',
  );
  assert.equal(refusals, sends, 'the refused request was re-sent once it was judged poison');
  await expectHealthy(a, r.port); // also: no LOGFERRY_SEND_INTERNAL
  a.kill('SIGTERM');
  assert.equal(await a.exited, 0, `agent did not stop cleanly: ${a.stdout.slice(-2000)}`);
});
