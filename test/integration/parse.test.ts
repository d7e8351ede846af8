// Parsing, multiline and enrichment through the real agent (child process) and a real collector:
// CRI logs with partial lines and a Java stack trace on stderr, per-file parsers, Kubernetes labels,
// a crash while a multiline record is pending, start-up refusal of a dangerous regex, and user regexes with
// and without node's linear-time fallback.
import assert from 'node:assert/strict';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Agent, agentStarted, startAgent, tempDir } from '../helpers/agent.js';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import { type Collector, startCollector } from '../helpers/collector.js';
import { FAST_ENV } from '../helpers/fast-env.js';
import { waitFor } from '../helpers/wait-for.js';

type Rec = Record<string, unknown> & { message: string; offset: number; id: string };

async function setup(t: { after(fn: () => Promise<void>): void }): Promise<{ dir: string; c: Collector }> {
  const dir = await tempDir(t, 'logferry-parse-');
  await mkdir(join(dir, 'logs'));
  const c = await startCollector();
  t.after(() => c.close());
  return { dir, c };
}

function agent(
  t: { after(fn: () => Promise<void>): void },
  env: Record<string, string>,
  opts: { regexGuard?: boolean } = {},
): Agent {
  const a = startAgent({ ...FAST_ENV, ...env }, opts);
  t.after(async () => {
    a.kill('SIGKILL');
    await a.exited;
  });
  return a;
}

const recs = (c: Collector) => c.records as unknown as Rec[];

test('cri + java multiline + per-file parsers + Kubernetes labels, end to end', async (t) => {
  const { dir, c } = await setup(t);
  const ts = (n: number) => `2026-11-25T12:00:0${n}.000000000Z`;
  const cri = [
    `${ts(0)} stdout F 2026-11-25 12:00:00 INFO  started`,
    `${ts(1)} stderr F 2026-11-25 12:00:01 ERROR request failed`,
    `${ts(1)} stdout P 2026-11-25 12:00:01 INFO  a line the runtime `,
    `${ts(1)} stderr F java.lang.IllegalStateException: order 42`,
    `${ts(1)} stdout F split in two`,
    `${ts(1)} stderr F \tat com.example.Orders.find(Orders.java:88)`,
    `${ts(2)} stderr F 2026-11-25 12:00:02 WARN  retrying`,
    `${ts(3)} stdout F 2026-11-25 12:00:03 INFO  done`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'logs', 'app.cri'), cri);
  await writeFile(
    join(dir, 'logs', 'access.log'),
    '203.0.113.9 - - [25/Nov/2026:12:00:00 +0100] "GET /a HTTP/1.1" 200 512\nthis is not an access line\n',
  );
  await writeFile(join(dir, 'logs', 'app.json'), '{"ts":1764072000123,"level":"WARNING","msg":"hi","n":1}\n');
  const a = agent(t, {
    LOGFERRY_PATHS: `${dir}/logs/*`,
    LOGFERRY_ENDPOINT: c.url,
    LOGFERRY_STATE_DIR: join(dir, 'state'),
    LOGFERRY_COMPRESSION: 'none',
    LOGFERRY_PARSER: 'none',
    LOGFERRY_PARSERS:
      '*.cri=cri;*.json=json;access.log=regex:^(?<ip>\\S+) \\S+ \\S+ \\[(?<time>[^\\]]+)\\] "(?<request>[^"]*)" (?<status>\\d+)',
    LOGFERRY_MULTILINE: 'java',
    LOGFERRY_MULTILINE_TIMEOUT_MS: '200',
    LOGFERRY_LABELS: 'team=shop,pod=overridden',
    POD_NAME: 'api-7d9f',
    POD_NAMESPACE: 'shop',
    NODE_NAME: 'node-3',
  });
  await agentStarted(a);
  await waitFor(() => c.records.length >= 8, { timeoutMs: 15_000, what: '8 records' });
  const byFile = (name: string) =>
    recs(c)
      .filter((r) => r.file === join(dir, 'logs', name))
      .sort((x, y) => x.offset - y.offset);
  const fromCri = byFile('app.cri');
  assert.deepEqual(
    fromCri.map((r) => [r.offset, r.stream, r.message]),
    [
      [0, 'stdout', '2026-11-25 12:00:00 INFO  started'],
      [
        cri.indexOf(`${ts(1)} stderr F 2026`),
        'stderr',
        '2026-11-25 12:00:01 ERROR request failed\njava.lang.IllegalStateException: order 42\n\tat com.example.Orders.find(Orders.java:88)',
      ],
      [
        cri.indexOf(`${ts(1)} stdout P`),
        'stdout',
        '2026-11-25 12:00:01 INFO  a line the runtime split in two',
      ],
      [cri.indexOf(`${ts(2)} stderr`), 'stderr', '2026-11-25 12:00:02 WARN  retrying'],
      [cri.indexOf(`${ts(3)} stdout`), 'stdout', '2026-11-25 12:00:03 INFO  done'],
    ],
  );
  assert.equal(fromCri[1]!.timestamp, '2026-11-25T12:00:01.000Z', "the runtime's time of the first line");
  assert.deepEqual(fromCri[0]!.labels, {
    pod: 'overridden',
    namespace: 'shop',
    node: 'node-3',
    team: 'shop',
  });
  const access = byFile('access.log');
  assert.equal(access.length, 2);
  assert.deepEqual(access[0]!.fields, {
    ip: '203.0.113.9',
    time: '25/Nov/2026:12:00:00 +0100',
    request: 'GET /a HTTP/1.1',
    status: '200',
  });
  assert.equal(access[0]!.timestamp, '2026-11-25T11:00:00.000Z');
  assert.equal(access[1]!.parse_error, true);
  assert.equal(access[1]!.message, 'this is not an access line');
  const json = byFile('app.json');
  assert.equal(json[0]!.level, 'warn');
  assert.equal(json[0]!.timestamp, '2025-11-25T12:00:00.123Z');
  assert.deepEqual(json[0]!.fields, { ts: 1764072000123, level: 'WARNING', msg: 'hi', n: 1 });
  // No record was split or shipped twice: ids are unique, one per record.
  assert.equal(c.ids.size, c.records.length);
});

test('crash with a multiline record pending: the checkpoint waits at its first line; the restart sends it whole', async (t) => {
  const { dir, c } = await setup(t);
  const file = join(dir, 'logs', 'app.log');
  const head = 'INFO  booting\nERROR failed to load\n\tat a.B.c(B.java:1)\n';
  const recordStart = 'INFO  booting\n'.length;
  await writeFile(file, head);
  const env = {
    LOGFERRY_PATHS: `${dir}/logs/*.log`,
    LOGFERRY_ENDPOINT: c.url,
    LOGFERRY_STATE_DIR: join(dir, 'state'),
    LOGFERRY_MULTILINE: 'java',
  };
  // A long timeout: the ERROR record stays pending until the agent is killed.
  const first = agent(t, { ...env, LOGFERRY_MULTILINE_TIMEOUT_MS: '600000' });
  await agentStarted(first);
  await waitFor(() => c.records.some((r) => r.message === 'INFO  booting'), { what: 'first record' });
  const checkpointed = () => checkpointOffset(join(dir, 'state'), file);
  await waitFor(async () => (await checkpointed()) === recordStart, {
    what: 'checkpoint at the pending record',
  });
  // Not past it: the pending record's lines are read but not delivered.
  assert.equal(await checkpointed(), recordStart);
  first.kill('SIGKILL');
  await first.exited;
  assert.ok(!c.records.some((r) => r.message.startsWith('ERROR')), 'not sent before the crash');

  await appendFile(file, '\tat a.B.d(B.java:2)\nINFO  recovered\n');
  const second = agent(t, { ...env, LOGFERRY_MULTILINE_TIMEOUT_MS: '100' });
  await agentStarted(second);
  await waitFor(() => c.records.some((r) => r.message === 'INFO  recovered'), {
    what: 'last record (timeout)',
  });
  const error = c.records.filter((r) => r.message.startsWith('ERROR'));
  assert.equal(error.length, 1);
  assert.equal(error[0]!.message, 'ERROR failed to load\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)');
  assert.equal(error[0]!.offset, recordStart);
  assert.ok(error[0]!.id.endsWith(`:${recordStart}`));
  // Nothing else starts inside the record: it was neither split nor partly lost.
  assert.deepEqual(
    c.records.map((r) => r.offset).sort((x, y) => x - y),
    [0, recordStart, head.length + '\tat a.B.d(B.java:2)\n'.length],
  );
});

test('a dangerous or invalid regex is a configuration error: exit 2 before reading, naming the variable', async (t) => {
  const { dir } = await setup(t);
  for (const [variable, value, why] of [
    ['LOGFERRY_PARSER', 'regex:^(?<a>x)\\1', /backtrack without bound/],
    ['LOGFERRY_PATH_LABELS', '/(?<app>(\\w+-?)+)\\.log$', /exponentially/],
    ['LOGFERRY_MULTILINE', '^([a-z', /not a valid regular expression/],
    ['LOGFERRY_PARSERS', '*.log=yaml', /unknown parser/],
  ] as const) {
    const a = agent(t, {
      LOGFERRY_PATHS: `${dir}/logs/*.log`,
      LOGFERRY_ENDPOINT: 'http://127.0.0.1:9/',
      LOGFERRY_STATE_DIR: join(dir, 'state'),
      [variable]: value,
    });
    assert.equal(await a.exited, 2, `${variable}: ${a.stderr}`);
    assert.match(a.stderr, new RegExp(variable));
    assert.match(a.stderr, why);
  }
});

test('started as the image starts it, an exponential regex the static check lets through cannot stall the agent', async (t) => {
  const { dir, c } = await setup(t);
  const log = join(dir, 'logs', 'app.log');
  await writeFile(log, '');
  const a = agent(t, {
    LOGFERRY_PATHS: `${dir}/logs/*.log`,
    LOGFERRY_ENDPOINT: c.url,
    LOGFERRY_STATE_DIR: join(dir, 'state'),
    LOGFERRY_DROP: '^(x+x+)+y$', // 2^n steps on "xxx...x" in a backtracking engine
  });
  await agentStarted(a);
  const long = 'x'.repeat(5000);
  await appendFile(log, `${long}\nafter\n`);
  await waitFor(() => c.records.some((r) => r.message === 'after'), { what: 'the line after the long one' });
  assert.ok(
    c.records.some((r) => r.message === long),
    'the long line is not dropped (it does not match)',
  );
  assert.ok(!a.stdout.includes('LOGFERRY_REGEX_UNGUARDED'), a.stdout);
});

test('without the node options, a user regex makes the agent warn once (LOGFERRY_REGEX_UNGUARDED) and ship', async (t) => {
  const { dir, c } = await setup(t);
  const log = join(dir, 'logs', 'app.log');
  await writeFile(log, '');
  const base = { LOGFERRY_PATHS: `${dir}/logs/*.log`, LOGFERRY_ENDPOINT: c.url };
  const unguarded = (l: Record<string, unknown>) => l.code === 'LOGFERRY_REGEX_UNGUARDED';

  const a = agent(
    t,
    {
      ...base,
      LOGFERRY_STATE_DIR: join(dir, 'state-a'),
      LOGFERRY_DROP: 'healthz',
      LOGFERRY_REDACT: 'regex:token=\\w+',
    },
    { regexGuard: false },
  );
  await agentStarted(a);
  await appendFile(log, 'GET /healthz\nplain line\n');
  await waitFor(() => c.records.some((r) => r.message === 'plain line'), { what: 'the plain line' });
  const warnings = a.logs().filter(unguarded);
  assert.equal(warnings.length, 1, a.stdout);
  assert.equal(warnings[0]!.level, 'warn');
  assert.match(String(warnings[0]!.msg), /linear-time fallback/);
  assert.match(
    String(warnings[0]!.nodeOptions),
    /--enable-experimental-regexp-engine-on-excessive-backtracks/,
  );
  assert.ok(!c.records.some((r) => r.message === 'GET /healthz'), 'the user regex still applies');
  a.kill('SIGKILL');
  await a.exited;

  // No user regex: nothing to warn about, flags or not.
  const b = agent(t, { ...base, LOGFERRY_STATE_DIR: join(dir, 'state-b') }, { regexGuard: false });
  await agentStarted(b);
  await appendFile(log, 'second line\n');
  await waitFor(() => c.records.some((r) => r.message === 'second line'), { what: 'the second line' });
  assert.equal(b.logs().filter(unguarded).length, 0, b.stdout);
});
