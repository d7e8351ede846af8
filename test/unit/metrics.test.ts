// The hand-written /metrics exposition (src/telemetry/metrics.ts), read back with a Prometheus text parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import parse from 'parse-prometheus-text-format';
import { CONTENT_TYPE, createMetrics, type MetricsSource, render } from '../../src/telemetry/metrics.js';

const nasty = 'C:\\logs\\"quoted"\nnext line ünï.log';

const source: MetricsSource = {
  fileStats: () => [
    { path: '/var/log/app/a.log', linesRead: 10, bytesRead: 1000, size: 1500, delivered: 1200 },
    { path: nasty, linesRead: 3, bytesRead: 30, size: 10, delivered: 30 },
  ],
  sendStats: () => ({
    requests: new Map([
      ['200', 7],
      ['503', 2],
    ]),
    recordsSent: 13,
    bytesSent: 4321,
    retries: 2,
    deadLettered: 1,
    duplicates: 0,
    droppedByCollector: 0,
    unreadableAnswers: 0,
    inFlight: 1,
  }),
  bufferedBytes: () => 2048,
  oldestUndeliveredAt: () => Date.now() - 1500,
  checkpointStats: () => ({ writes: 5, failures: 0 }),
  parseErrors: () => 4,
  batchesSealed: () => ({ full: 3, age: 1 }),
  filesRefused: () => ({ 'symlink-outside-roots': 2 }),
  fileLifecycle: () => ({ waiting: 1, lostWaiting: 0, forgotten: 4 }),
  deliveryStats: async () => ({
    heldTotal: new Map([['401', 3]]),
    held: true,
    deadLetterBytes: 512,
    deadLetterFull: false,
  }),
  filterStats: () => ({ dropped: { drop: 6 }, redactions: new Map([['credit-card', 2]]) }),
};

function family(text: string, name: string) {
  const f = parse(text).find((x) => x.name === name);
  assert.ok(f, `${name} is in the output`);
  return f;
}

test('every series parses, with its type, help and labels (escaped label values round-trip)', async () => {
  const m = createMetrics(source);
  assert.equal(m.contentType, CONTENT_TYPE);
  const text = await m.metrics();
  const families = parse(text);
  const names = families.map((f) => f.name);
  assert.equal(new Set(names).size, names.length, 'each family once');
  for (const f of families) {
    assert.match(f.name, /^logferry_[a-z0-9_]+$/);
    assert.ok(f.help.length > 0, `${f.name} has a help text`);
    assert.ok(f.type === 'COUNTER' || f.type === 'GAUGE', `${f.name}: ${f.type}`);
    if (f.type === 'COUNTER') assert.match(f.name, /_total$/, 'counters end in _total');
    for (const s of f.metrics) assert.ok(Number.isFinite(Number(s.value)), `${f.name} = ${s.value}`);
  }
  const lines = family(text, 'logferry_lines_read_total');
  assert.equal(lines.type, 'COUNTER');
  assert.deepEqual(
    lines.metrics.map((s) => [s.labels?.file, Number(s.value)]),
    [
      ['/var/log/app/a.log', 10],
      [nasty, 3],
    ],
  );
  assert.deepEqual(
    family(text, 'logferry_file_lag_bytes').metrics.map((s) => Number(s.value)),
    [300, 0],
  );
  assert.deepEqual(
    family(text, 'logferry_requests_total').metrics.map((s) => [s.labels?.status, Number(s.value)]),
    [
      ['200', 7],
      ['503', 2],
    ],
  );
  assert.deepEqual(
    family(text, 'logferry_batches_sealed_total').metrics.map((s) => [s.labels?.reason, Number(s.value)]),
    [
      ['full', 3],
      ['age', 1],
    ],
  );
  const one = (name: string) => Number(family(text, name).metrics[0]!.value);
  assert.equal(one('logferry_records_sent_total'), 13);
  assert.equal(one('logferry_bytes_sent_total'), 4321);
  assert.equal(one('logferry_retries_total'), 2);
  assert.equal(one('logferry_dead_lettered_records_total'), 1);
  assert.equal(one('logferry_parse_errors_total'), 4);
  assert.equal(one('logferry_checkpoint_writes_total'), 5);
  assert.equal(one('logferry_requests_in_flight'), 1);
  assert.equal(one('logferry_buffered_bytes'), 2048);
  assert.ok(one('logferry_oldest_undelivered_age_seconds') >= 1.5);
  assert.ok(one('logferry_process_resident_memory_bytes') > 1e6);
  assert.ok(one('logferry_process_cpu_seconds_total') > 0);
  assert.ok(one('logferry_process_open_fds') > 0);
  assert.ok(one('logferry_nodejs_heap_size_used_bytes') > 0);
  assert.ok(one('logferry_nodejs_eventloop_lag_p99_seconds') >= 0);
});

test('help text and odd values are escaped and written as the format wants', () => {
  const text = render([
    {
      name: 'odd',
      type: 'gauge',
      help: 'back\\slash and\nnewline',
      read: () => [
        [{ v: 'nan' }, NaN],
        [{ v: 'inf' }, Number.POSITIVE_INFINITY],
      ],
    },
    { name: 'none_total', type: 'counter', help: 'no samples', read: () => [] },
  ]);
  const odd = family(text, 'logferry_odd');
  assert.equal(odd.help, 'back\\slash and\nnewline');
  assert.deepEqual(
    odd.metrics.map((s) => [s.labels?.v, s.value]),
    [
      ['nan', 'NaN'],
      ['inf', '+Inf'],
    ],
  );
  assert.deepEqual(family(text, 'logferry_none_total').metrics, []);
});

test('the parser refuses a broken exposition (so the tests above can fail)', () => {
  assert.throws(() => parse('# TYPE x counter\nx{file=a} 1\n'), /invalid line/);
});

test('docs/operations.md lists every series', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const names = parse(await createMetrics(source).metrics()).map((f) => f.name);
  const missing = names.filter((n) => !doc.includes(`\`${n}\``) && !doc.includes(`\`${n}{`));
  assert.deepEqual(missing, [], 'series missing from the Metrics table of docs/operations.md');
});
