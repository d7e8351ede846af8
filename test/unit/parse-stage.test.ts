// The parse stage as the pipeline uses it: per-file parsers, fields/time/level in the ndjson record,
// multiline flush timeout and flush on finish, truncation, memory budget; the parse variables' config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AckTracker } from '../../src/checkpoint/ack-tracker.js';
import { type Env, loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { LineFramer, textLines } from '../../src/frame/line-framer.js';
import {
  type ParseOptions,
  type ParseSource,
  ParseStage,
  parsingIsOff,
  toLogRecord,
} from '../../src/parse/stage.js';
import { NdjsonSink } from '../../src/sinks/ndjson.js';
import { waitFor } from '../helpers/wait-for.js';

const BASE: Env = { LOGFERRY_PATHS: '/var/log/app/*.log', LOGFERRY_ENDPOINT: 'http://collector:8080/ingest' };

const options = (o: Partial<ParseOptions> = {}): ParseOptions => {
  const c = loadConfig(BASE);
  return { ...c, ...o };
};

class Source implements ParseSource {
  fileJson: string;
  idPrefix = 'k:';
  ack = new AckTracker(0, () => {});
  timestamp = '2026-11-25T12:00:00.000Z';
  finishing = false;
  constructor(readonly path: string) {
    this.fileJson = JSON.stringify(path);
  }
}

interface Out {
  records: Record<string, unknown>[];
  acks: number[];
  trackers: AckTracker[];
  held: { n: number };
}

function stage(o: Partial<ParseOptions>, labels: Record<string, string> = {}): [ParseStage, Out] {
  const enc = new NdjsonSink(new URL('http://collector/'), labels);
  const out: Out = { records: [], acks: [], trackers: [], held: { n: 0 } };
  const s = new ParseStage(
    options(o),
    labels,
    (src, rec, tracker, ack) => {
      const line = enc.line(toLogRecord(src.path, rec));
      assert.ok(line.endsWith('}\n') && line.indexOf('\n') === line.length - 1, 'one NDJSON line');
      out.records.push(JSON.parse(line) as Record<string, unknown>);
      out.acks.push(ack);
      out.trackers.push(tracker);
    },
    (d) => {
      out.held.n += d;
    },
  );
  return [s, out];
}

/** Frame bytes of `src` into the stage, as a tailer does. */
function feed(s: ParseStage, src: Source, bytes: Buffer | string, start = 0): LineFramer {
  const f = new LineFramer(
    textLines((t, b, o, n, c) => s.line(src, t, b, o, n, c)),
    1 << 20,
    start,
  );
  const b = Buffer.from(bytes);
  f.push(b, b.length);
  return f;
}

test('json file: fields, event time, normalised level; bad lines shipped raw with parse_error', () => {
  const [s, out] = stage({ parser: 'json' }, { env: 'prod' });
  const lines = [
    '{"ts":"2026-11-25T13:00:00.250+01:00","severity":"WARNING","msg":"slow query","ms":812}',
    'Exception: not json at all',
    '{"time":1764072000,"level":"err","msg":"x"}',
    '{"level":"info","msg":"no time field"}',
  ];
  feed(s, new Source('/var/log/app/api.log'), `${lines.join('\n')}\n`);
  const [a, b, c, d] = out.records;
  assert.equal(a!.timestamp, '2026-11-25T12:00:00.250Z');
  assert.equal(a!.level, 'warn');
  assert.deepEqual(a!.fields, {
    ts: '2026-11-25T13:00:00.250+01:00',
    severity: 'WARNING',
    msg: 'slow query',
    ms: 812,
  });
  assert.equal(a!.message, lines[0], 'message stays the original text');
  assert.deepEqual(a!.labels, { env: 'prod' });
  assert.equal(a!.id, 'k:0');
  assert.equal(b!.parse_error, true);
  assert.equal(b!.message, 'Exception: not json at all');
  assert.equal(b!.fields, undefined);
  assert.equal(b!.timestamp, '2026-11-25T12:00:00.000Z', 'read time');
  assert.equal(c!.timestamp, '2025-11-25T12:00:00.000Z');
  assert.equal(c!.level, 'error');
  assert.equal(d!.timestamp, '2026-11-25T12:00:00.000Z', 'no time field: read time');
  assert.equal(s.parseErrors, 1);
  assert.deepEqual(out.acks, [
    lines[0]!.length + 1,
    lines[0]!.length + lines[1]!.length + 2,
    out.acks[2],
    out.acks[3],
  ]);
});

test('per-file parsers by glob; the default for the rest; a glob without / matches the file name', () => {
  const [s, out] = stage({
    parser: 'logfmt',
    parsers: [
      { glob: '*.json', parser: 'json' },
      {
        glob: '/var/log/nginx/**',
        parser: 'regex:^(?<ip>\\S+) - - \\[(?<time>[^\\]]+)\\] "(?<req>[^"]*)" (?<status>\\d+)',
      },
    ],
    timeFormat: 'auto',
  });
  feed(s, new Source('/var/log/app/a.json'), '{"a":1}\n');
  feed(
    s,
    new Source('/var/log/nginx/access.log'),
    '10.0.0.1 - - [25/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200\n',
  );
  feed(s, new Source('/var/log/app/b.log'), 'level=error msg=boom\n');
  assert.deepEqual(out.records[0]!.fields, { a: 1 });
  assert.deepEqual(out.records[1]!.fields, {
    ip: '10.0.0.1',
    time: '25/Nov/2026:12:00:00 +0000',
    req: 'GET / HTTP/1.1',
    status: '200',
  });
  assert.equal(out.records[1]!.timestamp, '2026-11-25T12:00:00.000Z');
  assert.deepEqual(out.records[2]!.fields, { level: 'error', msg: 'boom' });
  assert.equal(out.records[2]!.level, 'error');
});

test('cri+json: a CRI log with partial lines; the app JSON inside is parsed; stream and runtime time', () => {
  const [s, out] = stage({ parser: 'cri+json' });
  const cri = [
    '2026-11-25T12:00:00.100000000Z stdout P {"level":"info","msg":"part',
    '2026-11-25T12:00:00.100000001Z stdout F  two"}',
    '2026-11-25T12:00:00.200000000Z stderr F plain stderr text',
    '',
  ].join('\n');
  feed(s, new Source('/var/log/pods/ns_pod_uid/app/0.log'), cri);
  assert.equal(out.records.length, 2);
  assert.deepEqual(out.records[0], {
    timestamp: '2026-11-25T12:00:00.100Z',
    file: '/var/log/pods/ns_pod_uid/app/0.log',
    offset: 0,
    id: 'k:0',
    message: '{"level":"info","msg":"part two"}',
    stream: 'stdout',
    level: 'info',
    fields: { level: 'info', msg: 'part two' },
  });
  assert.equal(out.records[1]!.stream, 'stderr');
  assert.equal(out.records[1]!.parse_error, true, 'inner parser failed: flagged, shipped');
  assert.equal(out.records[1]!.timestamp, '2026-11-25T12:00:00.200Z');
});

test('docker: a stream other than stdout/stderr opens no stream of its own; the line ships as it is', () => {
  const [s, out] = stage({ parser: 'docker', multiline: 'java' });
  // Partial-looking lines (no final \n) under made-up streams: a stream each would hold them all pending.
  const lines = Array.from(
    { length: 200 },
    (_, i) => `{"log":"piece ${i}","stream":"x${i.toString(36)}","time":"2026-11-25T12:00:00Z"}`,
  );
  lines.push('{"log":"real\\n","stream":"stdout","time":"2026-11-25T12:00:01Z"}');
  feed(s, new Source('/var/log/containers/a.log'), `${lines.join('\n')}\n`);
  assert.equal(out.records.filter((r) => r.parse_error === true).length, 200);
  assert.ok(out.records.slice(0, 200).every((r) => r.stream === undefined));
  assert.equal(out.records[0]!.message, lines[0]);
  assert.equal(s.pendingBytes, out.held.n);
  // Only the real stdout line can be pending (java multiline waits for the next start line).
  assert.ok(s.pendingBytes <= Buffer.byteLength(lines[200]!) + 1, `${s.pendingBytes} bytes held`);
});

test('multiline: the last record is flushed after the timeout; bytes held are charged, then released', async () => {
  const [s, out] = stage({ multiline: 'java', multilineTimeoutMs: 60 });
  const src = new Source('/var/log/app/a.log');
  const text = 'INFO ok\nERROR failed\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)\n';
  feed(s, src, text);
  assert.equal(out.records.length, 1, 'the first record is complete when the second starts');
  assert.equal(out.acks[0], 'INFO ok\n'.length);
  const pending = text.length - 'INFO ok\n'.length;
  assert.equal(out.held.n, pending, 'lines of the pending record are in the memory budget');
  assert.equal(s.pendingBytes, pending);
  await waitFor(() => out.records.length === 2, { timeoutMs: 5000, what: 'timeout flush' });
  assert.equal(out.records[1]!.message, 'ERROR failed\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)');
  assert.equal(out.acks[1], text.length);
  assert.equal(out.held.n, 0);
  s.stop();
});

test('flush: only finished files, unless stopping; a truncated file flushes the old generation first', () => {
  const [s, out] = stage({ multiline: '^\\S', multilineTimeoutMs: 600_000 });
  const a = new Source('/var/log/app/a.log');
  const b = new Source('/var/log/app/b.log');
  feed(s, a, 'A1\n cont\n');
  feed(s, b, 'B1\n cont\n');
  s.flush(false);
  assert.equal(out.records.length, 0);
  b.finishing = true;
  s.flush(false);
  assert.deepEqual(
    out.records.map((r) => r.message),
    ['B1\n cont'],
  );
  // a is truncated: a new tracker (generation); the old pending record goes to the old tracker.
  const oldTracker = a.ack;
  a.ack = new AckTracker(0, () => {});
  feed(s, a, 'N1\n', 0);
  assert.equal(out.records[1]!.message, 'A1\n cont');
  assert.equal(out.trackers[1], oldTracker);
  s.flush(true);
  assert.equal(out.records[2]!.message, 'N1');
  assert.equal(out.trackers[2], a.ack);
  assert.equal(out.held.n, 0);
  s.stop();
});

test('bad input: invalid UTF-8 replaced, overlong JSON not parsed but shipped, pieces of cut lines raw', () => {
  const [s, out] = stage({ parser: 'json', parseMaxBytes: 1024 });
  const src = new Source('/var/log/app/a.log');
  const bad = Buffer.concat([
    Buffer.from('{"msg":"caf'),
    Buffer.from([0xc3, 0x28, 0xff]),
    Buffer.from('"}\n'),
  ]);
  feed(s, src, bad);
  assert.equal(out.records[0]!.parse_error, undefined);
  assert.equal((out.records[0]!.fields as { msg: string }).msg, 'caf\ufffd(\ufffd');
  const long = `{"msg":"${'x'.repeat(2000)}"}\n`;
  feed(s, src, long, bad.length);
  assert.equal(out.records[1]!.parse_error, true, 'longer than LOGFERRY_PARSE_MAX_BYTES: not parsed');
  assert.equal(out.records[1]!.message, long.slice(0, -1));
  const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}\n`;
  const [s2, out2] = stage({ parser: 'json', parseMaxBytes: 1 << 20 });
  const t0 = performance.now();
  feed(s2, src, deep);
  assert.equal(out2.records[0]!.parse_error, true);
  // Generous bound (busy CI machines; typically a few ms): it catches a stall, not a slow machine.
  const deepMs = performance.now() - t0;
  assert.ok(deepMs < 5000, `deep JSON handled in ${deepMs} ms`);
  // A cut line's pieces are shipped as they are (a piece of JSON is not a parse error).
  const [s3, out3] = stage({ parser: 'json' });
  const f = new LineFramer(
    textLines((t, b, o, n, c) => s3.line(src, t, b, o, n, c)),
    300,
    0,
  );
  const big = Buffer.from(`{"msg":"${'y'.repeat(700)}"}\n`);
  f.push(big, big.length);
  assert.equal(out3.records.length, 3);
  assert.ok(
    out3.records.every((r) => r.cut === true && r.parse_error === undefined && r.fields === undefined),
  );
});

test('path labels: named groups of a regex over the path, with the static labels', () => {
  const [s, out] = stage(
    { pathLabels: '^/var/log/pods/(?<namespace>[^_]+)_(?<pod>[^_]+)_[^/]+/(?<container>[^/]+)/' },
    { cluster: 'eu-1' },
  );
  feed(s, new Source('/var/log/pods/shop_cart-7d9f_0a1b/cart/0.log'), 'hello\n');
  feed(s, new Source('/var/log/other.log'), 'plain\n');
  assert.deepEqual(out.records[0]!.labels, {
    cluster: 'eu-1',
    namespace: 'shop',
    pod: 'cart-7d9f',
    container: 'cart',
  });
  assert.deepEqual(out.records[1]!.labels, { cluster: 'eu-1' }, 'no match: the static labels');
});

test('config: defaults keep the raw path; Kubernetes variables become labels; LOGFERRY_LABELS win', () => {
  const c = loadConfig(BASE);
  assert.equal(parsingIsOff(c), true);
  assert.equal(c.parser, 'none');
  assert.equal(c.multiline, 'none');
  assert.equal(c.multilineTimeoutMs, 1000);
  assert.deepEqual(c.podLabels, {});
  const k = loadConfig({
    ...BASE,
    POD_NAME: 'api-7d9f',
    POD_NAMESPACE: 'shop',
    POD_UID: '0a1b',
    NODE_NAME: 'node-3',
    MY_CONTAINER_NAME: 'api',
    POD_IP: '',
    LOGFERRY_PARSERS: '*.json=json;/var/log/x/*.log=regex:^(?<a>[^;;]+);;(?<b>.*)',
    LOGFERRY_MULTILINE: 'JAVA',
  });
  assert.deepEqual(k.podLabels, {
    pod: 'api-7d9f',
    namespace: 'shop',
    pod_uid: '0a1b',
    node: 'node-3',
    container: 'api',
  });
  assert.deepEqual(k.parsers, [
    { glob: '*.json', parser: 'json' },
    { glob: '/var/log/x/*.log', parser: 'regex:^(?<a>[^;]+);(?<b>.*)' },
  ]);
  assert.equal(parsingIsOff(k), false);
  assert.deepEqual(loadConfig({ ...BASE, POD_NAME: 'p', LOGFERRY_K8S_LABELS: 'false' }).podLabels, {});
});

test('config: every bad parse variable is reported by name', () => {
  let err: unknown;
  try {
    loadConfig({
      ...BASE,
      LOGFERRY_PARSER: 'regex:(?<a>[',
      LOGFERRY_PARSERS: '*.log',
      LOGFERRY_MULTILINE: '^(?!\\s)',
      LOGFERRY_MULTILINE_TIMEOUT_MS: 'soon',
      LOGFERRY_TIME_FORMAT: 'dd/mm/yyyy',
      LOGFERRY_PATH_LABELS: '^/var/log/(.*)',
      LOGFERRY_K8S_LABELS: 'maybe',
      LOGFERRY_LABELS: 'level=x',
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual([...new Set(err.problems.map((p) => p.variable))].sort(), [
    'LOGFERRY_K8S_LABELS',
    'LOGFERRY_LABELS',
    'LOGFERRY_MULTILINE',
    'LOGFERRY_MULTILINE_TIMEOUT_MS',
    'LOGFERRY_PARSER',
    'LOGFERRY_PARSERS',
    'LOGFERRY_PATH_LABELS',
    'LOGFERRY_TIME_FORMAT',
  ]);
  const msg = err.message;
  assert.match(msg, /not a valid regular expression/);
  assert.match(msg, /backtrack without bound/);
});
