// OTLP sink: the protobuf request decoded with the OTLP message classes that the OpenTelemetry JS project
// generates from the official .proto files (npm `@opentelemetry/otlp-transformer`), the JSON encoding checked
// against the OTLP/JSON rules, partial_success read from both encodings, and the retried statuses (the
// contract's: 408, 429 and every 5xx).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from '../../src/send/retry-policy.js';
import { OtlpSink, parsePartialSuccess, resourceKey, severityNumber } from '../../src/sinks/otlp.js';
import type { LogRecord } from '../../src/sinks/sink.js';
import {
  attrs,
  checkOtlpJson,
  type OtlpRequest,
  otlpRequestType,
  otlpResponseType,
} from '../helpers/sink-servers.js';

const rec = (i: number, extra: Partial<LogRecord> = {}): LogRecord => ({
  message: `line ${i} ✓`,
  file: '/var/log/app/app.log',
  offset: i * 10,
  id: `beef:${i * 10}`,
  timestamp: '2026-11-25T12:00:00.123Z',
  cut: false,
  ...extra,
});

const sink = (encoding: 'protobuf' | 'json') =>
  new OtlpSink({
    endpoint: new URL('http://otel-collector:4318'),
    labels: { namespace: 'shop', pod: 'web-7d4f', container: 'app', team: 'payments' },
    encoding,
    version: '9.9.9',
  });

const records = [
  rec(0),
  rec(1, { level: 'ERROR', cut: true }),
  rec(2, {
    labels: { pod: 'web-other' },
    fields: { n: -5, ok: false, ratio: 0.25, empty: '', obj: { a: 1 } },
  }),
];

function check(decoded: OtlpRequest): void {
  assert.equal(decoded.resourceLogs?.length, 2, 'one ResourceLogs per label set');
  const [first, second] = decoded.resourceLogs!;
  assert.deepEqual(attrs(first!.resource?.attributes), {
    'k8s.namespace.name': 'shop',
    'k8s.pod.name': 'web-7d4f',
    'k8s.container.name': 'app',
    team: 'payments',
  });
  assert.equal(attrs(second!.resource?.attributes)['k8s.pod.name'], 'web-other');
  const scope = first!.scopeLogs![0]!;
  assert.deepEqual(scope.scope, { name: 'logferry', version: '9.9.9' });
  const [r0, r1] = scope.logRecords!;
  assert.equal(r0!.body?.stringValue, 'line 0 ✓');
  assert.equal(r0!.observedTimeUnixNano, '1795608000123000000');
  assert.ok(!r0!.timeUnixNano || r0!.timeUnixNano === '0', 'event time is unknown without a parser');
  const a0 = attrs(r0!.attributes);
  assert.equal(a0['log.file.path'], '/var/log/app/app.log');
  assert.equal(a0['log.file.name'], 'app.log');
  assert.equal(a0['log.record.uid'], 'beef:0');
  assert.equal(String(a0['logferry.offset']), '0', 'offset 0 is present, not dropped as a default');
  assert.equal(r1!.severityNumber, 17);
  assert.equal(r1!.severityText, 'ERROR');
  assert.equal(attrs(r1!.attributes)['logferry.cut'], true);
  const a2 = attrs(second!.scopeLogs![0]!.logRecords![0]!.attributes);
  assert.equal(String(a2.n), '-5');
  assert.equal(a2.ok, false);
  assert.equal(a2.ratio, 0.25);
  assert.equal(a2.empty, '');
  assert.equal(a2.obj, '{"a":1}');
}

test('protobuf: decodes with the generated ExportLogsServiceRequest of the official definitions', () => {
  const s = sink('protobuf');
  assert.equal(s.contentType, 'application/x-protobuf');
  assert.equal(s.path, '/v1/logs');
  const type = otlpRequestType();
  const decoded = type.toObject(type.decode(s.encode(records)), {
    longs: String,
    enums: Number,
  }) as OtlpRequest;
  check(decoded);
});

test('json: lowerCamelCase keys of the proto, integer enums, 64-bit integers as strings', () => {
  const s = sink('json');
  assert.equal(s.contentType, 'application/json');
  const obj = JSON.parse(s.encode(records).toString('utf8'));
  const type = otlpRequestType();
  assert.deepEqual(checkOtlpJson(obj, type), []);
  // The checker itself catches what the agent must not send.
  const bad = structuredClone(obj);
  const lr = bad.resourceLogs[0].scopeLogs[0].logRecords[1];
  lr.severity_text = lr.severityText;
  lr.severityNumber = 'SEVERITY_NUMBER_ERROR';
  lr.observedTimeUnixNano = 'soon';
  assert.deepEqual(
    checkOtlpJson(bad, type).map((v) => v.split(':')[0]),
    [
      '.resourceLogs[0].scopeLogs[0].logRecords[1].observedTimeUnixNano',
      '.resourceLogs[0].scopeLogs[0].logRecords[1].severityNumber',
      '.resourceLogs[0].scopeLogs[0].logRecords[1].severity_text',
    ],
  );
  assert.equal(typeof obj.resourceLogs[0].scopeLogs[0].logRecords[0].observedTimeUnixNano, 'string');
  check(type.toObject(type.fromObject(obj), { longs: String, enums: Number }) as OtlpRequest);
});

test('partial_success is read from protobuf and JSON answers; an empty or plain success is "all"', () => {
  const res = otlpResponseType();
  const pb = Buffer.from(
    res
      .encode(res.fromObject({ partialSuccess: { rejectedLogRecords: 3, errorMessage: 'too big' } }))
      .finish(),
  );
  assert.deepEqual(parsePartialSuccess(pb, 'application/x-protobuf'), { rejected: 3, message: 'too big' });
  const s = sink('protobuf');
  assert.deepEqual(s.accepted(pb, 'application/x-protobuf'), {
    kind: 'dropped',
    count: 3,
    reason: 'OTLP partial success: 3 log records rejected: too big',
  });
  const js = Buffer.from('{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad attr"}}');
  assert.deepEqual(parsePartialSuccess(js, 'application/json'), { rejected: 2, message: 'bad attr' });
  // A warning only (rejected 0) and an empty response are full successes.
  const warn = Buffer.from(
    res.encode(res.fromObject({ partialSuccess: { errorMessage: 'deprecated' } })).finish(),
  );
  assert.deepEqual(s.accepted(warn, 'application/x-protobuf'), { kind: 'all' });
  assert.deepEqual(s.accepted(Buffer.alloc(0), 'application/x-protobuf'), { kind: 'all' });
  assert.deepEqual(s.accepted(Buffer.from('{}'), 'application/json'), { kind: 'all' });
});

test('retried like every sink (408, 429, every 5xx, Retry-After kept); 413 splits; the Status message is read', () => {
  const s = sink('protobuf');
  const opts = { initialMs: 20, maxMs: 200, retryAfterMaxMs: 60_000, random: () => 0.5 };
  for (const status of [408, 429, 500, 501, 502, 503, 504, 505, 599]) {
    const base = decide({ status }, '7', 0, 10, opts);
    assert.deepEqual(base, { kind: 'retry', afterMs: 7000, reason: `HTTP ${status}` }, String(status));
    assert.deepEqual(s.judge(status, '', base), base, String(status));
  }
  for (const status of [401, 403, 404, 415]) {
    const base = decide({ status }, undefined, 0, 10, opts);
    assert.equal(s.judge(status, '', base).kind, 'hold', String(status));
  }
  for (const status of [400, 409, 422]) {
    const base = decide({ status }, undefined, 0, 10, opts);
    assert.equal(s.judge(status, '', base).kind, 'isolate', String(status));
  }
  assert.deepEqual(s.judge(413, '', decide({ status: 413 }, undefined, 0, 10, opts)), { kind: 'split' });
  assert.deepEqual(s.judge(400, '', { kind: 'isolate', reason: 'HTTP 400' }), {
    kind: 'isolate',
    reason: 'HTTP 400',
  });
  // google.rpc.Status { code = 1; message = 2 }
  const status = Buffer.from([0x08, 0x03, 0x12, 0x08, ...Buffer.from('bad data')]);
  assert.equal(s.describe(status, 'application/x-protobuf'), 'bad data');
  assert.equal(s.describe(Buffer.from('plain text'), 'text/plain'), 'plain text');
});

test('semantic conventions and severities', () => {
  assert.equal(resourceKey('namespace'), 'k8s.namespace.name');
  assert.equal(resourceKey('node'), 'k8s.node.name');
  assert.equal(resourceKey('k8s.pod.name'), 'k8s.pod.name');
  assert.equal(resourceKey('custom'), 'custom');
  assert.deepEqual(
    ['trace', 'DEBUG', 'info', 'warning', 'error', 'fatal', 'whatever'].map(severityNumber),
    [1, 5, 9, 13, 17, 21, 0],
  );
});
