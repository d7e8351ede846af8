// The filter stage with a real Batcher and AckTracker: drop/keep/min-level verdicts, field rules, redaction
// of messages and fields, private keys across records, rate-limit drops with their summary, and dropped
// records acknowledged in order (the checkpoint moves past them only after what came before).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Batch } from '../../src/batch/batch.js';
import { Batcher } from '../../src/batch/batcher.js';
import { ByteBudget } from '../../src/batch/byte-budget.js';
import { AckTracker } from '../../src/checkpoint/ack-tracker.js';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { FilterStage } from '../../src/filter/filter-stage.js';
import { filteringIsOff, parseMatchRules, parseMinLevel, parseRateLimit } from '../../src/filter/rules.js';
import { type ParsedRecord, type ParseSource, toLogRecord } from '../../src/parse/stage.js';
import { NdjsonSink } from '../../src/sinks/ndjson.js';
import { NO_FILTERS, parsedRecord } from '../helpers/records.js';

type Opts = Partial<ConstructorParameters<typeof FilterStage>[0]>;

interface Harness {
  stage: FilterStage;
  src: ParseSource;
  sent: { rec: ParsedRecord; ack: number }[];
  skipped: number[];
}

function source(path = '/logs/app.log'): ParseSource {
  const ack = new AckTracker(0, () => {});
  return { path, fileJson: JSON.stringify(path), idPrefix: 'k:', ack, timestamp: 't', finishing: false };
}

function harness(t: { after(fn: () => void): void }, o: Opts, path?: string): Harness {
  const sent: Harness['sent'] = [];
  const skipped: number[] = [];
  const stage = new FilterStage(
    { ...NO_FILTERS, ...o },
    (_src, rec, _tracker, ack) => sent.push({ rec, ack }),
    (_tracker, ack) => skipped.push(ack),
  );
  t.after(() => stage.stop());
  return { stage, src: source(path), sent, skipped };
}

let offset = 0;
function rec(message: string, extra: Partial<ParsedRecord> = {}): ParsedRecord {
  const r = parsedRecord(message, {
    timestamp: 't',
    offset,
    bytes: Buffer.byteLength(message) + 1,
    ...extra,
  });
  offset += r.bytes;
  return r;
}

function push(h: Harness, r: ParsedRecord): void {
  h.stage.record(h.src, r, h.src.ack, r.offset + r.bytes);
}

test('drop, keep and min-level: per file, by message or field; counted per rule and file', (t) => {
  const h = harness(t, {
    drop: 'GET /healthz;**/noisy.log=.*;status=^2\\d\\d$',
    keep: 'level=^(info|warn|error|fatal)$',
    minLevel: 'info',
  });
  push(h, rec('GET /healthz 200', { level: 'info' }));
  push(h, rec('GET /api 200', { level: 'info', fields: { status: 204 } }));
  push(h, rec('GET /api 500', { level: 'error', fields: { status: 500 } }));
  push(h, rec('debugging', { level: 'debug' }));
  push(h, rec('no level at all'));
  assert.deepEqual(
    h.sent.map((s) => s.rec.message),
    ['GET /api 500'],
  );
  assert.deepEqual(h.stage.dropped, { drop: 2, keep: 1, min_level: 1, rate_limit: 0 });
  assert.equal(h.stage.droppedFrom(h.src), 4);
  assert.equal(h.skipped.length, 4);
  // The glob rule applies to its file only.
  const noisy = source('/logs/noisy.log');
  h.stage.record(noisy, rec('anything', { level: 'warn' }), noisy.ack, 1);
  assert.equal(h.stage.droppedFrom(noisy), 1);
});

test('redaction of the message, nested fields and LOGFERRY_REDACT_FIELDS; fieldsJson is rebuilt', (t) => {
  const h = harness(t, { redact: 'default', redactFields: ['password', 'Secret'] });
  const fields = {
    user: { email: 'ann@example.com', auth: { password: 'hunter2', card: '4111 1111 1111 1111' } },
    list: ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 1],
    secret: { nested: 1 },
  };
  const line = `{"user":{"email":"ann@example.com","auth":{"password":"hunter2"}},"secret":{"nested":1}} card 4111111111111111`;
  push(h, rec(line, { fields, fieldsJson: JSON.stringify(fields) }));
  const out = h.sent[0]!.rec;
  assert.equal(out.fieldsJson, null);
  assert.deepEqual(out.fields, {
    user: {
      email: '[REDACTED:email]',
      auth: { password: '[REDACTED:field]', card: '[REDACTED:credit-card]' },
    },
    list: ['[REDACTED:jwt]', 1],
    secret: '[REDACTED:field]',
  });
  assert.ok(!out.message.includes('hunter2'), out.message);
  assert.ok(!out.message.includes('4111'), out.message);
  assert.ok(!out.message.includes('ann@'), out.message);
  assert.ok(out.message.includes('"password":"[REDACTED:'), out.message);
  assert.ok((h.stage.redactions.get('field') ?? 0) >= 2);
  assert.equal(h.stage.redactions.get('credit-card'), 2);
});

test('a private key written one line per record: every record up to its END is blanked', (t) => {
  const h = harness(t, { redact: 'private-key' });
  const lines = [
    'loading key -----BEGIN RSA PRIVATE KEY-----',
    'MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi',
    'Z1BjP5CE/Wm/Rr500P',
    '-----END RSA PRIVATE KEY----- loaded',
    'next line',
  ];
  for (const l of lines) push(h, rec(l));
  assert.deepEqual(
    h.sent.map((s) => s.rec.message),
    [
      'loading key [REDACTED:private-key]',
      '[REDACTED:private-key]',
      '[REDACTED:private-key]',
      '[REDACTED:private-key] loaded',
      'next line',
    ],
  );
});

test('rate limit drop mode: excess records dropped, one summary per file and interval carries their ack', (t) => {
  const h = harness(t, { rateLimit: '3,burst=3', rateLimitMode: 'drop' });
  const recs = Array.from({ length: 10 }, (_, i) => rec(`line ${i}`));
  for (const r of recs) push(h, r);
  assert.equal(h.sent.length, 3);
  assert.equal(h.skipped.length, 0, 'dropped records ride on the summary, not skipped on their own');
  h.stage.flush();
  assert.equal(h.sent.length, 4);
  const summary = h.sent[3]!;
  assert.deepEqual(summary.rec.fields, { dropped: 7 });
  assert.equal(summary.rec.offset, recs[3]!.offset, 'the summary has the first dropped record id');
  assert.equal(summary.ack, recs[9]!.offset + recs[9]!.bytes, 'the summary covers the file to the last drop');
  assert.match(summary.rec.message, /7 lines .* dropped over LOGFERRY_RATE_LIMIT/);
  assert.equal(h.stage.dropped.rate_limit, 7);
});

test('dropped records move the checkpoint in order, with a real batcher', (t) => {
  const sink = new NdjsonSink(new URL('http://collector/'), {});
  const budget = new ByteBudget(1 << 24);
  const sent: Batch[] = [];
  const batcher = new Batcher(
    { maxBytes: 1 << 20, maxRecords: 2, flushIntervalMs: 60_000, compression: 'none', sink },
    budget,
    { send: (b) => sent.push(b) },
  );
  t.after(() => batcher.stop());
  const commits: number[] = [];
  const tracker = new AckTracker(0, (tr) => commits.push(tr.committed));
  const src: ParseSource = { ...source(), ack: tracker };
  const stage = new FilterStage(
    { ...NO_FILTERS, drop: 'drop' },
    (s, r, tr, ack) => batcher.add(toLogRecord(s.path, r), r.message.length + 3, tr, ack),
    (tr, ack) => batcher.skip(tr, ack),
  );
  // keep 0-10, drop 10-20 (joins the open batch), keep 20-30 (seals), drop 30-40, drop 40-50.
  stage.record(src, rec('keep'), tracker, 10);
  stage.record(src, rec('drop'), tracker, 20);
  stage.record(src, rec('keep'), tracker, 30);
  assert.equal(sent.length, 1);
  stage.record(src, rec('drop'), tracker, 40);
  stage.record(src, rec('drop'), tracker, 50);
  assert.equal(tracker.committed, 0, 'nothing commits before the batch before the drops is acknowledged');
  tracker.done(sent[0]!.segments[0]!.segment);
  assert.equal(
    tracker.committed,
    50,
    'the last records were dropped and the checkpoint still reaches the end',
  );
  assert.deepEqual(commits, [50]);
  // With nothing outstanding, a dropped record commits at once.
  stage.record(src, rec('drop'), tracker, 60);
  assert.equal(tracker.committed, 60);
});

test('rule syntax: globs, fields, message=, errors', () => {
  const r = parseMatchRules('*.json=level=^debug$;message=a=b;x=1;;2');
  assert.ok(Array.isArray(r));
  assert.equal(r[0]!.field, 'level');
  assert.ok(r[0]!.files?.('/a/b.json'));
  assert.equal(r[1]!.field, null);
  assert.equal(r[1]!.re.source, 'a=b');
  assert.equal(r[2]!.field, 'x');
  assert.equal(r[2]!.re.source, '1;2');
  assert.match(String(parseMatchRules('(a)\\1')), /backreference/);
  assert.match(String(parseMatchRules('level=')), /no regular expression/);
  assert.equal(parseMinLevel('WARNING'), 3);
  assert.match(String(parseMinLevel('loud')), /must be one of/);
  assert.deepEqual(parseRateLimit('100,burst=500'), { rate: 100, burst: 500 });
  assert.deepEqual(parseRateLimit('100'), { rate: 100, burst: 100 });
  assert.match(String(parseRateLimit('fast')), /expected/);
  assert.match(String(parseRateLimit('0')), /expected/);
});

test('loadConfig: the filter variables, their defaults, and every bad one reported by name', () => {
  const base = { LOGFERRY_PATHS: '/var/log/app/*.log', LOGFERRY_ENDPOINT: 'http://collector:8080/ingest' };
  const cfg = loadConfig(base);
  assert.deepEqual(
    [cfg.drop, cfg.keep, cfg.minLevel, cfg.redact, cfg.redactFields, cfg.rateLimit, cfg.rateLimitMode],
    ['', '', '', '', [], '', 'wait'],
  );
  assert.ok(filteringIsOff(cfg), 'nothing set: the raw path');
  assert.ok(
    filteringIsOff(loadConfig({ ...base, LOGFERRY_RATE_LIMIT: '10' })),
    'a lossless limit needs no records',
  );
  assert.ok(
    !filteringIsOff(loadConfig({ ...base, LOGFERRY_RATE_LIMIT: '10', LOGFERRY_RATE_LIMIT_MODE: 'drop' })),
  );
  assert.ok(!filteringIsOff(loadConfig({ ...base, LOGFERRY_REDACT_FIELDS: 'password' })));
  let err: unknown;
  try {
    loadConfig({ ...base, LOGFERRY_REDACT: 'cc', LOGFERRY_DROP: '(?=x)', LOGFERRY_RATE_LIMIT_MODE: 'slow' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(err.problems.map((p) => p.variable).sort(), [
    'LOGFERRY_DROP',
    'LOGFERRY_RATE_LIMIT_MODE',
    'LOGFERRY_REDACT',
  ]);
});
