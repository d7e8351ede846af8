// The memory budget's edge: unfinished lines held by the framer count in LOGFERRY_BUFFER_MAX_BYTES. When
// they alone fill it (a line longer than the budget, or many files each ending in a partial line), nothing
// downstream holds any budget and no release is coming: reading must go on, since only reading on can
// finish those lines. Before the fix the read loop waited for a release forever.
//
// The agent runs with the smallest budget allowed (64 KiB) and the default LOGFERRY_MAX_LINE_BYTES (1 MiB).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Agent } from '../helpers/agent.js';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import type { Collector, ReceivedRecord } from '../helpers/collector.js';
import { type Rig, rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait-for.js';

type TestContext = { after(fn: () => Promise<void>): void; diagnostic(msg: string): void };

const BUDGET = 64 * 1024;
const DEFAULT_MAX_LINE = 1024 * 1024;
const SHUTDOWN_TIMEOUT_MS = 20_000;

function budgetRig(t: TestContext): Promise<Rig> {
  return rig(t, {
    prefix: 'logferry-budget-',
    env: {
      LOGFERRY_BUFFER_MAX_BYTES: String(BUDGET),
      // Must not exceed the budget (a config rule); the default 1 MiB would.
      LOGFERRY_BATCH_MAX_BYTES: '16384',
      LOGFERRY_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    },
  });
}

function tokens(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}-${randomUUID()}`);
}

/** An ASCII line of exactly `bytes` bytes whose every 8-byte cell names its position (pieces out of place show). */
function longLine(tag: string, bytes: number): string {
  const cells: string[] = [];
  for (let i = 0; i * 8 < bytes; i++) cells.push(`${i.toString(36).padStart(7, '0')}.`);
  return `${tag}:${cells.join('')}`.slice(0, bytes);
}

/** Records of one file, one per id (re-sends are allowed by the contract), ordered by offset. */
function recordsOf(c: Collector, file: string): ReceivedRecord[] {
  const byId = new Map<string, ReceivedRecord>();
  for (const r of c.records) if (r.file === file && !byId.has(r.id)) byId.set(r.id, r);
  return [...byId.values()].sort((x, y) => x.offset - y.offset);
}

/**
 * The line `text` starting at `offset` arrived as `pieces` records: contiguous offsets, messages that join
 * to the line, every piece marked cut when the line was cut, none when it was not.
 */
function assertLine(
  recs: ReceivedRecord[],
  offset: number,
  text: string,
  pieces: number,
  what: string,
): void {
  const end = offset + Buffer.byteLength(text);
  const got = recs.filter((r) => r.offset >= offset && r.offset < end);
  assert.equal(got.length, pieces, `${what}: ${got.length} records, expected ${pieces}`);
  let at = offset;
  for (const r of got) {
    assert.equal(r.offset, at, `${what}: pieces are not contiguous`);
    at += Buffer.byteLength(r.message);
    assert.equal(r.cut === true, pieces > 1, `${what}: piece at ${r.offset} has cut=${r.cut}`);
  }
  assert.equal(at, end, `${what}: pieces end at ${at}, the line at ${end}`);
  assert.ok(got.map((r) => r.message).join('') === text, `${what}: pieces do not join to the line`);
}

/** SIGTERM: exits 0 well before the shutdown deadline, having delivered everything it read. */
async function stopsPromptly(t: TestContext, a: Agent): Promise<void> {
  const t0 = Date.now();
  a.kill('SIGTERM');
  const code = await a.exited;
  const ms = Date.now() - t0;
  t.diagnostic(`SIGTERM → exit ${code} in ${ms} ms`);
  assert.equal(code, 0, `agent did not stop cleanly: ${a.stderr}${a.stdout.slice(-2000)}`);
  assert.ok(ms < SHUTDOWN_TIMEOUT_MS / 2, `stopping took ${ms} ms`);
  assert.ok(
    a.logs().some((l) => l.msg === 'stopped; everything read was delivered'),
    `the agent stopped at its deadline: ${a.stdout.slice(-2000)}`,
  );
}

function assertNoInternalErrors(a: Agent): void {
  const bad = a.logs().filter((l) => l.level === 'fatal' || /INTERNAL/.test(String(l.code ?? '')));
  assert.deepEqual(bad, [], 'agent logged fatal/internal errors');
}

test('a line far longer than the budget: read through, every line arrives (pieces of a cut line contiguous)', async (t) => {
  const r = await budgetRig(t);
  const file = join(r.logDir, 'app.log');
  const first = tokens('first', 1);
  // 600 KB: more than 9 budgets, still under the 1 MiB line limit (one record).
  const long = longLine(`long-${randomUUID()}`, 600 * 1024);
  const middle = tokens('middle', 50);
  // 2.5 MiB: over the line limit too, so it is cut into 1 MiB + 1 MiB + 0.5 MiB pieces.
  const huge = longLine(`huge-${randomUUID()}`, Math.floor(2.5 * DEFAULT_MAX_LINE));
  const after = tokens('after', 50);
  const lines = [...first, long, ...middle, huge, ...after];
  await writeFile(file, `${lines.join('\n')}\n`);
  const a = await r.start();

  const size = (await stat(file)).size;
  await waitFor(() => recordsOf(r.c, file).some((x) => x.message === after.at(-1)) || a.exitCode !== null, {
    what: 'the last line after the long ones',
    timeoutMs: 30_000,
  });
  assert.equal(a.exitCode, null, `agent exited: ${a.stderr}`);
  const recs = recordsOf(r.c, file);
  let offset = 0;
  for (const line of lines) {
    const bytes = Buffer.byteLength(line);
    const pieces = Math.max(1, Math.ceil(bytes / DEFAULT_MAX_LINE));
    assertLine(
      recs,
      offset,
      line,
      pieces,
      line === long ? '600 KB line' : line === huge ? '2.5 MiB line' : line,
    );
    offset += bytes + 1;
  }
  assert.equal(offset, size);
  assert.equal(recs.length, lines.length - 2 + 1 + 3, 'records that are not pieces of these lines arrived');
  await waitFor(async () => (await checkpointOffset(r.stateDir, file)) === size, {
    what: 'checkpoint at the end of the file',
  });
  t.diagnostic(`${r.c.records.length} records received, ${r.c.records.length - recs.length} duplicates`);
  assertNoInternalErrors(a);
  await stopsPromptly(t, a);
});

test('40 files each ending in a 4 KB partial line (2.5 budgets in all): read on; completed, every line arrives', async (t) => {
  const r = await budgetRig(t);
  const FILES = 40;
  const PARTIAL = 4096;
  assert.ok(FILES * PARTIAL > 2 * BUDGET, 'the partial lines must fill the budget by themselves');
  const files = Array.from({ length: FILES }, (_, i) => join(r.logDir, `f${String(i).padStart(2, '0')}.log`));
  const firsts = tokens('first', FILES);
  const partials = files.map((_, i) => longLine(`partial-${i}-${randomUUID()}`, PARTIAL));
  const nexts = tokens('next', FILES);
  for (const [i, f] of files.entries()) await writeFile(f, `${firsts[i]}\n${partials[i]}`);
  const a = await r.start();

  // Every file is read, first lines and all, although its partial line is held in the budget.
  await waitFor(() => files.every((f, i) => recordsOf(r.c, f).some((x) => x.message === firsts[i])), {
    what: 'the first line of every file (the partial lines fill the budget)',
    timeoutMs: 20_000,
  });
  assert.ok(
    !r.c.records.some((x) => x.message.startsWith('partial-')),
    'an unfinished line was shipped while its file stayed open',
  );
  // Each partial line is completed, and one more line follows it.
  for (const [i, f] of files.entries()) await appendFile(f, `\n${nexts[i]}\n`);
  await waitFor(() => files.every((f, i) => recordsOf(r.c, f).some((x) => x.message === nexts[i])), {
    what: 'the line after each completed partial line',
    timeoutMs: 20_000,
  });
  for (const [i, f] of files.entries()) {
    const recs = recordsOf(r.c, f);
    const lines = [firsts[i]!, partials[i]!, nexts[i]!];
    assert.deepEqual(
      recs.map((x) => x.message),
      lines,
      `${f}: lines missing or extra`,
    );
    assertLine(recs, Buffer.byteLength(firsts[i]!) + 1, partials[i]!, 1, `${f}: completed line`);
    const size = (await stat(f)).size;
    await waitFor(async () => (await checkpointOffset(r.stateDir, f)) === size, {
      what: `checkpoint at the end of ${f}`,
    });
  }
  t.diagnostic(
    `${r.c.records.length} records received for ${3 * FILES} lines, ${r.c.records.length - r.c.ids.size} duplicates`,
  );
  assertNoInternalErrors(a);
  await stopsPromptly(t, a);
});
