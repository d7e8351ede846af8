// Elasticsearch sink: `_bulk` action/source pairs with `create` and `_id`, index names from a date
// pattern, ECS fields, and the reading of per-item results (retry, reject, 409 duplicates).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ElasticsearchSink, indexNamer } from '../../src/sinks/elasticsearch.js';
import type { LogRecord } from '../../src/sinks/sink.js';

const rec = (i: number, extra: Partial<LogRecord> = {}): LogRecord => ({
  message: `line ${i}`,
  file: '/var/log/app/app.log',
  offset: i * 10,
  id: `f00d:${i * 10}`,
  timestamp: '2026-11-25T12:00:00.123Z',
  cut: false,
  ...extra,
});

const sink = (index = 'logs-%Y.%m.%d') =>
  new ElasticsearchSink({ endpoint: new URL('https://es:9200'), labels: { env: 'prod' }, index });

test('index pattern: %Y %m %d %H from the record time (UTC); a plain name (data stream) is kept', () => {
  assert.equal(indexNamer('logs-%Y.%m.%d')('2026-11-25T23:59:59.999Z'), 'logs-2026.11.25');
  assert.equal(indexNamer('logs-%Y-%m-%d-%H')('2026-01-02T03:04:05.000Z'), 'logs-2026-01-02-03');
  assert.equal(indexNamer('logs-app-default')('2026-01-02T03:04:05.000Z'), 'logs-app-default');
  assert.equal(indexNamer('a%%b')('2026-01-02T03:04:05.000Z'), 'a%b');
  assert.equal(sink().path, '/_bulk');
  assert.equal(
    new ElasticsearchSink({ endpoint: new URL('http://es/_bulk'), labels: {}, index: 'x' }).path,
    '/_bulk',
  );
});

test('body: NDJSON create/_index/_id action followed by an ECS document, newline-terminated', () => {
  const body = sink()
    .encode([
      rec(0),
      rec(1, { timestamp: '2026-11-26T00:00:00.000Z', labels: { pod: 'web-1' }, level: 'warn', cut: true }),
      rec(2, { fields: { user: 'u1', message: 'not this', '@timestamp': 'not this', status: 200 } }),
    ])
    .toString('utf8');
  assert.ok(body.endsWith('\n'));
  const lines = body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.deepEqual(lines[0], { create: { _index: 'logs-2026.11.25', _id: 'f00d:0' } });
  assert.deepEqual(lines[1], {
    '@timestamp': '2026-11-25T12:00:00.123Z',
    message: 'line 0',
    log: { file: { path: '/var/log/app/app.log' }, offset: 0 },
    labels: { env: 'prod' },
    event: { id: 'f00d:0' },
  });
  assert.deepEqual(lines[2], { create: { _index: 'logs-2026.11.26', _id: 'f00d:10' } });
  assert.deepEqual(lines[3].labels, { env: 'prod', pod: 'web-1' });
  assert.equal(lines[3].log.level, 'warn');
  assert.equal(lines[3].event.cut, true);
  // Parsed fields are merged, but never over the document's own fields.
  assert.equal(lines[5].user, 'u1');
  assert.equal(lines[5].status, 200);
  assert.equal(lines[5].message, 'line 2');
  assert.equal(lines[5]['@timestamp'], '2026-11-25T12:00:00.123Z');
});

const answer = (o: unknown) => Buffer.from(JSON.stringify(o));

test('per-item results: 2xx stored, 409 duplicate, 429/5xx retried alone, other errors rejected with their reason', () => {
  const s = sink();
  assert.deepEqual(
    s.accepted(answer({ took: 3, errors: false, items: [{ create: { status: 201 } }] }), undefined, 1),
    {
      kind: 'all',
    },
  );
  const acc = s.accepted(
    answer({
      took: 3,
      errors: true,
      items: [
        { create: { status: 201 } },
        { create: { status: 409, error: { type: 'version_conflict_engine_exception', reason: 'exists' } } },
        { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } },
        {
          create: {
            status: 400,
            error: {
              type: 'document_parsing_exception',
              reason: 'failed to parse field [n]',
              caused_by: { type: 'illegal_argument_exception', reason: 'For input string: "x"' },
            },
          },
        },
        {
          create: {
            status: 503,
            error: { type: 'unavailable_shards_exception', reason: 'primary shard is not active' },
          },
        },
      ],
    }),
    undefined,
    5,
  );
  assert.equal(acc.kind, 'items');
  if (acc.kind !== 'items') return;
  assert.deepEqual(acc.retry, [2, 4]);
  assert.equal(acc.duplicates, 1);
  assert.equal(acc.reject.length, 1);
  assert.equal(acc.reject[0]!.index, 3);
  assert.equal(acc.reject[0]!.status, 400);
  assert.match(
    acc.reject[0]!.reason,
    /document_parsing_exception: failed to parse field \[n\].*illegal_argument_exception/,
  );
  assert.match(acc.retryReason, /429.*es_rejected_execution_exception/);
});

test('an answer that cannot be matched to the request retries every record (create makes that harmless)', () => {
  const s = sink();
  for (const body of [
    Buffer.from('<html>proxy error</html>'),
    answer({ errors: true, items: [{ create: { status: 201 } }] }),
  ]) {
    const acc = s.accepted(body, undefined, 3);
    assert.equal(acc.kind, 'items');
    if (acc.kind === 'items') assert.deepEqual(acc.retry, [0, 1, 2]);
  }
  // All duplicates: delivered before, nothing to retry.
  const dup = s.accepted(answer({ errors: true, items: [{ create: { status: 409 } }] }), undefined, 1);
  assert.deepEqual(dup, { kind: 'items', retry: [], reject: [], duplicates: 1, retryReason: '' });
});

test('_bulk items refused for the request (401, 403, 404) are retried and say delivery is held; a 2xx too large to read', () => {
  const s = new ElasticsearchSink({ endpoint: new URL('http://es:9200'), labels: {}, index: 'logs' });
  const body = Buffer.from(
    JSON.stringify({
      errors: true,
      items: [
        { create: { status: 201 } },
        { create: { status: 403, error: { type: 'cluster_block_exception', reason: 'index read-only' } } },
        { create: { status: 404, error: { type: 'index_not_found_exception', reason: 'no such index' } } },
        { create: { status: 400, error: { type: 'document_parsing_exception', reason: 'bad field' } } },
      ],
    }),
  );
  const acc = s.accepted(body, 'application/json', 4, false);
  assert.equal(acc.kind, 'items');
  if (acc.kind !== 'items') return;
  assert.deepEqual(acc.retry, [1, 2]);
  assert.equal(acc.heldStatus, 403);
  assert.deepEqual(
    acc.reject.map((r) => r.index),
    [3],
  );
  // Truncated: `errors: false` at the start says every item was stored; anything else is sent again.
  const ok = Buffer.from('{"took":3,"errors":false,"items":[{"create":{"status":201');
  assert.deepEqual(s.accepted(ok, 'application/json', 2, true), { kind: 'all' });
  const unknown = s.accepted(Buffer.from('{"took":3,"errors":true,"items":['), 'application/json', 2, true);
  assert.equal(unknown.kind, 'items');
  assert.deepEqual(unknown.kind === 'items' ? unknown.retry : null, [0, 1]);
});
