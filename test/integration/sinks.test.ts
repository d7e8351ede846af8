// The agent (a real child process) shipping to fake Loki, Elasticsearch, OTLP and Splunk HEC collectors on
// 127.0.0.1 that check each payload the way the real collector does, and answer with each protocol's own
// signals: Loki's 400 for out-of-order entries, Elasticsearch per-item 429 / mapping errors / 409, OTLP
// partial success and retryable codes, Splunk indexer acknowledgement. Plus auth from rotated secret files.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Agent } from '../helpers/agent.js';
import { checkpointOffset } from '../helpers/checkpoint-file.js';
import { type Rig, rig } from '../helpers/rig.js';
import {
  otlpRecords,
  startElasticsearch,
  startLoki,
  startOtlp,
  startSplunk,
} from '../helpers/sink-servers.js';
import { waitFor } from '../helpers/wait-for.js';

type TestContext = { after(fn: () => Promise<void>): void };

/** The fake servers in `closers` are closed after the agents are killed. */
function sinksRig(t: TestContext, closers: (() => Promise<void>)[]): Promise<Rig> {
  return rig(t, { prefix: 'logferry-sinks-', closers });
}

/** The lines of a Loki push request, in the order sent. */
function lokiLines(body: unknown): string[] {
  const doc = body as { streams?: { values?: [string, string, unknown?][] }[] };
  return (doc.streams ?? []).flatMap((s) => (s.values ?? []).map((v) => v[1]));
}

function tokens(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}-${randomUUID()}`);
}

/** Batches are sent concurrently: OTLP records ordered by the offset of their line, to compare with the file. */
function byOffset<R extends { attributes: Record<string, unknown> }>(records: R[]): R[] {
  return records.sort(
    (x, y) => Number(x.attributes['logferry.offset']) - Number(y.attributes['logferry.offset']),
  );
}

function checkpointOf(r: Rig): Promise<number> {
  return checkpointOffset(r.stateDir, r.logFile);
}

async function deadLetters(
  r: Rig,
): Promise<{ status: number; reason: string; record: { message: string } }[]> {
  try {
    return (await readFile(join(r.stateDir, 'dead-letter.ndjson'), 'utf8'))
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

async function stopCleanly(a: Agent): Promise<void> {
  a.kill('SIGTERM');
  assert.equal(await a.exited, 0, `agent did not stop cleanly: ${a.stdout.slice(-2000)}${a.stderr}`);
}

test('loki: streams by labels, tenant, structured metadata, strict per-stream order; 429 retried, out-of-order 400 dead-lettered and does not block', async (t) => {
  const loki = await startLoki();
  const r = await sinksRig(t, [() => loki.close()]);
  // Two equal lines in a row: Loki would drop the second as a duplicate if they had the same timestamp.
  const lines = [...tokens('loki', 200), 'same line', 'same line'];
  await writeFile(r.logFile, `${lines.join('\n')}\n`);
  let throttled = 0;
  loki.fault = () =>
    throttled++ < 2 ? { status: 429, headers: { 'retry-after': '0' }, body: 'rate limited' } : undefined;
  const a = await r.start({
    LOGFERRY_SINK: 'loki',
    LOGFERRY_ENDPOINT: loki.url,
    LOGFERRY_LOKI_TENANT: 'team-a',
    LOGFERRY_LABELS: 'app=shop,k8s.namespace=prod',
    LOGFERRY_BATCH_MAX_RECORDS: '50',
  });
  await waitFor(() => loki.entries.length >= lines.length, { what: 'all lines in Loki', timeoutMs: 20_000 });
  assert.deepEqual(loki.violations, []);
  assert.ok(throttled >= 2, 'the 429 answers were not retried');
  assert.deepEqual(
    loki.entries.map((e) => e.line),
    lines,
    'lines missing, duplicated or out of order',
  );
  for (const e of loki.entries) {
    assert.deepEqual(
      e.stream,
      { app: 'shop', k8s_namespace: 'prod' },
      'stream labels are the static labels only',
    );
    assert.equal(e.metadata?.filename, r.logFile);
    assert.match(e.metadata?.id ?? '', /^[0-9a-f]+:\d+$/);
  }
  assert.ok(
    loki.requests.every((q) => q.headers['x-scope-orgid'] === 'team-a'),
    'tenant header missing',
  );
  assert.ok(
    loki.requests.every((q) => q.headers['content-encoding'] === 'gzip'),
    'gzip is the default',
  );

  // Loki answers 400 "entry out of order" for a batch: not retried; Loki does not say which entries it
  // refused, so the whole batch is dead-lettered, the checkpoint moves past it and the lines behind it ship.
  // The refused request is recognised by its lines (the refused lines may span more than one request).
  let refusedBatch: string[] | null = null;
  let resent = 0;
  loki.fault = (body) => {
    const sent = lokiLines(body);
    if (refusedBatch === null) {
      refusedBatch = sent;
      return { status: 400, body: "entry with timestamp 1 ignored, reason: 'entry out of order'" };
    }
    if (sent.some((l) => refusedBatch!.includes(l))) resent++;
    return undefined;
  };
  const refusedLines = tokens('refused', 5);
  await appendFile(r.logFile, `${refusedLines.join('\n')}\n`);
  await waitFor(async () => (await checkpointOf(r)) === (await stat(r.logFile)).size, {
    what: 'checkpoint past the refused batch',
  });
  const refusedSent: string[] = refusedBatch ?? [];
  assert.ok(refusedSent.length > 0, 'no request was refused');
  assert.ok(
    refusedSent.every((l) => refusedLines.includes(l)),
    `the refused request held other lines: ${refusedSent.join(', ')}`,
  );
  assert.equal(resent, 0, 'the refused batch was re-sent');
  const dl = await deadLetters(r);
  assert.deepEqual(
    dl.map((d) => d.record.message),
    refusedSent,
    'the refused batch is in the dead-letter file, whole',
  );
  for (const d of dl) {
    assert.equal(d.status, 400);
    assert.match(d.reason, /out of order/);
  }
  // Refused lines that were in a later request (if any) were stored.
  const stored = new Set(loki.entries.map((e) => e.line));
  assert.deepEqual(
    refusedLines.filter((l) => !refusedSent.includes(l) && !stored.has(l)),
    [],
    'refused lines outside the refused request were lost',
  );
  const more = tokens('after', 30);
  await appendFile(r.logFile, `${more.join('\n')}\n`);
  await waitFor(() => loki.entries.some((e) => e.line === more.at(-1)), {
    what: 'lines after the refused batch',
  });
  assert.deepEqual(
    loki.entries.slice(-more.length).map((e) => e.line),
    more,
  );
  assert.ok(
    a.logs().some((l) => l.code === 'LOGFERRY_COLLECTOR_DROPPED'),
    'the dropped entries were not reported',
  );
  assert.equal(
    (await deadLetters(r)).length,
    refusedSent.length,
    'lines after the refused batch were dead-lettered',
  );
  await stopCleanly(a);
});

test('loki: Kubernetes Downward API variables become stream labels, under the static labels (which win)', async (t) => {
  const loki = await startLoki();
  const r = await sinksRig(t, [() => loki.close()]);
  const lines = tokens('k8s', 20);
  await writeFile(r.logFile, `${lines.join('\n')}\n`);
  const a = await r.start({
    LOGFERRY_SINK: 'loki',
    LOGFERRY_ENDPOINT: loki.url,
    LOGFERRY_LABELS: 'app=shop,container=from-static',
    POD_NAME: 'web-7d4f9-x2k8q',
    POD_NAMESPACE: 'payments',
    MY_NODE_NAME: 'node-3',
    CONTAINER_NAME: 'app',
  });
  await waitFor(() => loki.entries.length >= lines.length, { what: 'all lines in Loki' });
  assert.deepEqual(loki.violations, []);
  assert.deepEqual(
    loki.entries.map((e) => e.line),
    lines,
  );
  for (const e of loki.entries) {
    assert.deepEqual(e.stream, {
      app: 'shop',
      pod: 'web-7d4f9-x2k8q',
      namespace: 'payments',
      node: 'node-3',
      container: 'from-static',
    });
  }
  await stopCleanly(a);
});

test('elasticsearch: create + _id pairs; per-item 429 retried alone, mapping error dead-lettered, 409 counted as delivered', async (t) => {
  const es = await startElasticsearch();
  const r = await sinksRig(t, [() => es.close()]);
  const lines = tokens('es', 60);
  lines[10] = `{"poison": ${randomUUID()}}`;
  await writeFile(r.logFile, `${lines.join('\n')}\n`);
  const throttledOnce = new Set<string>();
  es.itemFault = (doc) => {
    const msg = String(doc.source.message);
    if (msg.startsWith('{"poison"')) {
      return {
        status: 400,
        error: {
          type: 'document_parsing_exception',
          reason: '[1:11] failed to parse field [poison] of type [long]',
        },
      };
    }
    // Every third document is refused once with 429 (es_rejected_execution_exception).
    if (Number(msg.split('-')[1]) % 3 === 0 && !throttledOnce.has(doc.id)) {
      throttledOnce.add(doc.id);
      return {
        status: 429,
        error: { type: 'es_rejected_execution_exception', reason: 'rejected execution' },
      };
    }
    return undefined;
  };
  const a = await r.start({
    LOGFERRY_SINK: 'elasticsearch',
    LOGFERRY_ENDPOINT: `${es.url}/`,
    LOGFERRY_ES_INDEX: 'logs-app-%Y.%m.%d',
    LOGFERRY_LABELS: 'env=test',
    LOGFERRY_BATCH_MAX_RECORDS: '1000',
  });
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOf(r)) === size, {
    what: 'checkpoint at the end',
    timeoutMs: 20_000,
  });
  assert.deepEqual(es.violations, []);
  const stored = [...es.docs.values()];
  assert.equal(stored.length, lines.length - 1, 'every line but the poison one is indexed, once');
  const today = new Date().toISOString().slice(0, 10).replace(/-/g, '.');
  for (const d of stored) {
    assert.match(d.index, /^logs-app-\d{4}\.\d{2}\.\d{2}$/);
    assert.ok(d.index === `logs-app-${today}` || d.index < `logs-app-${today}`, d.index);
    assert.match(d.id, /^[0-9a-f]+:\d+$/);
    assert.equal((d.source.log as { file: { path: string } }).file.path, r.logFile);
    assert.deepEqual(d.source.labels, { env: 'test' });
  }
  // The retry requests held only the throttled documents.
  const retried = es.bulks.slice(1).flat();
  assert.ok(retried.length > 0, 'no retry request');
  assert.ok(
    retried.every((d) => throttledOnce.has(d.id)),
    `a retry request re-sent documents that were stored: ${retried.map((d) => d.source.message).join(', ')}`,
  );
  const dl = await deadLetters(r);
  assert.equal(dl.length, 1, `dead-letter: ${JSON.stringify(dl)}`);
  assert.equal(dl[0]!.record.message, lines[10]);
  assert.equal(dl[0]!.status, 400);
  assert.match(dl[0]!.reason, /document_parsing_exception/);
  await stopCleanly(a);

  // Redelivery (checkpoints lost): every `create` answers 409, which counts as delivered, nothing doubles.
  await rename(join(r.stateDir, 'checkpoints.json'), join(r.dir, 'old-checkpoints.json'));
  es.itemFault = (doc) =>
    String(doc.source.message).startsWith('{"poison"')
      ? {
          status: 400,
          error: { type: 'document_parsing_exception', reason: 'failed to parse field [poison]' },
        }
      : undefined;
  const requestsBefore = es.requests.length;
  const b = await r.start({
    LOGFERRY_SINK: 'elasticsearch',
    LOGFERRY_ENDPOINT: es.url,
    LOGFERRY_ES_INDEX: 'logs-app-%Y.%m.%d',
    LOGFERRY_LABELS: 'env=test',
  });
  await waitFor(async () => (await checkpointOf(r)) === size, { what: 'checkpoint after redelivery' });
  assert.ok(es.requests.length > requestsBefore, 'nothing was re-sent');
  assert.equal(es.docs.size, lines.length - 1, 'redelivery created documents twice');
  await stopCleanly(b);
});

for (const encoding of ['protobuf', 'json'] as const) {
  test(`otlp (${encoding}): decoded with the generated OTLP classes; k8s resource attributes; 503 retried, partial success reported and dead-lettered`, async (t) => {
    const otlp = await startOtlp();
    const r = await sinksRig(t, [() => otlp.close()]);
    const lines = [...tokens(`otlp-${encoding}`, 80), 'ünïcødé ✓ line'];
    await writeFile(r.logFile, `${lines.join('\n')}\n`);
    let calls = 0;
    let partial: string[] = [];
    otlp.fault = (_req, decoded) => {
      calls++;
      if (calls === 1) return { status: 503, headers: { 'retry-after': '0' }, body: '' };
      // The first request of several records after the 503, whichever order the batches arrive in: one that
      // rejects the lone record of the last batch rejects all it holds, a refusal sent again (test below).
      const recs = otlpRecords([decoded]);
      if (partial.length === 0 && recs.length > 1) {
        partial = recs.map((x) => x.body);
        return { rejected: 1, message: 'one record over the size limit' };
      }
      return undefined;
    };
    const a = await r.start({
      LOGFERRY_SINK: 'otlp',
      LOGFERRY_ENDPOINT: otlp.url,
      LOGFERRY_OTLP_ENCODING: encoding,
      LOGFERRY_LABELS: 'namespace=shop,pod=web-7d4f,container=app,team=payments',
      LOGFERRY_COMPRESSION: encoding === 'json' ? 'none' : 'gzip',
      LOGFERRY_BATCH_MAX_RECORDS: '40',
    });
    const size = (await stat(r.logFile)).size;
    await waitFor(async () => (await checkpointOf(r)) === size, { what: 'checkpoint at the end' });
    assert.deepEqual(otlp.violations, []);
    const recs = byOffset(otlpRecords(otlp.exports));
    assert.deepEqual(
      recs.map((x) => x.body),
      lines,
      'records missing or out of order',
    );
    for (const x of recs) {
      assert.equal(x.resource['k8s.namespace.name'], 'shop');
      assert.equal(x.resource['k8s.pod.name'], 'web-7d4f');
      assert.equal(x.resource['k8s.container.name'], 'app');
      assert.equal(x.resource.team, 'payments');
      assert.equal(x.attributes['log.file.path'], r.logFile);
      assert.match(String(x.attributes['log.record.uid']), /^[0-9a-f]+:\d+$/);
      assert.ok(BigInt(x.observed) > 1_600_000_000_000_000_000n, `observed time ${x.observed}`);
    }
    assert.equal(Number(recs[0]!.attributes['logferry.offset']), 0);
    assert.equal(
      recs.length,
      new Set(recs.map((x) => x.attributes['log.record.uid'])).size,
      'a record was sent twice',
    );
    const ct = encoding === 'json' ? 'application/json' : 'application/x-protobuf';
    assert.ok(otlp.requests.every((q) => q.headers['content-type'] === ct));
    assert.ok(
      a
        .logs()
        .some(
          (l) =>
            l.code === 'LOGFERRY_COLLECTOR_DROPPED' &&
            /one record over the size limit/.test(String(l.reason)),
        ),
      'partial success not reported',
    );
    // Which record was rejected is not said: the batch answered with partial success is dead-lettered whole
    // (its records were stored too), and the checkpoint moved past it (above).
    assert.ok(partial.length > 0, 'no request was answered with partial success');
    const dl = await deadLetters(r);
    assert.deepEqual(
      dl.map((d) => d.record.message),
      partial,
      'the partially accepted batch is not in the dead-letter file, whole',
    );
    for (const d of dl) {
      assert.equal(d.status, 200);
      assert.match(d.reason, /one record over the size limit/);
    }
    assert.ok(
      a.logs().some((l) => l.code === 'LOGFERRY_SEND_RETRY' && l.reason === 'HTTP 503'),
      '503 not retried',
    );
    await stopCleanly(a);
  });
}

test('otlp: a partial success rejecting every record of a request stored none of them: they are sent again and stored once', async (t) => {
  const otlp = await startOtlp();
  const r = await sinksRig(t, [() => otlp.close()]);
  // 41 lines in batches of 40: the lone record of the second batch is rejected once, as when its request is
  // the one a collector answers with a partial success while the first batch's request is in flight.
  const lines = tokens('otlp-all-rejected', 41);
  await writeFile(r.logFile, `${lines.join('\n')}\n`);
  let loneSent = 0;
  otlp.fault = (_req, decoded) => {
    if (otlpRecords([decoded]).length !== 1) return undefined;
    return loneSent++ === 0 ? { rejected: 1, message: 'one record over the size limit' } : undefined;
  };
  await r.start({
    LOGFERRY_SINK: 'otlp',
    LOGFERRY_ENDPOINT: otlp.url,
    LOGFERRY_BATCH_MAX_RECORDS: '40',
  });
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOf(r)) === size, { what: 'checkpoint at the end' });
  assert.deepEqual(otlp.violations, []);
  assert.equal(loneSent, 2, 'the rejected record was not sent again (or sent more than once again)');
  assert.deepEqual(
    byOffset(otlpRecords(otlp.exports)).map((x) => x.body),
    lines,
    'records missing, stored twice or out of order',
  );
  assert.deepEqual(await deadLetters(r), [], 'a record stored on its second sending was dead-lettered');
});

test('otlp: a 500 is retried until accepted (the contract, wider than the OTLP list); a record answered 400 is isolated and dead-lettered', async (t) => {
  const otlp = await startOtlp();
  const r = await sinksRig(t, [() => otlp.close()]);
  const status = (message: string) =>
    // google.rpc.Status { message = 2 }, in the request's encoding
    Buffer.concat([Buffer.from([0x12, message.length]), Buffer.from(message)]);
  // Phase 1: two 500s, then accepted. Nothing may be dead-lettered.
  const retried = tokens('otlp-500', 5);
  await writeFile(r.logFile, `${retried.join('\n')}\n`);
  let calls = 0;
  otlp.fault = () =>
    calls++ < 2
      ? { status: 500, headers: { 'content-type': 'application/x-protobuf' }, body: status('boom') }
      : undefined;
  const a = await r.start({ LOGFERRY_SINK: 'otlp', LOGFERRY_ENDPOINT: `${otlp.url}/v1/logs` });
  const size1 = (await stat(r.logFile)).size;
  // Also ends on a dead letter, so that a 500 set aside fails at once with the assertion below.
  await waitFor(async () => (await checkpointOf(r)) === size1 || (await deadLetters(r)).length > 0, {
    what: 'checkpoint after the 500s',
  });
  assert.deepEqual(await deadLetters(r), [], 'a 500 was dead-lettered');
  assert.deepEqual(otlp.violations, []);
  assert.ok(calls >= 3, 'the 500 was not retried until accepted');
  assert.deepEqual(
    byOffset(otlpRecords(otlp.exports)).map((x) => x.body),
    retried,
    'lines answered 500 were not delivered',
  );
  assert.ok(
    a.logs().some((l) => l.code === 'LOGFERRY_SEND_RETRY' && l.reason === 'HTTP 500' && l.detail === 'boom'),
    '500 retry (with the google.rpc.Status message) not logged',
  );
  // Phase 2: a 400 for one record: the batch is split until it stands alone, its neighbours are delivered,
  // and only it is set aside (a collector that 400s every record holds delivery instead: refusals.test.ts).
  const requestsBefore = otlp.requests.length;
  const POISON = `otlp-400-poison-${randomUUID()}`;
  const neighbours = tokens('otlp-400-ok', 2);
  otlp.fault = (_req, decoded) =>
    otlpRecords([decoded]).some((x) => x.body === POISON)
      ? { status: 400, headers: { 'content-type': 'application/x-protobuf' }, body: status('bad data') }
      : undefined;
  await appendFile(r.logFile, `${[neighbours[0], POISON, neighbours[1]].join('\n')}\n`);
  const size2 = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOf(r)) === size2, {
    what: 'checkpoint past the refused record',
  });
  assert.ok(otlp.requests.length - requestsBefore >= 3, 'the refused batch was not split');
  const stored = otlpRecords(otlp.exports).map((x) => x.body);
  for (const n of neighbours)
    assert.ok(stored.includes(n), `neighbour ${n} of the refused record was not delivered`);
  assert.ok(!stored.includes(POISON));
  const dl = await deadLetters(r);
  assert.deepEqual(
    dl.map((d) => d.record.message),
    [POISON],
  );
  assert.equal(dl[0]!.status, 400);
  assert.match(dl[0]!.reason, /bad data/, 'the google.rpc.Status message was not read');
  await stopCleanly(a);
});

test('splunk: HEC token, events, indexer acknowledgement gates the checkpoint; a lost ack re-sends', async (t) => {
  const hec = await startSplunk('hec-secret-token', true);
  const r = await sinksRig(t, [() => hec.close()]);
  const lines = tokens('hec', 40);
  await writeFile(r.logFile, `${lines.join('\n')}\n`);
  // Not indexed until the test says so.
  let indexing = false;
  hec.indexed = () => indexing;
  const a = await r.start({
    LOGFERRY_SINK: 'splunk',
    LOGFERRY_ENDPOINT: hec.url,
    LOGFERRY_SPLUNK_TOKEN: 'hec-secret-token',
    LOGFERRY_SPLUNK_ACK: 'true',
    LOGFERRY_SPLUNK_INDEX: 'main',
    LOGFERRY_SPLUNK_SOURCETYPE: 'logferry',
    LOGFERRY_SPLUNK_ACK_TIMEOUT_MS: '1500',
    LOGFERRY_LABELS: 'env=prod',
  });
  await waitFor(() => hec.received.length >= lines.length && hec.ackQueries >= 2, {
    what: 'events received, acks polled',
  });
  assert.ok((await checkpointOf(r)) <= 0, 'checkpoint moved before the indexer acknowledged');
  // The ack never came in time: the agent sends the batch again (at least once).
  await waitFor(() => hec.received.length >= 2 * lines.length, { what: 'resend after the ack timeout' });
  indexing = true;
  const size = (await stat(r.logFile)).size;
  await waitFor(async () => (await checkpointOf(r)) === size, { what: 'checkpoint after the ack' });
  assert.deepEqual(hec.violations, []);
  assert.deepEqual([...new Set(hec.events.map((e) => e.event))], lines);
  for (const e of hec.events) {
    assert.equal(e.source, r.logFile);
    assert.equal(e.index, 'main');
    assert.equal(e.sourcetype, 'logferry');
    assert.deepEqual(e.fields, { env: 'prod' });
    assert.ok(typeof e.time === 'number' && e.time > 1_600_000_000);
  }
  assert.ok(a.logs().some((l) => l.code === 'LOGFERRY_ACK_TIMEOUT'));
  assert.ok(!a.stdout.includes('hec-secret-token'), 'the token was logged');
  await stopCleanly(a);
});

test('auth: bearer token from a file is re-read when the Secret changes; extra headers; basic auth', async (t) => {
  const loki = await startLoki();
  const r = await sinksRig(t, [() => loki.close()]);
  const tokenFile = join(r.dir, 'token');
  await writeFile(tokenFile, 'first-token\n');
  let accepted = 'Bearer first-token';
  loki.fault = (_b, req) =>
    req.headers.authorization === accepted ? undefined : { status: 401, body: 'invalid token' };
  const a = await r.start({
    LOGFERRY_SINK: 'loki',
    LOGFERRY_ENDPOINT: loki.url,
    LOGFERRY_BEARER_TOKEN_FILE: tokenFile,
    LOGFERRY_HEADERS: 'X-Team=payments,X-Env=dev',
    LOGFERRY_LOG_LEVEL: 'debug',
  });
  const first = tokens('auth1', 10);
  await writeFile(r.logFile, `${first.join('\n')}\n`);
  await waitFor(() => loki.entries.length >= first.length, { what: 'lines with the first token' });
  // The Secret is updated (Kubernetes swaps the file); the server accepts only the new token from now on.
  await writeFile(`${tokenFile}.new`, 'second-token\n');
  await rename(`${tokenFile}.new`, tokenFile);
  accepted = 'Bearer second-token';
  const second = tokens('auth2', 10);
  await appendFile(r.logFile, `${second.join('\n')}\n`);
  await waitFor(() => loki.entries.length >= first.length + second.length, {
    what: 'lines with the new token',
  });
  assert.deepEqual(
    loki.entries.map((e) => e.line),
    [...first, ...second],
  );
  assert.deepEqual(await deadLetters(r), [], 'a rotated token dead-lettered lines');
  const last = loki.requests.at(-1)!;
  assert.equal(last.headers['x-team'], 'payments');
  assert.equal(last.headers['x-env'], 'dev');
  for (const secret of ['first-token', 'second-token'])
    assert.ok(!a.stdout.includes(secret), `${secret} was logged`);
  await stopCleanly(a);

  // Basic auth with the password from a file.
  const pwFile = join(r.dir, 'password');
  await writeFile(pwFile, 's3cret\n');
  accepted = `Basic ${Buffer.from('shipper:s3cret').toString('base64')}`;
  const b = await r.start({
    LOGFERRY_SINK: 'loki',
    LOGFERRY_ENDPOINT: loki.url,
    LOGFERRY_BASIC_AUTH_USER: 'shipper',
    LOGFERRY_BASIC_AUTH_PASSWORD_FILE: pwFile,
  });
  const third = tokens('basic', 5);
  await appendFile(r.logFile, `${third.join('\n')}\n`);
  await waitFor(() => loki.entries.some((e) => e.line === third[4]), { what: 'lines with basic auth' });
  assert.ok(!b.stdout.includes('s3cret'), 'the password was logged');
  await stopCleanly(b);
});
