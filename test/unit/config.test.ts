// loadConfig: defaults, every bad variable reported at once, labels, paths; the agent exits 2 before reading.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Env, loadConfig } from '../../src/config/config.js';
import { configurationReference } from '../../src/config/reference.js';
import { fieldOf, VARIABLES } from '../../src/config/variables.js';
import { ConfigError } from '../../src/errors.js';
import { startAgent, tempDir } from '../helpers/agent.js';
import { startCollector } from '../helpers/collector.js';

const BASE: Env = { LOGFERRY_PATHS: '/var/log/app/*.log', LOGFERRY_ENDPOINT: 'http://collector:8080/ingest' };

/** loadConfig must throw a ConfigError; returns it. */
function configError(env: Env): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, 'LOGFERRY_CONFIG');
  return caught;
}

const variables = (e: ConfigError) => [...new Set(e.problems.map((p) => p.variable))].sort();

test('defaults: the contract values', () => {
  const cfg = loadConfig(BASE);
  assert.deepEqual(cfg.paths, ['/var/log/app/*.log']);
  assert.equal(cfg.endpoint.href, 'http://collector:8080/ingest');
  assert.equal(cfg.sink, 'ndjson');
  assert.equal(cfg.startAt, 'beginning');
  assert.equal(cfg.compression, 'gzip');
  assert.equal(cfg.logLevel, 'info');
  assert.deepEqual(cfg.exclude, []);
  assert.deepEqual(cfg.labels, {});
  assert.deepEqual(cfg.unknownVariables, []);
  assert.ok(cfg.flushIntervalMs >= 1 && cfg.flushIntervalMs <= 1000, 'flush interval at most 1000 ms');
  assert.ok(cfg.bufferMaxBytes >= cfg.batchMaxBytes);
  assert.ok(cfg.retryInitialMs <= cfg.retryMaxMs);
});

test('the table: every variable is a field of Config, with the default the reference shows', () => {
  const cfg = loadConfig(BASE) as unknown as Record<string, unknown>;
  const names = VARIABLES.map((v) => v.name);
  assert.equal(new Set(names).size, names.length, 'no variable twice');
  for (const v of VARIABLES) {
    assert.match(v.name, /^LOGFERRY_[A-Z0-9_]+$/);
    assert.ok(v.doc.length > 0 && !v.doc.includes('\n'), `${v.name}: one line of meaning`);
    const key = fieldOf(v.name);
    assert.ok(key in cfg, `${v.name} → ${key} is in Config`);
    if (v.default === undefined || v.name === 'LOGFERRY_BUFFER_MAX_BYTES') continue;
    const actual = cfg[key];
    const shown = v.default.replace(/ \(.*\)$/, '');
    if (Array.isArray(actual)) assert.equal(actual.join(','), shown, v.name);
    else if (typeof actual === 'object' && actual !== null)
      assert.equal(Object.keys(actual).length, 0, v.name);
    else assert.equal(String(actual), shown, v.name);
  }
});

test('docs/configuration.md is generated from the table (npm run docs:config)', async () => {
  const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(doc, configurationReference(), 'docs/configuration.md is stale: run npm run docs:config');
});

test('values are parsed: lists, numbers, enums (any case), empty optional means default', () => {
  const cfg = loadConfig({
    ...BASE,
    LOGFERRY_PATHS: ' /a/*.log , /b/**/*.json ,',
    LOGFERRY_EXCLUDE: '*.gz,/a/skip.log',
    LOGFERRY_ENDPOINT: 'https://user:secret@example.com:8443/x',
    LOGFERRY_BATCH_MAX_BYTES: ' 65536 ',
    LOGFERRY_FLUSH_INTERVAL_MS: '1000',
    LOGFERRY_HTTP_PORT: '0',
    LOGFERRY_COMPRESSION: 'NONE',
    LOGFERRY_START_AT: 'End',
    LOGFERRY_LOG_LEVEL: 'silent',
    LOGFERRY_SINK: 'NDJSON',
    LOGFERRY_STATE_DIR: '/tmp/state',
    LOGFERRY_MAX_LINE_BYTES: '',
    LOGFERRY_TYPO_VARIABLE: 'x',
    NOT_OURS: 'y',
  });
  assert.deepEqual(cfg.paths, ['/a/*.log', '/b/**/*.json']);
  assert.deepEqual(cfg.exclude, ['*.gz', '/a/skip.log']);
  assert.equal(cfg.endpoint.protocol, 'https:');
  assert.equal(cfg.endpoint.port, '8443');
  assert.equal(cfg.batchMaxBytes, 65536);
  assert.equal(cfg.flushIntervalMs, 1000);
  assert.equal(cfg.httpPort, 0);
  assert.equal(cfg.compression, 'none');
  assert.equal(cfg.startAt, 'end');
  assert.equal(cfg.logLevel, 'silent');
  assert.equal(cfg.sink, 'ndjson');
  assert.equal(cfg.stateDir, '/tmp/state');
  assert.equal(cfg.maxLineBytes, loadConfig(BASE).maxLineBytes, 'empty means the default');
  assert.deepEqual(cfg.unknownVariables, ['LOGFERRY_TYPO_VARIABLE']);
});

test('every bad variable is reported at once in one ConfigError', () => {
  const e = configError({
    // LOGFERRY_PATHS and LOGFERRY_ENDPOINT missing
    LOGFERRY_BATCH_MAX_BYTES: 'lots',
    LOGFERRY_FLUSH_INTERVAL_MS: '5000',
    LOGFERRY_COMPRESSION: 'brotli',
    LOGFERRY_START_AT: 'middle',
    LOGFERRY_LOG_LEVEL: 'verbose',
    LOGFERRY_SINK: 'kafka',
    LOGFERRY_MAX_IN_FLIGHT: '-1',
  });
  const expected = {
    LOGFERRY_PATHS: /required/,
    LOGFERRY_ENDPOINT: /required/,
    LOGFERRY_BATCH_MAX_BYTES: /whole number.*"lots"/,
    LOGFERRY_FLUSH_INTERVAL_MS: /between 1 and 1000.*5000/,
    LOGFERRY_COMPRESSION: /one of gzip, none.*"brotli"/,
    LOGFERRY_START_AT: /one of beginning, end.*"middle"/,
    LOGFERRY_LOG_LEVEL: /one of .*info.*"verbose"/,
    LOGFERRY_SINK: /ndjson.*"kafka"/,
    LOGFERRY_MAX_IN_FLIGHT: /whole number.*"-1"/,
  };
  assert.deepEqual(variables(e), Object.keys(expected).sort());
  for (const [variable, re] of Object.entries(expected)) {
    const p = e.problems.find((x) => x.variable === variable)!;
    assert.match(p.message, re, variable);
    // The message says which variable and what was wrong, one line each.
    assert.ok(e.message.split('\n').includes(`${variable}: ${p.message}`), `message names ${variable}`);
  }
});

test('endpoint: malformed URL, other schemes, empty', () => {
  const bad: [string, RegExp][] = [
    ['not a url', /not a valid URL/],
    ['collector:8080', /http:\/\/ or https:\/\//],
    ['ftp://example.com/logs', /http:\/\/ or https:\/\/.*ftp:/],
    ['file:///tmp/x', /http:\/\/ or https:\/\//],
    ['', /not a valid URL|required/],
  ];
  for (const [url, re] of bad) {
    const e = configError({ ...BASE, LOGFERRY_ENDPOINT: url });
    assert.deepEqual(variables(e), ['LOGFERRY_ENDPOINT'], url);
    assert.match(e.problems[0]!.message, re, url);
  }
  // Credentials in a bad URL are not echoed.
  const e = configError({ ...BASE, LOGFERRY_ENDPOINT: 'http://user:hunter2@bad host/' });
  assert.ok(!e.message.includes('hunter2'), e.message);
});

test('numbers: not a number and out of range, per variable', () => {
  const cases: [string, string, RegExp][] = [
    ['LOGFERRY_BATCH_MAX_BYTES', '1e6', /whole number/],
    ['LOGFERRY_BATCH_MAX_BYTES', '12abc', /whole number/],
    ['LOGFERRY_BATCH_MAX_BYTES', '1.5', /whole number/],
    ['LOGFERRY_BATCH_MAX_BYTES', '10', /between/],
    ['LOGFERRY_FLUSH_INTERVAL_MS', '0', /between/],
    ['LOGFERRY_FLUSH_INTERVAL_MS', '1001', /between/],
    ['LOGFERRY_HTTP_PORT', '65536', /between/],
    ['LOGFERRY_HTTP_PORT', 'http', /whole number/],
    ['LOGFERRY_BUFFER_MAX_BYTES', '1024', /between/],
    ['LOGFERRY_SHUTDOWN_TIMEOUT_MS', 'ten', /whole number/],
    ['LOGFERRY_MAX_LINE_BYTES', '1', /between/],
  ];
  for (const [variable, value, re] of cases) {
    const e = configError({ ...BASE, [variable]: value });
    assert.deepEqual(variables(e), [variable], `${variable}=${value}`);
    assert.match(e.problems[0]!.message, re, `${variable}=${value}`);
  }
});

test('enums: unknown values are rejected; every sink of the issue is accepted', () => {
  for (const [variable, value] of [
    ['LOGFERRY_SINK', 'constructor'],
    ['LOGFERRY_LOG_LEVEL', '__proto__'],
    ['LOGFERRY_COMPRESSION', 'toString'],
    ['LOGFERRY_COMPRESSION', 'zstd'],
    ['LOGFERRY_START_AT', 'now'],
    ['LOGFERRY_LOG_LEVEL', 'warning'],
    ['LOGFERRY_SINK', 'syslog'],
  ] as const) {
    const e = configError({ ...BASE, [variable]: value });
    assert.deepEqual(variables(e), [variable]);
    assert.match(e.problems[0]!.message, new RegExp(`one of .*"${value}"`));
  }
  for (const sink of ['ndjson', 'loki', 'elasticsearch', 'otlp']) {
    assert.equal(loadConfig({ ...BASE, LOGFERRY_SINK: sink.toUpperCase() }).sink, sink);
  }
  assert.equal(loadConfig({ ...BASE, LOGFERRY_SINK: 'opensearch' }).sink, 'elasticsearch');
  assert.equal(loadConfig({ ...BASE, LOGFERRY_SINK: 'splunk', LOGFERRY_SPLUNK_TOKEN: 't' }).sink, 'splunk');
});

test('paths: relative patterns rejected, empty list is missing', () => {
  const rel = configError({ ...BASE, LOGFERRY_PATHS: '/ok/*.log,logs/*.log' });
  assert.deepEqual(variables(rel), ['LOGFERRY_PATHS']);
  assert.match(rel.problems[0]!.message, /absolute/);
  assert.deepEqual(variables(configError({ ...BASE, LOGFERRY_PATHS: './x.log' })), ['LOGFERRY_PATHS']);
  for (const empty of ['', ' , ,']) {
    const e = configError({ ...BASE, LOGFERRY_PATHS: empty });
    assert.deepEqual(variables(e), ['LOGFERRY_PATHS']);
    assert.match(e.problems[0]!.message, /required/);
  }
});

test('labels: parsing and errors', () => {
  const ok: [string, Record<string, string>][] = [
    ['', {}],
    ['app=web', { app: 'web' }],
    [' app = web , env=prod,', { app: 'web', env: 'prod' }],
    ['k=a=b', { k: 'a=b' }],
    ['empty=', { empty: '' }],
    ['k8s.pod-name=x_1', { 'k8s.pod-name': 'x_1' }],
  ];
  for (const [value, want] of ok) {
    assert.deepEqual(loadConfig({ ...BASE, LOGFERRY_LABELS: value }).labels, want, value);
  }
  const bad: [string, RegExp][] = [
    ['novalue', /key=value/],
    ['=x', /key=value/],
    ['a=1,,b', /key=value/],
    ['1abc=x', /key=value/],
    ['message=x', /overwrite/],
    ['app=web,offset=3', /overwrite/],
  ];
  for (const [value, re] of bad) {
    const e = configError({ ...BASE, LOGFERRY_LABELS: value });
    assert.deepEqual(variables(e), ['LOGFERRY_LABELS'], value);
    assert.match(e.problems[0]!.message, re, value);
  }
});

test('cross-variable checks name the variable', () => {
  const r = configError({ ...BASE, LOGFERRY_RETRY_INITIAL_MS: '5000', LOGFERRY_RETRY_MAX_MS: '1000' });
  assert.deepEqual(variables(r), ['LOGFERRY_RETRY_INITIAL_MS']);
  assert.match(r.message, /LOGFERRY_RETRY_MAX_MS/);
  const b = configError({ ...BASE, LOGFERRY_BUFFER_MAX_BYTES: '65536', LOGFERRY_BATCH_MAX_BYTES: '131072' });
  assert.deepEqual(variables(b), ['LOGFERRY_BUFFER_MAX_BYTES']);
});

test('the buffer default grows with the batch size when the buffer is not set', () => {
  const MiB = 1024 * 1024;
  assert.equal(loadConfig(BASE).bufferMaxBytes, 8 * MiB);
  assert.equal(loadConfig({ ...BASE, LOGFERRY_BATCH_MAX_BYTES: String(16 * MiB) }).bufferMaxBytes, 64 * MiB);
  const set = {
    ...BASE,
    LOGFERRY_BATCH_MAX_BYTES: String(4 * MiB),
    LOGFERRY_BUFFER_MAX_BYTES: String(6 * MiB),
  };
  assert.equal(loadConfig(set).bufferMaxBytes, 6 * MiB, 'a value that is set is kept');
});

test('process: a bad configuration exits 2, names the variables, and reads nothing', async (t) => {
  const dir = await tempDir(t);
  const collector = await startCollector();
  t.after(() => collector.close());
  const logs = join(dir, 'logs');
  await mkdir(logs);
  await writeFile(join(logs, 'app.log'), 'line one\nline two\n');
  const stateDir = join(dir, 'state');

  const cases: { env: Record<string, string>; names: string[] }[] = [
    {
      env: {
        LOGFERRY_PATHS: join(logs, '*.log'),
        LOGFERRY_ENDPOINT: collector.url,
        LOGFERRY_STATE_DIR: stateDir,
        LOGFERRY_FLUSH_INTERVAL_MS: 'soon',
        LOGFERRY_COMPRESSION: 'brotli',
      },
      names: ['LOGFERRY_FLUSH_INTERVAL_MS', 'LOGFERRY_COMPRESSION'],
    },
    {
      env: { LOGFERRY_STATE_DIR: stateDir, LOGFERRY_FLUSH_INTERVAL_MS: '50' },
      names: ['LOGFERRY_PATHS', 'LOGFERRY_ENDPOINT'],
    },
    {
      env: {
        LOGFERRY_PATHS: join(logs, '*.log'),
        LOGFERRY_ENDPOINT: 'ftp://127.0.0.1/ingest',
        LOGFERRY_STATE_DIR: stateDir,
      },
      names: ['LOGFERRY_ENDPOINT'],
    },
  ];
  for (const c of cases) {
    const agent = startAgent(c.env);
    t.after(() => agent.kill());
    const code = await Promise.race([
      agent.exited,
      new Promise<'timeout'>((resolve) => setTimeout(resolve, 15_000, 'timeout').unref()),
    ]);
    assert.equal(code, 2, `exit code; stderr: ${agent.stderr}`);
    for (const name of c.names) assert.match(agent.stderr, new RegExp(`${name}: `), `stderr names ${name}`);
    assert.match(agent.stderr, /LOGFERRY_CONFIG/);
    assert.ok(!agent.stdout.includes('logferry started'), agent.stdout);
  }
  // The process is gone: nothing can reach the collector any more, and nothing did.
  assert.equal(collector.requests, 0);
  assert.equal(existsSync(stateDir), false, 'state dir not created');
});

test('allowed roots: absolute directories, normalised; roots are the patterns bases then these', () => {
  const cfg = loadConfig({
    ...BASE,
    LOGFERRY_PATHS: '/var/log/containers/*.log,/var/log/app/**/*.json',
    LOGFERRY_ALLOWED_ROOTS: ' /var/log/pods/ , /data//logs ',
  });
  assert.deepEqual(cfg.allowedRoots, ['/var/log/pods', '/data/logs']);
  assert.deepEqual(cfg.roots, ['/var/log/containers', '/var/log/app', '/var/log/pods', '/data/logs']);
  assert.deepEqual(loadConfig(BASE).allowedRoots, []);
  assert.deepEqual(loadConfig(BASE).roots, ['/var/log/app']);
  const e = configError({ ...BASE, LOGFERRY_ALLOWED_ROOTS: '/var/log/pods,relative/dir' });
  assert.deepEqual(variables(e), ['LOGFERRY_ALLOWED_ROOTS']);
  assert.match(e.message, /"relative\/dir"/);
});
