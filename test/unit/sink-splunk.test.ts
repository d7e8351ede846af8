// Splunk HEC sink: event objects (time, host, source, index, sourcetype, event, indexed fields), the channel
// header and ack ids with indexer acknowledgement on, and the ack query/answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogRecord } from '../../src/sinks/sink.js';
import { SplunkSink } from '../../src/sinks/splunk.js';

const rec = (i: number, extra: Partial<LogRecord> = {}): LogRecord => ({
  message: `line ${i}`,
  file: '/var/log/app/app.log',
  offset: i * 10,
  id: `cafe:${i * 10}`,
  timestamp: '2026-11-25T12:00:00.123Z',
  cut: false,
  ...extra,
});

const sink = (ack: boolean, endpoint = 'https://splunk:8088') =>
  new SplunkSink({
    endpoint: new URL(endpoint),
    labels: { env: 'prod' },
    ack,
    ackTimeoutMs: 1000,
    index: 'main',
    sourcetype: 'app:log',
    host: 'pod-1',
  });

test('events: one JSON object per record with time in seconds, host, source, index, sourcetype, fields', () => {
  const s = sink(false);
  assert.equal(s.path, '/services/collector/event');
  assert.equal(s.ack, null);
  assert.deepEqual(s.headers(), {});
  const text = s.encode([rec(0), rec(1, { level: 'warn', fields: { user: 'u1' } })]).toString('utf8');
  const events = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(events[0], {
    time: 1795608000.123,
    host: 'pod-1',
    index: 'main',
    sourcetype: 'app:log',
    source: '/var/log/app/app.log',
    event: 'line 0',
    fields: { env: 'prod' },
  });
  assert.deepEqual(events[1].event, { user: 'u1', message: 'line 1' });
  assert.deepEqual(events[1].fields, { env: 'prod', level: 'warn' });
  assert.deepEqual(s.accepted(Buffer.from('{"text":"Success","code":0}')), { kind: 'all' });
});

test('indexer acknowledgement: a channel on every request, ack ids read, the ack query and answer', () => {
  const s = sink(true, 'https://splunk:8088/services/collector/event?x=1');
  assert.match(s.headers()['x-splunk-request-channel']!, /^[0-9a-f-]{36}$/);
  assert.equal(s.path, '/services/collector/event?x=1');
  assert.equal(s.ack?.path, '/services/collector/ack?x=1');
  assert.deepEqual(s.accepted(Buffer.from('{"text":"Success","code":0,"ackId":7}')), {
    kind: 'ack',
    ackId: 7,
  });
  // A token without acknowledgement answers without an ackId: the 200 is final.
  assert.deepEqual(s.accepted(Buffer.from('{"text":"Success","code":0}')), { kind: 'all' });
  assert.equal(s.ack?.body([3, 4]).toString(), '{"acks":[3,4]}');
  assert.deepEqual([...s.ack!.acked(Buffer.from('{"acks":{"3":true,"4":false}}'))], [3]);
  assert.deepEqual([...s.ack!.acked(Buffer.from('not json'))], []);
});

test('HEC answers: codes about the request hold delivery, codes about events are isolated; an unreadable ack answer re-sends', () => {
  const s = new SplunkSink({
    endpoint: new URL('http://hec:8088'),
    labels: {},
    ack: true,
    ackTimeoutMs: 1000,
    index: '',
    sourcetype: '',
  });
  const base = { kind: 'isolate', reason: 'HTTP 400' } as const;
  for (const [code, text] of [
    [5, 'No data'],
    [7, 'Incorrect index'],
    [10, 'Data channel is missing'],
    [11, 'Invalid data channel'],
    [14, 'ACK is disabled'],
    [16, 'Query string authorization is not enabled'],
  ] as const) {
    assert.equal(s.judge(400, JSON.stringify({ text, code }), base).kind, 'hold', text);
  }
  for (const [code, text] of [
    [6, 'Invalid data format'],
    [12, 'Event field is required'],
    [13, 'Event field cannot be blank'],
    [15, 'Error in handling indexed fields'],
  ] as const) {
    assert.deepEqual(s.judge(400, JSON.stringify({ text, code }), base), base, text);
  }
  assert.deepEqual(s.judge(400, 'not json', base), base);
  const again = s.accepted(Buffer.from('{"text":"Success","code":0,'), 'application/json', 3, true);
  assert.equal(again.kind, 'items');
  assert.deepEqual(again.kind === 'items' ? again.retry : null, [0, 1, 2]);
});
