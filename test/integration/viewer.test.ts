// The demo end to end in a real browser: the example collector (examples/collector/server.ts) and its viewer
// page, the sample app writing logs into a temp dir, and the agent (a real child process) between them.
// Headless Chromium (test/helpers/browser.ts: the npm-shipped binary under playwright-core) loads the page from
// 127.0.0.1 only.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import {
  type CollectorServer,
  type StoredRecord,
  startExampleCollector,
} from '../../examples/collector/server.js';
import { startSampleApp } from '../../examples/sample-app.js';
import { agentStarted, startAgent, tempDir } from '../helpers/agent.js';
import { launchChromium } from '../helpers/browser.js';
import { FAST_ENV } from '../helpers/fast-env.js';
import { waitFor } from '../helpers/wait-for.js';

type Ctx = { after(fn: () => Promise<void>): void };

/** Cleanups run last-registered first, in one after hook (node:test runs after hooks in registration order). */
function cleanupStack(t: Ctx): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of fns.reverse()) {
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`cleanup failed: ${String(err)}\n`);
      }
    }
  });
  return (fn) => fns.push(fn);
}

async function launch(defer: (fn: () => unknown) => void): Promise<Browser> {
  const browser = await launchChromium();
  defer(() => browser.close());
  return browser;
}

/** Opens the viewer; fails the test on any script error in the page. */
async function openViewer(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Only the collector on 127.0.0.1 may be reached.
  await page.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
  );
  await page.goto(`${url}/`);
  return { page, errors };
}

const messages = (page: Page) => page.locator('#rows td.msg').allTextContents();
const metas = (page: Page) => page.locator('#rows td.meta').allTextContents();
const rowClasses = (page: Page) =>
  page.locator('#rows tr').evaluateAll((trs) => trs.map((tr) => tr.className));
/** The row whose message ends with exactly `seq=<n>` (seq=1 must not match seq=12). */
const seqRow = (page: Page, n: number) => page.locator('#rows td.msg', { hasText: new RegExp(`seq=${n}$`) });

/** Clears every filter (so one failed step does not cascade) and waits for the given row to be back. */
async function resetFilters(page: Page, row: number): Promise<void> {
  for (const id of ['#text', '#label', '#file']) await page.fill(id, '');
  await page.selectOption('#level', '');
  await seqRow(page, row).waitFor({ timeout: 5_000 });
}

/** `<level>` and `seq` of every line the sample app wrote (current file and the rotated one). */
function writtenLines(dir: string): { level: string; seq: number; line: string }[] {
  const out: { level: string; seq: number; line: string }[] = [];
  for (const f of ['app.log.1', 'app.log']) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    for (const line of readFileSync(p, 'utf8').split('\n')) {
      const m = /^\S+ (ERROR|WARN|INFO|DEBUG) .* seq=(\d+)$/.exec(line);
      if (m) out.push({ level: m[1]!, seq: Number(m[2]), line });
    }
  }
  return out;
}

async function post(url: string, body: string, gzip = false): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}/ingest`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
    body: gzip ? gzipSync(body) : body,
  });
  return { status: res.status, json: await res.json() };
}

async function served(url: string): Promise<StoredRecord[]> {
  const res = await fetch(`${url}/api/records?after=0&limit=5000`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { records: StoredRecord[] }).records;
}

function record(id: string, message: string, extra: Partial<StoredRecord> = {}): StoredRecord {
  return { id, timestamp: new Date().toISOString(), file: '/probe/app.log', offset: 0, message, ...extra };
}

test('viewer shows what the agent shipped; text, level and label filters; live follow', async (t) => {
  const defer = cleanupStack(t);
  const root = await tempDir(t, 'logferry-viewer-');
  const logs = join(root, 'logs');
  await mkdir(logs);
  const collector: CollectorServer = await startExampleCollector({
    port: 0,
    dataDir: join(root, 'collector'),
  });
  defer(() => collector.close());
  const stopApp = startSampleApp(logs, { intervalMs: 50 });
  defer(stopApp);
  const agent = startAgent({
    LOGFERRY_PATHS: `${logs}/*.log`,
    LOGFERRY_ENDPOINT: `${collector.url}/ingest`,
    LOGFERRY_LABELS: 'app=demo',
    LOGFERRY_STATE_DIR: join(root, 'state'),
    ...FAST_ENV,
  });
  defer(async () => {
    agent.kill('SIGKILL');
    await agent.exited;
  });
  await agentStarted(agent);
  const browser = await launch(defer);

  // Two records posted by hand carry a `level` field that disagrees with their text: the field wins.
  const byField = record('level-field-error', 'disk quota exceeded on /data', { level: 'error' });
  const byFieldInfo = record('level-field-info', 'recovered after the ERROR above', { level: 'info' });
  assert.equal(
    (await post(collector.url, `${JSON.stringify(byField)}\n${JSON.stringify(byFieldInfo)}\n`)).status,
    200,
  );

  // Lines the app has written (read back from its file): its latest INFO and ERROR ones (the page renders the
  // last 1000 matching rows).
  await waitFor(() => writtenLines(logs).length >= 20, { what: 'the sample app writing 20 lines' });
  const written = writtenLines(logs);
  const info = written.findLast((l) => l.level === 'INFO')!;
  const error = written.findLast((l) => l.level === 'ERROR')!;
  assert.ok(info && error, 'the sample app writes INFO and ERROR lines');

  const { page, errors } = await openViewer(browser, collector.url);
  await seqRow(page, info.seq).waitFor({ timeout: 15_000 });
  await seqRow(page, error.seq).waitFor({ timeout: 15_000 });
  assert.equal(
    (await seqRow(page, info.seq).allTextContents())[0],
    info.line,
    'the row shows the line as written',
  );

  await t.test('text filter narrows the rows', async () => {
    await resetFilters(page, info.seq);
    await page.fill('#text', 'path=/login');
    await waitFor(
      async () => {
        const m = await messages(page);
        return m.length > 0 && m.every((x) => x.includes('path=/login'));
      },
      { what: 'only path=/login rows' },
    );
    const [shown, received] = (await page.textContent('#count'))!.match(/\d+/g)!.map(Number);
    assert.ok(shown! > 0 && shown! < received!, `text filter shows ${shown} of ${received}`);
  });

  await t.test("level filter shows only ERROR rows (a record's level field wins over its text)", async () => {
    await resetFilters(page, info.seq);
    await page.selectOption('#level', 'error');
    await waitFor(async () => (await seqRow(page, info.seq).count()) === 0, { what: 'INFO row hidden' });
    await seqRow(page, error.seq).waitFor({ timeout: 5_000 });
    const m = await messages(page);
    const classes = await rowClasses(page);
    assert.ok(m.length > 0);
    assert.deepEqual(new Set(classes), new Set(['error']));
    const notErrorText = m.filter((x) => !/\berror\b/i.test(x));
    assert.deepEqual(notErrorText, [byField.message], 'only the record with level=error lacks ERROR text');
    assert.ok(!m.includes(byFieldInfo.message), 'level=info wins over ERROR in the text');
  });

  await t.test('label filter app=demo keeps the shipped rows, app=other hides them', async () => {
    await resetFilters(page, info.seq);
    await page.fill('#label', 'app=demo');
    await seqRow(page, info.seq).waitFor({ timeout: 5_000 });
    await waitFor(async () => !(await messages(page)).includes(byField.message), {
      what: 'unlabelled record hidden',
    });
    const meta = await metas(page);
    assert.ok(meta.length > 0 && meta.every((x) => x.includes('app=demo')), 'every row is labelled app=demo');
    await page.fill('#label', 'app=other');
    await waitFor(async () => (await messages(page)).length === 0, { what: 'no rows for app=other' });
    assert.match((await page.textContent('#count'))!, /^0 shown \/ [1-9]\d* received$/);
  });

  await t.test('live follow shows new lines without a reload', async () => {
    await resetFilters(page, info.seq);
    assert.equal(await page.isChecked('#follow'), true, 'live is on by default');
    const token = `page-${process.pid}-${Date.now()}`;
    await page.evaluate((v) => Reflect.set(globalThis, 'logferryTestMarker', v), token);
    // A line the app writes only after this point.
    const next = Math.max(...writtenLines(logs).map((l) => l.seq)) + 10;
    await waitFor(() => writtenLines(logs).some((l) => l.seq === next), {
      what: `the app writing seq=${next}`,
    });
    await seqRow(page, next).waitFor({ timeout: 15_000 });
    assert.equal(
      await page.evaluate(() => Reflect.get(globalThis, 'logferryTestMarker')),
      token,
      'same document: the page was not reloaded',
    );
  });

  assert.deepEqual(errors, [], 'no script errors in the page');
});

test('example collector drops duplicate ids and keeps records on disk across a restart', async (t) => {
  const defer = cleanupStack(t);
  const root = await tempDir(t, 'logferry-viewer-');
  const dataDir = join(root, 'collector');
  let collector = await startExampleCollector({ port: 0, dataDir });
  defer(() => collector.close());

  const dup = record(`dup-${Date.now()}`, 'duplicate probe', { labels: { app: 'demo' } });
  const line = `${JSON.stringify(dup)}\n`;
  assert.deepEqual(await post(collector.url, line), { status: 200, json: { accepted: 1 } });
  assert.deepEqual(
    await post(collector.url, line, true),
    { status: 200, json: { accepted: 0 } },
    'gzip resend',
  );
  assert.deepEqual(await post(collector.url, line + line), { status: 200, json: { accepted: 0 } });
  assert.equal((await served(collector.url)).filter((r) => r.id === dup.id).length, 1);
  assert.equal(collector.duplicates, 3);

  // A rejected body must not make its good lines look like duplicates later.
  const good = record(`after-400-${Date.now()}`, 'sent again after a 400');
  assert.equal((await post(collector.url, `${JSON.stringify(good)}\n{not json\n`)).status, 400);
  assert.deepEqual(await post(collector.url, `${JSON.stringify(good)}\n`), {
    status: 200,
    json: { accepted: 1 },
  });

  const stored = readFileSync(join(dataDir, 'records.ndjson'), 'utf8').trim().split('\n');
  assert.deepEqual(
    stored.map((l) => (JSON.parse(l) as StoredRecord).id),
    [dup.id, good.id],
    'each id stored on disk once',
  );

  await collector.close();
  collector = await startExampleCollector({ port: 0, dataDir });
  const after = await served(collector.url);
  assert.deepEqual(
    after.map((r) => r.id),
    [dup.id, good.id],
  );
  assert.deepEqual(after[0], dup, 'record served unchanged after the restart');
  assert.deepEqual(
    await post(collector.url, line),
    { status: 200, json: { accepted: 0 } },
    'ids known from disk are still duplicates',
  );

  const browser = await launch(defer);
  const { page, errors } = await openViewer(browser, collector.url);
  await page.locator('#rows td.msg', { hasText: 'duplicate probe' }).waitFor({ timeout: 15_000 });
  assert.deepEqual(await messages(page), [dup.message, good.message]);
  assert.deepEqual(errors, []);
});
