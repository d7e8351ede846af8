// Parsers (json, logfmt, regex, cri, docker), event time formats, level names, and bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeLevel } from '../../src/parse/level.js';
import {
  decodeCri,
  decodeDocker,
  MAX_JSON_DEPTH,
  type ParserSpec,
  parseJson,
  parseLogfmt,
  parseParserSpec,
} from '../../src/parse/parsers.js';
import { compileTimeFormat, type TimeParser } from '../../src/parse/time.js';

/**
 * Wall-clock bound for "does not stall" checks. Generous for busy CI machines (these run in a few ms to
 * ~100 ms); what it catches is exponential backtracking or a quadratic scan, which take far longer.
 */
const STALL_MS = 5000;

const spec = (s: string): ParserSpec => {
  const p = parseParserSpec(s);
  assert.ok(typeof p !== 'string', `spec ${s}: ${String(p)}`);
  return p;
};
const time = (f: string, now?: () => number): TimeParser => {
  const t = compileTimeFormat(f, now);
  assert.ok(typeof t !== 'string', `format ${f}: ${String(t)}`);
  return t;
};

test('json: an app line becomes fields, kept as its own JSON text; non-objects do not parse', () => {
  const line = '{"time":"2026-11-25T12:00:00.123Z","level":"info","msg":"user logged in","user":{"id":42}}';
  const r = parseJson(line);
  assert.ok(r);
  assert.deepEqual(r.fields, {
    time: '2026-11-25T12:00:00.123Z',
    level: 'info',
    msg: 'user logged in',
    user: { id: 42 },
  });
  assert.equal(r.json, line, 'one-line JSON is embedded as it is (no re-encoding)');
  assert.equal(parseJson('[1,2]'), null);
  assert.equal(parseJson('"text"'), null);
  assert.equal(parseJson('{"unterminated": '), null);
  assert.equal(parseJson('plain text'), null);
  const pretty = parseJson('{\n  "a": 1\n}');
  assert.ok(pretty);
  assert.equal(pretty.json, null, 'pretty-printed JSON is re-encoded (no raw newline in an NDJSON line)');
});

test('json: 10,000 levels deep is refused quickly; a 5 MB line parses without stalling', () => {
  const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
  const t0 = performance.now();
  assert.equal(parseJson(deep), null);
  const deepMs = performance.now() - t0;
  assert.ok(deepMs < STALL_MS, `deep JSON rejected in ${deepMs} ms`);
  const okDepth = `${'{"a":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}`;
  assert.ok(parseJson(okDepth), `${MAX_JSON_DEPTH} levels still parse`);
  const big = JSON.stringify({ msg: 'x'.repeat(5 * 1024 * 1024), level: 'error' });
  const t1 = performance.now();
  const r = parseJson(big);
  assert.ok(r);
  assert.equal((r.fields.msg as string).length, 5 * 1024 * 1024);
  const bigMs = performance.now() - t1;
  assert.ok(bigMs < STALL_MS, `5 MB parsed in ${bigMs} ms`);
  // Strings holding brackets do not count as depth.
  assert.ok(parseJson(`{"s":"${'['.repeat(1000)}"}`));
});

test('logfmt: pairs, quoted values with escapes, bare flags; garbage does not parse', () => {
  const r = parseLogfmt('ts=2026-11-25T12:00:00Z level=warn msg="disk \\"almost\\" full" pct=93 retry');
  assert.ok(r);
  assert.deepEqual(
    { ...r.fields },
    {
      ts: '2026-11-25T12:00:00Z',
      level: 'warn',
      msg: 'disk "almost" full',
      pct: '93',
      retry: true,
    },
  );
  assert.equal(parseLogfmt('just some words'), null, 'no key=value pair');
  assert.equal(parseLogfmt('a="unterminated'), null);
  assert.equal(parseLogfmt('=value'), null);
  const proto = parseLogfmt('__proto__=x constructor=y');
  assert.ok(proto);
  assert.equal(
    Object.getOwnPropertyDescriptor(proto.fields, '__proto__')?.value,
    'x',
    'keys are plain data, not prototype changes',
  );
});

test('regex: an nginx access line, named groups become fields', () => {
  const nginx =
    'regex:^(?<remote>\\S+) \\S+ (?<user>\\S+) \\[(?<time>[^\\]]+)\\] "(?<method>\\S+) (?<path>\\S+) (?<proto>[^"]+)" (?<status>\\d{3}) (?<bytes>\\d+) "(?<referer>[^"]*)" "(?<agent>[^"]*)"';
  const p = spec(nginx);
  const line =
    '203.0.113.9 - alice [25/Nov/2026:12:00:00 +0100] "GET /api/v1/items?id=7 HTTP/1.1" 200 512 "-" "curl/8.5.0"';
  const r = p.inner!(line);
  assert.ok(r);
  assert.equal(r.fields.remote, '203.0.113.9');
  assert.equal(r.fields.method, 'GET');
  assert.equal(r.fields.path, '/api/v1/items?id=7');
  assert.equal(r.fields.status, '200');
  assert.equal(r.fields.agent, 'curl/8.5.0');
  assert.equal(time('common_log')(r.fields.time), '2026-11-25T11:00:00.000Z');
  assert.equal(time('auto')(r.fields.time), '2026-11-25T11:00:00.000Z', 'auto knows the common log format');
  assert.equal(p.inner!('not an access line'), null);
});

test('regex: invalid, unboundable and exponentially nested patterns are refused', () => {
  assert.match(String(parseParserSpec('regex:(?<a>[')), /not a valid regular expression/);
  assert.match(String(parseParserSpec('regex:(?<a>x)\\1')), /backtrack without bound/);
  assert.match(String(parseParserSpec('regex:^(?!x)(?<a>.*)')), /backtrack without bound/);
  // ^(a+)+$ on "aaaa...b" takes 2^n steps in a backtracking engine: refused before it can run. What the
  // static check lets through runs with the linear-time fallback (test/unit/safe-regex.test.ts).
  assert.match(String(parseParserSpec('regex:^(?<a>(a+)+)$')), /exponentially/);
  assert.match(String(parseParserSpec('regex:^no groups$')), /no named group/);
  assert.match(String(parseParserSpec('yaml')), /unknown parser/);
  const p = spec('regex:^(?<a>(?:\\d+\\.)+\\d+)$');
  const t0 = performance.now();
  assert.equal(p.inner!(`${'1.'.repeat(5000)}x`), null);
  const ms = performance.now() - t0;
  assert.ok(ms < STALL_MS, `a repetition that cannot be split two ways took ${ms} ms`);
});

test('cri: full and partial lines, streams, tags; anything else is not a CRI line', () => {
  assert.deepEqual(decodeCri('2026-11-25T12:00:00.123456789Z stdout F hello world'), {
    content: 'hello world',
    stream: 'stdout',
    time: '2026-11-25T12:00:00.123456789Z',
    partial: false,
  });
  assert.equal(decodeCri('2026-11-25T12:00:00.1+01:00 stderr P part one ')?.partial, true);
  assert.equal(decodeCri('2026-11-25T12:00:00.1+01:00 stderr P part one ')?.content, 'part one ');
  assert.equal(decodeCri('2026-11-25T12:00:00Z stdout F')?.content, '', 'empty line');
  assert.equal(decodeCri('2026-11-25T12:00:00Z stdout F:x tagged')?.content, 'tagged');
  assert.equal(decodeCri('2026-11-25T12:00:00Z stdin F x'), null);
  assert.equal(decodeCri('2026-11-25T12:00:00Z stdout X x'), null);
  assert.equal(decodeCri('hello world this is not cri'), null);
  assert.equal(decodeCri(''), null);
});

test('docker json-file: log, stream, time; no final newline = partial', () => {
  const d = decodeDocker('{"log":"hello\\n","stream":"stderr","time":"2026-11-25T12:00:00.5Z"}');
  assert.deepEqual(d, { content: 'hello', stream: 'stderr', time: '2026-11-25T12:00:00.5Z', partial: false });
  assert.equal(
    decodeDocker('{"log":"16k piece","stream":"stdout","time":"2026-11-25T12:00:00Z"}')?.partial,
    true,
  );
  assert.equal(decodeDocker('{"log":1,"stream":"stdout","time":"x"}'), null);
  assert.equal(decodeDocker('{"log":"x\\n"'), null);
  assert.equal(decodeDocker('text'), null);
  // Only the runtime's two streams: any other value is not a Docker line.
  assert.equal(decodeDocker('{"log":"x\\n","stream":"stdin","time":"2026-11-25T12:00:00Z"}'), null);
  assert.equal(decodeDocker('{"log":"x\\n","stream":"xq7z","time":"2026-11-25T12:00:00Z"}'), null);
});

test('parser specs: container + inner parser, case-insensitive names', () => {
  assert.equal(spec('cri').container, 'cri');
  assert.equal(spec('cri').inner, null);
  const cj = spec('CRI+json');
  assert.equal(cj.container, 'cri');
  assert.ok(cj.inner?.('{"a":1}'));
  assert.equal(spec('docker+logfmt').container, 'docker');
  assert.equal(spec('docker+regex:^(?<w>\\w+)').firstLineOnly, true);
  assert.equal(spec('none').inner, null);
});

test('time formats: RFC 3339 (offsets, nanoseconds), epochs, strftime layouts; garbage is null', () => {
  const auto = time('auto');
  assert.equal(auto('2026-11-25T12:00:00Z'), '2026-11-25T12:00:00.000Z');
  assert.equal(auto('2026-11-25T12:00:00.123456789Z'), '2026-11-25T12:00:00.123456789Z');
  assert.equal(auto('2026-11-25T13:30:00.5+01:30'), '2026-11-25T12:00:00.500Z');
  assert.equal(auto('2026-11-25 12:00:00,250'), '2026-11-25T12:00:00.250Z', 'Python logging, no zone = UTC');
  assert.equal(auto('2026/11/25 12:00:00'), '2026-11-25T12:00:00.000Z', "Go's log package");
  assert.equal(auto(1764072000), '2025-11-25T12:00:00.000Z', 'epoch seconds');
  assert.equal(auto(1764072000.25), '2025-11-25T12:00:00.250Z');
  assert.equal(auto(1764072000123), '2025-11-25T12:00:00.123Z', 'epoch ms');
  assert.equal(auto('1764072000123456'), '2025-11-25T12:00:00.123456Z', 'epoch us');
  assert.equal(
    auto('1764072000123456789'),
    '2025-11-25T12:00:00.123456789Z',
    'epoch ns (string keeps precision)',
  );
  assert.equal(time('epoch_ms')('1764072000123'), '2025-11-25T12:00:00.123Z');
  assert.equal(time('epoch_s')('1764072000'), '2025-11-25T12:00:00.000Z');
  // A number that large is a double: precise to about 100 ns (pass a string for full precision).
  assert.match(String(time('epoch_ns')(Number('1764072000123456789'))), /^2025-11-25T12:00:00\.1234\d*Z$/);
  assert.equal(time('rfc3339')('1764072000'), null, 'rfc3339 does not read epochs');
  assert.equal(
    time('%Y-%m-%d %H:%M:%S.%f %z')('2026-11-25 14:00:00.123456 +0200'),
    '2026-11-25T12:00:00.123456Z',
  );
  assert.equal(time('%d/%m/%Y %I:%M:%S %p')('25/11/2026 01:05:00 PM'), '2026-11-25T13:05:00.000Z');
  assert.equal(time('%a %b %e %T %Y')('Wed Nov  5 12:00:00 2026'), '2026-11-05T12:00:00.000Z');
  assert.equal(time('%s')('1764072000'), '2025-11-25T12:00:00.000Z');
  const jan2 = Date.UTC(2027, 0, 2);
  assert.equal(
    time('syslog', () => jan2)('Dec 31 23:59:59'),
    '2026-12-31T23:59:59.000Z',
    'no year: last year',
  );
  assert.equal(time('syslog', () => jan2)('Jan  1 00:00:01'), '2027-01-01T00:00:01.000Z');
  for (const bad of [
    '',
    'yesterday',
    '2026-13-01T00:00:00Z',
    '2026-11-25T25:00:00Z',
    {},
    null,
    true,
    -5,
    'NaN',
  ]) {
    assert.equal(auto(bad), null, `auto(${JSON.stringify(bad)})`);
  }
  assert.equal(typeof compileTimeFormat('%Q'), 'string', 'unknown directive refused');
  assert.equal(typeof compileTimeFormat('dd/mm/yyyy'), 'string', 'not a format');
});

test('levels: names, abbreviations, pino numbers and glog letters → six levels', () => {
  const cases: [unknown, string | null][] = [
    ['INFO', 'info'],
    ['Warning', 'warn'],
    ['WARN', 'warn'],
    ['err', 'error'],
    ['SEVERE', 'error'],
    ['CRITICAL', 'fatal'],
    ['emerg', 'fatal'],
    ['notice', 'info'],
    ['DBG', 'debug'],
    ['trace', 'trace'],
    [30, 'info'],
    [50, 'error'],
    [60, 'fatal'],
    ['E', 'error'],
    ['W', 'warn'],
    ['constructor', null],
    ['toString', null],
    ['banana', null],
    [{}, null],
    [5, null],
  ];
  for (const [v, want] of cases) assert.equal(normalizeLevel(v), want, `level ${JSON.stringify(v)}`);
});
