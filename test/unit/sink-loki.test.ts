// Loki sink: streams grouped by a bounded label set, Loki label names, structured metadata, strictly
// increasing per-stream timestamps (within and across batches), the push path, and Loki's 400s.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Batch } from '../../src/batch/batch.js';
import { ByteBudget } from '../../src/batch/byte-budget.js';
import { AckTracker } from '../../src/checkpoint/ack-tracker.js';
import { DeadLetterFile } from '../../src/send/dead-letter.js';
import { Sender } from '../../src/send/sender.js';
import { LOKI_PATH, LokiSink, lokiLabelName } from '../../src/sinks/loki.js';
import { type LogRecord, protocolPath } from '../../src/sinks/sink.js';
import { RateLimitedLog } from '../../src/telemetry/rate-limited-log.js';

const rec = (i: number, extra: Partial<LogRecord> = {}): LogRecord => ({
  message: `line ${i}`,
  file: '/var/log/app/app.log',
  offset: i * 10,
  id: `abc:${i * 10}`,
  timestamp: '2026-11-25T12:00:00.123Z',
  cut: false,
  ...extra,
});

type Push = {
  streams: { stream: Record<string, string>; values: [string, string, Record<string, string>?][] }[];
};
const decode = (b: Buffer) => JSON.parse(b.toString('utf8')) as Push;

const sink = (labels: Record<string, string> = { app: 'shop' }, structuredMetadata = true) =>
  new LokiSink({ endpoint: new URL('http://loki:3100'), labels, tenant: 'acme', structuredMetadata });

test('push path: appended to the base URL unless already there; query kept', () => {
  assert.equal(protocolPath(new URL('http://loki:3100'), LOKI_PATH), '/loki/api/v1/push');
  assert.equal(protocolPath(new URL('http://loki:3100/'), LOKI_PATH), '/loki/api/v1/push');
  assert.equal(protocolPath(new URL('http://gw/tenant-a/'), LOKI_PATH), '/tenant-a/loki/api/v1/push');
  assert.equal(
    protocolPath(new URL('http://loki:3100/loki/api/v1/push?x=1'), LOKI_PATH),
    '/loki/api/v1/push?x=1',
  );
  assert.equal(sink().path, '/loki/api/v1/push');
  assert.deepEqual(sink().headers(), { 'x-scope-orgid': 'acme' });
  assert.deepEqual(
    new LokiSink({
      endpoint: new URL('http://l'),
      labels: {},
      tenant: '',
      structuredMetadata: true,
    }).headers(),
    {},
  );
});

test('streams: static + record labels (sanitized names); file, offset, id, level in structured metadata', () => {
  const s = sink({ app: 'shop', 'k8s.cluster': 'eu-1' });
  const body = decode(
    s.encode([
      rec(0),
      rec(1, { labels: { pod: 'web-1' }, level: 'error' }),
      rec(2),
      rec(3, { labels: { pod: 'web-1' }, cut: true }),
    ]),
  );
  assert.equal(body.streams.length, 2);
  const [a, b] = body.streams;
  assert.deepEqual(a!.stream, { app: 'shop', k8s_cluster: 'eu-1' });
  assert.deepEqual(
    a!.values.map((v) => v[1]),
    ['line 0', 'line 2'],
  );
  assert.deepEqual(b!.stream, { app: 'shop', k8s_cluster: 'eu-1', pod: 'web-1' });
  assert.deepEqual(b!.values[0]![2], {
    filename: '/var/log/app/app.log',
    offset: '10',
    id: 'abc:10',
    level: 'error',
  });
  assert.equal(b!.values[1]![2]!.cut, 'true');
  // No id, offset or file ever becomes a label.
  for (const st of body.streams)
    for (const k of Object.keys(st.stream)) assert.ok(!['id', 'offset', 'filename'].includes(k));
});

test('timestamps: nanosecond strings, strictly increasing per stream even within one millisecond and across batches', () => {
  const s = sink();
  const first = decode(s.encode([rec(0), rec(1), rec(2)])).streams[0]!.values.map((v) => v[0]);
  assert.deepEqual(first, ['1795608000123000000', '1795608000123000001', '1795608000123000002']);
  // The next batch has the same read time: it continues after the last one, it does not repeat it.
  const second = decode(s.encode([rec(3)])).streams[0]!.values.map((v) => v[0]);
  assert.deepEqual(second, ['1795608000123000003']);
  // A later millisecond starts again at its own nanosecond 0; a clock step back does not go backwards.
  const later = decode(s.encode([rec(4, { timestamp: '2026-11-25T12:00:00.200Z' })])).streams[0]!
    .values[0]![0];
  assert.equal(later, '1795608000200000000');
  const back = decode(s.encode([rec(5, { timestamp: '2026-11-25T11:59:59.000Z' })])).streams[0]!
    .values[0]![0];
  assert.equal(back, '1795608000200000001');
  for (const v of [...first, ...second]) assert.match(v, /^\d{19}$/);
});

test('no labels at all: a job label (Loki needs one); structured metadata can be turned off', () => {
  const body = decode(sink({}, false).encode([rec(0)]));
  assert.deepEqual(body.streams[0]!.stream, { job: 'logferry' });
  assert.equal(body.streams[0]!.values[0]!.length, 2);
  assert.equal(lokiLabelName('k8s.pod-name'), 'k8s_pod_name');
  assert.equal(lokiLabelName('1abc'), '_1abc');
});

test("Loki's answers: out-of-order / too old 400 is 'dropped' (not retried; the sender dead-letters the batch, below); other 400s, 429, 5xx keep the base verdict", () => {
  const s = sink();
  const reject = { kind: 'isolate', reason: 'HTTP 400' } as const;
  for (const msg of [
    'entry with timestamp 2026-11-25 ignored, reason: \'entry out of order\' for stream: {app="shop"}',
    "entry with timestamp 2022-04-15 ignored, reason: 'entry too far behind' for stream",
    'entry for stream {app="shop"} has timestamp too old: 2020-01-01, oldest acceptable timestamp is: 2026-11-18',
  ]) {
    const v = s.judge(400, msg, reject);
    assert.equal(v.kind, 'dropped', msg);
  }
  assert.deepEqual(s.judge(400, 'error at least one label pair is required per stream', reject), reject);
  const retry = { kind: 'retry', afterMs: 100, reason: 'HTTP 429' } as const;
  assert.deepEqual(s.judge(429, 'Ingestion rate limit exceeded', retry), retry);
  assert.equal(s.maxInFlight, 1, 'one request at a time keeps streams in order');
});

test('the sender with Loki: an out-of-order 400 dead-letters the whole batch (status 400), then the checkpoint moves past it; the next batch ships', async (t) => {
  // A real HTTP server on 127.0.0.1 in Loki's place: the first push is answered like Loki refusing an entry.
  const pushes: Push[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      pushes.push(decode(Buffer.concat(chunks)));
      if (pushes.length === 1) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(
          'entry with timestamp 2026-11-25 ignored, reason: \'entry out of order\' for stream: {app="shop"}',
        );
        return;
      }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'logferry-loki-'));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  const endpoint = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const lokiSink = new LokiSink({ endpoint, labels: { app: 'shop' }, tenant: '', structuredMetadata: true });
  const budget = new ByteBudget(1 << 20);
  const deadLetter = new DeadLetterFile(dir, 0);
  const sender = new Sender(
    {
      endpoint,
      maxInFlight: 1,
      requestTimeoutMs: 5000,
      userAgent: 'logferry-test',
      initialMs: 20,
      maxMs: 200,
      retryAfterMaxMs: 1000,
      sink: lokiSink,
      labels: { app: 'shop' },
    },
    budget,
    deadLetter,
    log,
    new RateLimitedLog(log),
  );
  t.after(() => sender.close());
  let commits = 0;
  const tracker = new AckTracker(0, () => commits++);
  const batchOf = (records: LogRecord[]): Batch => {
    const wire = lokiSink.encode(records);
    const itemBytes = records.length * 100;
    budget.take(wire.length + itemBytes);
    return {
      body: wire,
      wire,
      compressed: false,
      records: records.length,
      charged: wire.length + itemBytes,
      segments: [{ tracker, segment: tracker.open(records.at(-1)!.offset + 10) }],
      firstAt: Date.now(),
      parent: null,
      openParts: 0,
      items: records,
      itemBytes,
      pooled: null,
      wirePooled: null,
    };
  };

  const refused = [0, 1, 2, 3, 4].map((i) => rec(i));
  sender.send(batchOf(refused));
  await sender.idle();
  const dead = (await readFile(deadLetter.file, 'utf8'))
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as { status: number; reason: string; record: LogRecord & { labels: unknown } });
  assert.deepEqual(
    dead.map((d) => d.record.id),
    refused.map((r) => r.id),
    'every record of the refused batch is dead-lettered',
  );
  for (const d of dead) {
    assert.equal(d.status, 400);
    assert.match(d.reason, /entry out of order/);
    assert.equal(d.record.message, refused.find((r) => r.id === d.record.id)!.message);
  }
  assert.equal(pushes.length, 1, 'the refused batch was retried');
  assert.equal(tracker.committed, 50, 'the checkpoint did not move past the dead-lettered batch');
  assert.equal(budget.used, 0, 'the batch still holds budget');
  assert.equal(sender.stats.droppedByCollector, 5);
  assert.equal(sender.stats.deadLettered, 5);
  assert.ok(logs.some((l) => l.code === 'LOGFERRY_COLLECTOR_DROPPED'));

  // Shipping goes on: the next batch is pushed and acknowledged; nothing more is dead-lettered.
  const next = [5, 6, 7].map((i) => rec(i));
  sender.send(batchOf(next));
  await sender.idle();
  assert.equal(pushes.length, 2);
  assert.deepEqual(
    pushes[1]!.streams.flatMap((st) => st.values.map((v) => v[1])),
    next.map((r) => r.message),
  );
  assert.equal(tracker.committed, 80);
  assert.equal(commits, 2);
  assert.equal(sender.stats.deadLettered, 5);
  assert.equal((await readFile(deadLetter.file, 'utf8')).split('\n').filter((l) => l).length, 5);
});
