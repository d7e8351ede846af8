// The agent's own HTTP server (/healthz, /readyz, /metrics) and `logferry status`, against a real agent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { MAIN } from '../helpers/agent.js';
import { rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);

function metric(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test('health, readiness, metrics and status reflect what the agent did', async (t) => {
  const r = await rig(t, { prefix: 'logferry-telemetry-', withHealthPort: true });
  const { c: collector, logFile: file, port } = r;
  let failNext = 2;
  collector.fault = () => (failNext-- > 0 ? { status: 503 } : undefined);
  const lines = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(40)}\n`).join('');
  await appendFile(file, lines);
  const extra = { LOGFERRY_RETRY_MAX_MS: '100' };
  const env = r.env(extra);
  const agent = await r.start(extra);
  await waitFor(() => collector.records.length >= 50, { what: '50 records' });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/readyz`).catch(() => null))?.status === 200, {
    what: 'readyz',
  });
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });

  let text = '';
  await waitFor(
    async () => {
      text = await (await fetch(`${base}/metrics`)).text();
      return (
        metric(text, 'logferry_records_sent_total') === 50 &&
        metric(text, 'logferry_checkpoint_writes_total')! > 0
      );
    },
    { what: 'metrics to show 50 records sent' },
  );
  const fileLabel = `{file="${file}"}`;
  assert.equal(metric(text, `logferry_lines_read_total${fileLabel}`), 50);
  assert.equal(metric(text, `logferry_bytes_read_total${fileLabel}`), Buffer.byteLength(lines));
  assert.equal(metric(text, `logferry_file_lag_bytes${fileLabel}`), 0);
  assert.equal(metric(text, 'logferry_requests_total{status="503"}'), 2);
  assert.ok(metric(text, 'logferry_requests_total{status="200"}')! >= 1);
  assert.equal(metric(text, 'logferry_retries_total'), 2);
  assert.equal(metric(text, 'logferry_dead_lettered_records_total'), 0);
  assert.equal(metric(text, 'logferry_requests_in_flight'), 0);
  assert.equal(metric(text, 'logferry_buffered_bytes'), 0);
  assert.equal(metric(text, 'logferry_oldest_undelivered_age_seconds'), 0);
  assert.ok(metric(text, 'logferry_bytes_sent_total')! > 0);
  assert.ok(metric(text, 'logferry_process_resident_memory_bytes')! > 0);
  // 50 short lines fill no batch: they were sent by age, and no backlog ended.
  assert.equal(metric(text, 'logferry_batches_sealed_total{reason="full"}'), 0);
  assert.ok(metric(text, 'logferry_batches_sealed_total{reason="age"}')! >= 1);
  assert.equal(metric(text, 'logferry_batches_sealed_total{reason="caught_up"}'), 0);

  // While the collector is down, lag and the oldest undelivered line grow.
  collector.fault = () => ({ status: 503 });
  await appendFile(file, 'late line\n');
  await waitFor(
    async () => {
      text = await (await fetch(`${base}/metrics`)).text();
      return (
        metric(text, `logferry_file_lag_bytes${fileLabel}`) === 10 &&
        metric(text, 'logferry_oldest_undelivered_age_seconds')! > 0
      );
    },
    { what: 'lag of the undelivered line' },
  );

  const status = await run(process.execPath, [MAIN, 'status'], { env: { ...env, PATH: process.env.PATH } });
  assert.match(status.stdout, /agent: running/);
  assert.ok(status.stdout.includes(file), status.stdout);
  assert.match(status.stdout, /lag 10 B/);
  assert.match(status.stdout, /\[#+-*\]\s+\d+%/);

  collector.fault = null;
  await waitFor(() => collector.records.some((r) => r.message === 'late line'), { what: 'late line' });
  agent.kill('SIGTERM');
  assert.equal(await agent.exited, 0);

  const after = await run(process.execPath, [MAIN, 'status'], { env: { ...env, PATH: process.env.PATH } });
  assert.match(after.stdout, /agent: not reachable/);
  assert.match(after.stdout, /100%/);
  assert.match(after.stdout, /lag 0 B/);
});

test('the last batch of a backlog is sent when every file is read to its end, not after the interval', async (t) => {
  const r = await rig(t, { prefix: 'logferry-caughtup-', withHealthPort: true });
  const { c: collector, logFile: file, port } = r;
  // About a dozen batches of 16 KiB (records of ~200 bytes), read as one backlog.
  const n = 1000;
  await appendFile(
    file,
    Array.from({ length: n }, (_, i) => `backlog line ${i} ${'x'.repeat(20)}\n`).join(''),
  );
  await r.start({ LOGFERRY_BATCH_MAX_BYTES: String(16 * 1024), LOGFERRY_FLUSH_INTERVAL_MS: '1000' });
  await waitFor(() => collector.records.length >= n, { what: `${n} records` });
  let text = '';
  await waitFor(
    async () => {
      text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return metric(text, 'logferry_records_sent_total') === n;
    },
    { what: 'metrics to show every record sent' },
  );
  assert.ok(metric(text, 'logferry_batches_sealed_total{reason="full"}')! >= 2, text);
  assert.equal(metric(text, 'logferry_batches_sealed_total{reason="caught_up"}'), 1);
  assert.equal(metric(text, 'logferry_batches_sealed_total{reason="age"}'), 0);
});

test('a backlog framed many lines at a time: every request within LOGFERRY_BATCH_MAX_BYTES and _RECORDS, every line once', async (t) => {
  const r = await rig(t, { prefix: 'logferry-limits-' });
  const { c: collector, logFile: file } = r;
  const maxBytes = 16 * 1024;
  const maxRecords = 37;
  const sizes: { bytes: number; records: number }[] = [];
  collector.fault = (req, records) => {
    sizes.push({ bytes: Number(req.headers['content-length']), records: records.length });
    return undefined;
  };
  // Short lines (batches full by records), then long ones (full by bytes; records up to ~850 bytes); some
  // with bytes to escape, some CRLF, a few not ASCII (taken one at a time).
  const n = 3000;
  const texts = Array.from(
    { length: n },
    (_, i) =>
      `line ${i} ${'x'.repeat(i < n / 2 ? i % 40 : (i * 37) % 700)}${i % 7 === 0 ? ' "quoted"\t\there' : ''}${i % 50 === 0 ? ' é' : ''}`,
  );
  await appendFile(file, texts.map((l, i) => (i % 5 === 0 ? `${l}\r\n` : `${l}\n`)).join(''));
  await r.start({
    LOGFERRY_COMPRESSION: 'none',
    LOGFERRY_BATCH_MAX_BYTES: String(maxBytes),
    LOGFERRY_BATCH_MAX_RECORDS: String(maxRecords),
  });
  await waitFor(() => collector.records.length >= n, { what: `${n} records` });
  // Requests in flight together may arrive in any order: by offset, each line once.
  const byOffset = [...collector.records].sort((a, b) => a.offset - b.offset);
  assert.deepEqual(
    byOffset.map((x) => x.message),
    texts,
  );
  const over = sizes.filter((s) => s.bytes > maxBytes || s.records > maxRecords);
  assert.deepEqual(over, [], 'requests over a limit');
  // Both limits were reached: full batches by records and by bytes.
  assert.ok(sizes.some((s) => s.records === maxRecords));
  assert.ok(sizes.some((s) => s.records < maxRecords && s.bytes > maxBytes - 1000));
});

test('an unknown command exits 2', async () => {
  await assert.rejects(
    run(process.execPath, [MAIN, 'frobnicate']),
    (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? '', /unknown command/);
      return true;
    },
  );
});
