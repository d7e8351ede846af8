// Filters, redaction and the rate limit through the real agent (child process), real files and a real
// collector: secrets cut by read-chunk boundaries and by a file written in pieces, inside multiline
// records and in the dead-letter file; dropped records move the checkpoint to the file's end; a throttled
// file delivers every line, later; drop mode sends its summary; bad rules exit 2.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { startSampleApp } from '../../examples/sample-app.js';
import { luhnValid } from '../../src/filter/redact.js';
import { MAIN, startAgent } from '../helpers/agent.js';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import { rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);

function metric(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null))?.text() ?? '';
}

type Rec = { message: string; offset: number; id: string; fields?: Record<string, unknown> };

/** A Luhn-valid 16-digit Visa number from a seed. */
function card(seed: number): string {
  const body = `4${String(seed * 7919 + 123456789)
    .padStart(14, '0')
    .slice(-14)}`;
  for (let d = 0; d <= 9; d++) if (luhnValid(body + d)) return body + d;
  throw new Error('unreachable');
}

const JWT = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"42","name":"ann"}').toString('base64url')}.c2lnbmF0dXJl`;
const AWS = 'AKIAQWERTYUIOPASDFGH';
const PEM_BODY = ['MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi', 'Z1BjP5CE8Wm9Rr500PqweRTYuiopASDF'];

test('secrets are redacted across read-chunk boundaries, in a file written in pieces, in multiline records', async (t) => {
  const r = await rig(t, { prefix: 'logferry-redact-', withHealthPort: true });
  // Lines of random lengths put secrets across 4 KiB read chunks; written in random pieces, each read
  // before the next is written, so lines are also cut where the writer paused.
  const sample = fc.sample(
    fc.record({
      pad: fc.integer({ min: 0, max: 3000 }),
      kind: fc.constantFrom('card', 'spaced', 'jwt', 'aws', 'bearer'),
      seed: fc.nat(1_000_000),
    }),
    { numRuns: 40, seed: 14 },
  );
  const secrets: string[] = [];
  const lines = sample.map(({ pad, kind, seed }, i) => {
    const c = card(seed);
    const secret =
      kind === 'card'
        ? c
        : kind === 'spaced'
          ? (c.match(/.{4}/g) ?? []).join(' ')
          : kind === 'jwt'
            ? JWT
            : kind === 'aws'
              ? AWS
              : `Bearer tok${seed}SECRETVALUE`;
    secrets.push(kind === 'bearer' ? `tok${seed}SECRETVALUE` : secret);
    return `REC ${i} ${'.'.repeat(pad)} paid ${secret} done`;
  });
  // A multiline record with a private key inside.
  lines.push(
    `REC key loaded:\n-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY.join('\n')}\n-----END RSA PRIVATE KEY-----`,
  );
  lines.push('REC last');
  const text = `${lines.join('\n')}\n`;
  const cuts = [
    ...new Set(fc.sample(fc.integer({ min: 1, max: text.length - 1 }), { numRuns: 12, seed: 7 })),
  ].sort((a, b) => a - b);
  await writeFile(r.logFile, '');
  await r.start({
    LOGFERRY_REDACT: 'default',
    LOGFERRY_READ_CHUNK_BYTES: '4096',
    LOGFERRY_MULTILINE: '^REC ',
    LOGFERRY_MULTILINE_TIMEOUT_MS: '5000',
    LOGFERRY_COMPRESSION: 'none',
  });
  let at = 0;
  for (const cut of [...cuts, text.length]) {
    await appendFile(r.logFile, text.slice(at, cut));
    at = cut;
    const size = Buffer.byteLength(text.slice(0, cut));
    await waitFor(
      async () => metric(await metrics(r.port), `logferry_bytes_read_total{file="${r.logFile}"}`) === size,
      { what: `the agent to read ${size} bytes` },
    );
  }
  await waitFor(() => r.c.records.some((x) => x.message === 'REC last'), { what: 'the last record' });
  const got = r.c.records as unknown as Rec[];
  assert.equal(got.length, lines.length, got.map((x) => x.message.slice(0, 30)).join('\n'));
  for (const rec of got) {
    for (const s of [...secrets, ...PEM_BODY])
      assert.ok(!rec.message.includes(s), `leaked in ${rec.message}`);
  }
  for (let i = 0; i < sample.length; i++) {
    const kind = sample[i]!.kind;
    const rule =
      kind === 'spaced' ? 'credit-card' : kind === 'card' ? 'credit-card' : kind === 'aws' ? 'aws-key' : kind;
    assert.ok(
      got[i]!.message.endsWith(`paid ${kind === 'bearer' ? 'Bearer ' : ''}[REDACTED:${rule}] done`),
      got[i]!.message,
    );
  }
  assert.equal(got[sample.length]!.message, 'REC key loaded:\n[REDACTED:private-key]');
  const m = await metrics(r.port);
  assert.equal(metric(m, 'logferry_redactions_total{rule="private-key"}'), 1);
  assert.ok((metric(m, 'logferry_redactions_total{rule="credit-card"}') ?? 0) > 0);
});

test('the dead-letter file gets redacted records', async (t) => {
  const r = await rig(t, { prefix: 'logferry-redact-dlq-' });
  const c = card(5);
  await writeFile(r.logFile, `fine ${c}\npoison ${c}\nfine again\n`);
  r.c.fault = (_req, recs) =>
    recs.some((x) => x.message.startsWith('poison')) ? { status: 400 } : undefined;
  await r.start({ LOGFERRY_REDACT: 'credit-card', LOGFERRY_BATCH_MAX_RECORDS: '1' });
  const dlq = join(r.stateDir, 'dead-letter.ndjson');
  let tick = 0;
  await waitFor(
    async () => {
      // A lone refused record is set aside once a request sent after it was accepted: keep lines coming.
      await appendFile(r.logFile, `tick ${tick++}\n`);
      return (await readFile(dlq, 'utf8').catch(() => '')).includes('poison');
    },
    { what: 'the dead-lettered record' },
  );
  const others = () => r.c.records.filter((x) => !x.message.startsWith('tick'));
  await waitFor(() => others().length === 2, { what: 'the other two records' });
  const dead = await readFile(dlq, 'utf8');
  assert.ok(!dead.includes(c), dead);
  assert.match(dead, /poison \[REDACTED:credit-card\]/);
  assert.equal(others()[0]!.message, 'fine [REDACTED:credit-card]');
});

test('dropped records move the checkpoint exactly, to the end of the file when the last records are dropped', async (t) => {
  const r = await rig(t, { prefix: 'logferry-drop-', withHealthPort: true });
  const line = (level: string, path: string, i: number) => JSON.stringify({ level, path, msg: `m${i}` });
  const lines = [
    line('info', '/api', 0),
    line('info', '/healthz', 1),
    line('debug', '/api', 2),
    line('error', '/api', 3),
    line('info', '/healthz', 4),
    line('trace', '/api', 5),
    line('debug', '/api', 6),
  ];
  await writeFile(r.logFile, `${lines.join('\n')}\n`);
  await r.start({
    LOGFERRY_PARSER: 'json',
    LOGFERRY_DROP: 'path=^/healthz$',
    LOGFERRY_MIN_LEVEL: 'info',
  });
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === size, {
    what: 'the checkpoint at the end of the file',
  });
  assert.deepEqual(
    (r.c.records as unknown as Rec[]).map((x) => (x.fields as { msg: string }).msg),
    ['m0', 'm3'],
  );
  const m = await metrics(r.port);
  assert.equal(metric(m, 'logferry_records_dropped_total{rule="drop"}'), 2);
  assert.equal(metric(m, 'logferry_records_dropped_total{rule="min_level"}'), 3);
  assert.equal(metric(m, `logferry_file_records_dropped_total{file="${r.logFile}"}`), 5);
  // More lines, the last one dropped: the checkpoint follows to the new end.
  await appendFile(r.logFile, `${line('warn', '/api', 7)}\n${line('debug', '/api', 8)}\n`);
  const size2 = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === size2, {
    what: 'the checkpoint at the new end',
  });
  assert.equal(r.c.records.length, 3);
});

test('a throttled file delivers every line, later; the lag shows in /metrics and `logferry status`', async (t) => {
  const r = await rig(t, { prefix: 'logferry-throttle-', withHealthPort: true });
  const N = 1000;
  await writeFile(r.logFile, Array.from({ length: N }, (_, i) => `line ${i} ${'x'.repeat(40)}\n`).join(''));
  const started = Date.now();
  await r.start({ LOGFERRY_RATE_LIMIT: '250,burst=250' });
  const arrivals: number[] = [];
  let seen = 0;
  let throttledSeen = false;
  let statusOut = '';
  await waitFor(
    async () => {
      while (seen < r.c.records.length) {
        arrivals.push(Date.now());
        seen++;
      }
      if (!throttledSeen) {
        const m = await metrics(r.port);
        // `status` lists the files of the checkpoint: asked once this one has an entry there.
        if (
          metric(m, `logferry_file_rate_limited{file="${r.logFile}"}`) === 1 &&
          (await checkpointOffset(r.stateDir, r.logFile)) > 0
        ) {
          throttledSeen = true;
          assert.ok(
            (metric(m, `logferry_file_lag_bytes{file="${r.logFile}"}`) ?? 0) > 0,
            'no lag while throttled',
          );
          statusOut = (
            await run(process.execPath, [MAIN, 'status'], { env: { ...r.env(), PATH: process.env.PATH } })
          ).stdout;
        }
      }
      return r.c.ids.size >= N;
    },
    { what: 'every line', timeoutMs: 30_000, intervalMs: 50 },
  );
  const offsets = new Set((r.c.records as unknown as Rec[]).map((x) => x.offset));
  assert.equal(offsets.size, N, 'a line is missing');
  // 1000 lines at 250 per second after a burst of 250: about 3 s; not all of it at once.
  const took = Date.now() - started;
  assert.ok(took >= 2500, `all lines delivered in ${took} ms`);
  assert.ok(throttledSeen, 'the file was never shown as rate-limited');
  assert.match(statusOut, /rate-limited/);
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === size, { what: 'checkpoint' });
});

test('rate limit drop mode: excess lines dropped, summaries say how many, the checkpoint reaches the end', async (t) => {
  const r = await rig(t, { prefix: 'logferry-ratedrop-', withHealthPort: true });
  const N = 2000;
  await writeFile(r.logFile, Array.from({ length: N }, (_, i) => `line ${i}\n`).join(''));
  await r.start({ LOGFERRY_RATE_LIMIT: '100,burst=100', LOGFERRY_RATE_LIMIT_MODE: 'drop' });
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOffset(r.stateDir, r.logFile)) === size, { what: 'checkpoint' });
  const got = r.c.records as unknown as Rec[];
  const summaries = got.filter((x) => x.fields?.dropped !== undefined);
  const kept = got.filter((x) => x.fields?.dropped === undefined);
  assert.ok(summaries.length >= 1, 'no summary');
  const dropped = summaries.reduce((n, s) => n + (s.fields!.dropped as number), 0);
  assert.equal(kept.length + dropped, N, `kept ${kept.length}, dropped ${dropped}`);
  assert.ok(kept.length >= 100 && kept.length < N, `kept ${kept.length}`);
  assert.match(summaries[0]!.message, /dropped over LOGFERRY_RATE_LIMIT/);
  const m = await metrics(r.port);
  assert.equal(metric(m, 'logferry_records_dropped_total{rule="rate_limit"}'), dropped);
});

test('a bad rule name or regex is a configuration error naming the variable (exit 2)', async (t) => {
  const r = await rig(t, { prefix: 'logferry-filter-config-' });
  for (const [variable, value, why] of [
    ['LOGFERRY_REDACT', 'credit-card,ssn', /unknown rule "ssn"/],
    ['LOGFERRY_REDACT', 'regex:(?<=a)b', /backtrack without bound/],
    ['LOGFERRY_DROP', '(a)\\1', /backtrack without bound/],
    ['LOGFERRY_KEEP', 'level=([a-', /not a valid regular expression/],
    ['LOGFERRY_MIN_LEVEL', 'loud', /must be one of/],
    ['LOGFERRY_RATE_LIMIT', 'fast', /lines per second/],
    ['LOGFERRY_RATE_LIMIT_MODE', 'slow', /must be one of wait, drop/],
  ] as const) {
    const a = startAgent({ ...r.env(), [variable]: value });
    assert.equal(await a.exited, 2, `${variable}: ${a.stderr}`);
    assert.match(a.stderr, new RegExp(variable));
    assert.match(a.stderr, why);
  }
});

test("the demo's sample app leaks a card number and a bearer token; with LOGFERRY_REDACT=default they arrive redacted", async (t) => {
  const r = await rig(t, { prefix: 'logferry-demo-redact-' });
  const stop = startSampleApp(r.logDir, { intervalMs: 5 });
  t.after(stop);
  await r.start({ LOGFERRY_REDACT: 'default', LOGFERRY_MULTILINE: 'timestamp' });
  await waitFor(() => r.c.records.filter((x) => x.message.includes('[REDACTED:')).length >= 6, {
    what: 'redacted records',
  });
  stop();
  const messages = r.c.records.map((x) => x.message);
  assert.ok(messages.some((m) => m.includes('card=[REDACTED:credit-card]')));
  assert.ok(messages.some((m) => m.includes('authorization="Bearer [REDACTED:bearer]"')));
  for (const m of messages) assert.ok(!/card=\d|Bearer ey/.test(m), m);
});
