// Auth and TLS settings: Credentials (extra headers, bearer, basic, Splunk token, secrets from files re-read
// when they change), the configuration's checks of the new variables, and redaction of secrets in logs.
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { Credentials } from '../../src/send/auth.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { tempDir } from '../helpers/agent.js';
import { configProblems as problems } from '../helpers/config-problems.js';
import { HTTPS_BASE, NO_AUTH } from '../helpers/no-auth.js';

const silent = pino({ level: 'silent' });

test('headers: extra headers, then one Authorization: bearer, basic or Splunk', () => {
  assert.deepEqual(new Credentials({ ...NO_AUTH, headers: { 'x-team': 'a' } }, silent).headers(), {
    'x-team': 'a',
  });
  assert.deepEqual(new Credentials({ ...NO_AUTH, bearerToken: 'tok' }, silent).headers(), {
    authorization: 'Bearer tok',
  });
  assert.deepEqual(
    new Credentials({ ...NO_AUTH, basicAuthUser: 'u', basicAuthPassword: 'p:w' }, silent).headers(),
    { authorization: `Basic ${Buffer.from('u:p:w').toString('base64')}` },
  );
  assert.deepEqual(new Credentials({ ...NO_AUTH, splunkToken: 'hec' }, silent).headers(), {
    authorization: 'Splunk hec',
  });
});

test('a secret file is read trimmed, and re-read when the file is replaced (a Kubernetes Secret update)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'token');
  await writeFile(file, 'one\n');
  const c = new Credentials({ ...NO_AUTH, bearerTokenFile: file }, silent);
  assert.equal(c.headers().authorization, 'Bearer one');
  assert.equal(await c.refresh(true), false, 'unchanged file reported as changed');
  await writeFile(`${file}.tmp`, 'two\n');
  await rename(`${file}.tmp`, file);
  assert.equal(await c.refresh(true), true);
  assert.equal(c.headers().authorization, 'Bearer two');
  // An empty or vanished file keeps the last good value.
  await writeFile(file, '');
  assert.equal(await c.refresh(true), false);
  await rename(file, `${file}.gone`);
  assert.equal(await c.refresh(true), false);
  assert.equal(c.headers().authorization, 'Bearer two');
});

test('config: the new variables parse, with their defaults', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'secret');
  await writeFile(f, 'x');
  const d = loadConfig(HTTPS_BASE);
  assert.deepEqual(d.headers, {});
  assert.equal(d.tlsInsecureSkipVerify, false);
  assert.equal(d.esIndex, 'logferry-%Y.%m.%d');
  assert.equal(d.otlpEncoding, 'protobuf');
  assert.equal(d.splunkAck, false);
  const c = loadConfig({
    ...HTTPS_BASE,
    LOGFERRY_SINK: 'splunk',
    LOGFERRY_HEADERS: 'X-Team = payments , X-Env=dev=1',
    LOGFERRY_SPLUNK_TOKEN_FILE: f,
    LOGFERRY_SPLUNK_ACK: 'TRUE',
    LOGFERRY_TLS_CA_FILE: f,
    LOGFERRY_TLS_CERT_FILE: f,
    LOGFERRY_TLS_KEY_FILE: f,
    LOGFERRY_TLS_SERVER_NAME: 'collector.internal',
    LOGFERRY_OTLP_ENCODING: 'JSON',
    LOGFERRY_ES_INDEX: 'logs-app-default',
  });
  assert.deepEqual(c.headers, { 'x-team': 'payments', 'x-env': 'dev=1' });
  assert.equal(c.splunkAck, true);
  assert.equal(c.tlsServerName, 'collector.internal');
  assert.equal(c.otlpEncoding, 'json');
  assert.equal(c.esIndex, 'logs-app-default');
});

test('config: contradictions and unreadable files are errors naming the variable; secrets are not echoed', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'secret');
  await writeFile(f, 'x');
  const p = problems({
    ...HTTPS_BASE,
    LOGFERRY_ENDPOINT: 'http://collector/',
    LOGFERRY_BEARER_TOKEN: 'super-secret-value',
    LOGFERRY_BEARER_TOKEN_FILE: f,
    LOGFERRY_TLS_CERT_FILE: f,
  });
  assert.match(p.LOGFERRY_BEARER_TOKEN_FILE!, /either LOGFERRY_BEARER_TOKEN or LOGFERRY_BEARER_TOKEN_FILE/);
  assert.match(p.LOGFERRY_TLS_KEY_FILE!, /needs both/);
  assert.match(p.LOGFERRY_ENDPOINT!, /https:\/\//);
  assert.ok(!JSON.stringify(p).includes('super-secret-value'));
  assert.match(problems({ ...HTTPS_BASE, LOGFERRY_SINK: 'splunk' }).LOGFERRY_SPLUNK_TOKEN!, /required/);
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_SPLUNK_TOKEN: 't' }).LOGFERRY_SPLUNK_TOKEN!,
    /only used with/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_BASIC_AUTH_PASSWORD: 'p' }).LOGFERRY_BASIC_AUTH_USER!,
    /required/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_BEARER_TOKEN: 't', LOGFERRY_BASIC_AUTH_USER: 'u' })
      .LOGFERRY_BASIC_AUTH_USER!,
    /not both/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_HEADERS: 'Authorization=x', LOGFERRY_BEARER_TOKEN: 't' })
      .LOGFERRY_HEADERS!,
    /Authorization/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_HEADERS: 'bad header=1' }).LOGFERRY_HEADERS!,
    /header name/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_HEADERS: 'Content-Type=x' }).LOGFERRY_HEADERS!,
    /set by logferry/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_TLS_INSECURE_SKIP_VERIFY: 'maybe' })
      .LOGFERRY_TLS_INSECURE_SKIP_VERIFY!,
    /true or false/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_OTLP_ENCODING: 'thrift' }).LOGFERRY_OTLP_ENCODING!,
    /protobuf, json/,
  );
  assert.match(problems({ ...HTTPS_BASE, LOGFERRY_ES_INDEX: 'Logs' }).LOGFERRY_ES_INDEX!, /lowercase/);
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_TLS_CA_FILE: join(dir, 'nope') }).LOGFERRY_TLS_CA_FILE!,
    /cannot read.*ENOENT/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_TLS_CA_FILE: 'relative.pem' }).LOGFERRY_TLS_CA_FILE!,
    /absolute/,
  );
});

test('logs: tokens, passwords and headers are redacted wherever they appear', () => {
  let out = '';
  const dest = new Writable({
    write(chunk, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const log = createLogger('info', dest as unknown as pino.DestinationStream);
  log.info(
    {
      bearerToken: 'bt-secret',
      basicAuthPassword: 'pw-secret',
      splunkToken: 'hec-secret',
      headers: { authorization: 'Bearer h-secret', 'x-api-key': 'k-secret' },
      config: { bearerToken: 'nested-secret' },
    },
    'x',
  );
  for (const s of ['bt-secret', 'pw-secret', 'hec-secret', 'h-secret', 'k-secret', 'nested-secret']) {
    assert.ok(!out.includes(s), `${s} was logged: ${out}`);
  }
  assert.match(out, /\[redacted\]/);
});
