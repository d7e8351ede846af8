// Secrets: URLs redacted in logs, secret values scrubbed from any log text, header values and secret files
// holding CR or LF refused at start and holding delivery when re-read, LOGFERRY_HTTP_HOST validated.
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type pino from 'pino';
import {
  checkConfigFiles,
  configSecrets,
  loadConfig,
  redactUrl,
  urlSecrets,
} from '../../src/config/config.js';
import { Credentials, secretText } from '../../src/send/auth.js';
import { statusHost } from '../../src/status/status-command.js';
import { addSecrets, createLogger } from '../../src/telemetry/logger.js';
import { tempDir } from '../helpers/agent.js';
import { configProblems as problems } from '../helpers/config-problems.js';
import { HTTPS_BASE, NO_AUTH } from '../helpers/no-auth.js';
import { waitFor } from '../helpers/wait-for.js';

function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger('info', dest as unknown as pino.DestinationStream), lines };
}

test('redactUrl: userinfo, query string and fragment are redacted; the rest is kept', () => {
  assert.equal(
    redactUrl('https://user:pw@collector.example:8443/api/v1/logs?token=SECRET123&x=1#frag'),
    'https://[redacted]@collector.example:8443/api/v1/logs?[redacted]#[redacted]',
  );
  assert.equal(redactUrl('http://collector/?api_key=k'), 'http://collector/?[redacted]');
  assert.equal(redactUrl('http://collector/p?sig'), 'http://collector/p?[redacted]');
  assert.equal(redactUrl('http://user@collector/'), 'http://[redacted]@collector/');
  assert.equal(redactUrl('http://collector:9000/ingest'), 'http://collector:9000/ingest');
  // Not a URL (a configuration error quotes it): redacted all the same.
  assert.equal(redactUrl('http://us:p@ss@[bad/x?token=abc'), 'http://[redacted]@[bad/x?[redacted]');
  assert.equal(redactUrl('collector?token=abc'), 'collector?[redacted]');
});

test('a malformed endpoint is a configuration error that does not echo its secrets', () => {
  const p = problems({ ...HTTPS_BASE, LOGFERRY_ENDPOINT: 'http://u:hunter22@[oops/?token=SECRET123' });
  assert.match(p.LOGFERRY_ENDPOINT!, /not a valid URL/);
  assert.ok(!p.LOGFERRY_ENDPOINT!.includes('hunter22'), p.LOGFERRY_ENDPOINT);
  assert.ok(!p.LOGFERRY_ENDPOINT!.includes('SECRET123'), p.LOGFERRY_ENDPOINT);
});

test('secrets of the configuration are scrubbed from any log text, wherever they are quoted', () => {
  const cfg = loadConfig({
    ...HTTPS_BASE,
    LOGFERRY_ENDPOINT: 'https://user:pa%24sword9@collector/x?token=SECRET123&sig=abc%2Bdef42&x=1',
    LOGFERRY_HEADERS: 'X-Api-Key=key-0123456789',
    LOGFERRY_BEARER_TOKEN: 'bearer-0123456789',
  });
  assert.deepEqual(
    urlSecrets(cfg.endpoint).filter((s) => s.includes('SECRET123')),
    [
      '?token=SECRET123&sig=abc%2Bdef42&x=1',
      'token=SECRET123&sig=abc%2Bdef42&x=1',
      'token=SECRET123',
      'SECRET123',
      'SECRET123',
    ],
  );
  addSecrets(configSecrets(cfg));
  const { log, lines } = capture();
  // As an HTTP client's error might quote them: in a message, a nested field, an error's stack.
  log.warn({ detail: `GET ${cfg.endpoint.href} failed` }, 'x');
  log.error({ err: new Error(`request to ${cfg.endpoint.href} failed`) }, 'y');
  log.warn({ answer: 'echo: authorization=Bearer bearer-0123456789, x-api-key=key-0123456789' }, 'z');
  log.warn({ decoded: 'sig abc+def42 and password pa$sword9' }, 'w');
  const out = lines.join('');
  for (const s of [
    'SECRET123',
    'bearer-0123456789',
    'key-0123456789',
    'abc%2Bdef42',
    'abc+def42',
    'pa$sword9',
  ]) {
    assert.ok(!out.includes(s), `${s} was logged: ${out}`);
  }
  assert.equal(lines.length, 4);
  assert.match(out, /\[redacted\]/);
  // Short values are not scrubbed (they would blank out ordinary words).
  log.info({ x: 'x=1' }, 'short');
  assert.match(lines[4]!, /x=1/);
});

test('secretText: one trailing line ending and outer spaces go; anything else stays', () => {
  assert.equal(secretText('tok\n'), 'tok');
  assert.equal(secretText('tok\r\n'), 'tok');
  assert.equal(secretText('  tok \t'), 'tok');
  assert.equal(secretText('tok\n\n'), 'tok\n');
  assert.equal(secretText('a\nb'), 'a\nb');
});

test('a header value or inline secret holding CR or LF is a configuration error naming the variable', () => {
  const p = problems({
    ...HTTPS_BASE,
    LOGFERRY_HEADERS: 'X-Team=pay\r\nX-Evil: 1,X-Ok=fine',
    LOGFERRY_BEARER_TOKEN: 'abc\ndef',
    LOGFERRY_LOKI_TENANT: 'a\rb',
  });
  assert.match(p.LOGFERRY_HEADERS!, /value of x-team holds a line break/);
  assert.match(p.LOGFERRY_BEARER_TOKEN!, /line break/);
  assert.match(p.LOGFERRY_LOKI_TENANT!, /line break/);
  assert.ok(!JSON.stringify(p).includes('X-Evil') && !JSON.stringify(p).includes('def'));
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_HEADERS: 'X-A=a\u0000b' }).LOGFERRY_HEADERS!,
    /control character/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_BASIC_AUTH_USER: 'u', LOGFERRY_BASIC_AUTH_PASSWORD: 'p\nq' })
      .LOGFERRY_BASIC_AUTH_PASSWORD!,
    /line break/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_BASIC_AUTH_USER: 'a:b' }).LOGFERRY_BASIC_AUTH_USER!,
    /colon/,
  );
  // One trailing newline (a Secret made from a file) is not an error, and is not part of the token.
  assert.equal(loadConfig({ ...HTTPS_BASE, LOGFERRY_BEARER_TOKEN: 'tok\n' }).bearerToken, 'tok');
});

test('a secret file holding CR or LF, or nothing, is a configuration error naming the variable', async (t) => {
  const dir = await tempDir(t);
  const bad = join(dir, 'bad');
  const good = join(dir, 'good');
  const empty = join(dir, 'empty');
  await writeFile(bad, 'line-one\nline-two\n');
  await writeFile(good, 'the-token\n');
  await writeFile(empty, '\n');
  const p = problems({ ...HTTPS_BASE, LOGFERRY_BEARER_TOKEN_FILE: bad });
  assert.match(p.LOGFERRY_BEARER_TOKEN_FILE!, /content of .*bad" holds a line break/);
  assert.ok(!JSON.stringify(p).includes('line-one'));
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_SINK: 'splunk', LOGFERRY_SPLUNK_TOKEN_FILE: empty })
      .LOGFERRY_SPLUNK_TOKEN_FILE!,
    /is empty/,
  );
  assert.match(
    problems({ ...HTTPS_BASE, LOGFERRY_BASIC_AUTH_USER: 'u', LOGFERRY_BASIC_AUTH_PASSWORD_FILE: bad })
      .LOGFERRY_BASIC_AUTH_PASSWORD_FILE!,
    /line break/,
  );
  checkConfigFiles(loadConfig({ ...HTTPS_BASE, LOGFERRY_BEARER_TOKEN_FILE: good }));
});

test('a re-read secret file that turns bad holds delivery with a coded error until it is fixed', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'token');
  await writeFile(file, 'good-one\n');
  const { log, lines } = capture();
  const c = new Credentials({ ...NO_AUTH, bearerTokenFile: file }, log);
  const ac = new AbortController();
  await c.usable(ac.signal);
  assert.equal(c.held(), null);

  // Replaced as Kubernetes does (a new file renamed in place), with a value that would split the header.
  await writeFile(`${file}.tmp`, 'good-two\nInjected: 1\n');
  await rename(`${file}.tmp`, file);
  await c.refresh(true);
  assert.equal(c.held()?.code, 'LOGFERRY_SECRET_INVALID');
  assert.match(c.held()!.message, /LOGFERRY_BEARER_TOKEN_FILE.*line break/);
  // The last usable value is what headers() still gives; nothing with a line break ever reaches a header.
  assert.equal(c.headers().authorization, 'Bearer good-one');
  let resolved = false;
  const waiting = c.usable(ac.signal).then(() => {
    resolved = true;
  });
  await waitFor(() => lines.some((l) => l.includes('LOGFERRY_SECRET_INVALID')), { what: 'held error' });
  assert.equal(resolved, false, 'delivery went on with an unusable secret');
  // Logged once per window, not once a second.
  const before = lines.filter((l) => l.includes('LOGFERRY_SECRET_INVALID')).length;
  assert.equal(before, 1);
  assert.ok(!lines.join('').includes('Injected'), 'the bad content was logged');

  await writeFile(`${file}.tmp`, 'good-three\n');
  await rename(`${file}.tmp`, file);
  await waitFor(() => resolved, { what: 'delivery to resume' });
  await waiting;
  assert.equal(c.held(), null);
  assert.equal(c.headers().authorization, 'Bearer good-three');
  assert.ok(lines.some((l) => l.includes('delivery resumes')));

  // Stopping while held: the wait ends with an abort, so the batch stays behind the checkpoint.
  await writeFile(`${file}.tmp`, 'a\rb');
  await rename(`${file}.tmp`, file);
  await c.refresh(true);
  const stopped = c.usable(ac.signal);
  ac.abort();
  await assert.rejects(stopped, { name: 'AbortError' });
});

test('LOGFERRY_HTTP_HOST: an IP address or localhost, 0.0.0.0 by default', () => {
  assert.equal(loadConfig(HTTPS_BASE).httpHost, '0.0.0.0');
  assert.equal(loadConfig({ ...HTTPS_BASE, LOGFERRY_HTTP_HOST: '127.0.0.1' }).httpHost, '127.0.0.1');
  assert.equal(loadConfig({ ...HTTPS_BASE, LOGFERRY_HTTP_HOST: '[::1]' }).httpHost, '::1');
  assert.equal(loadConfig({ ...HTTPS_BASE, LOGFERRY_HTTP_HOST: '::' }).httpHost, '::');
  assert.equal(loadConfig({ ...HTTPS_BASE, LOGFERRY_HTTP_HOST: 'LocalHost' }).httpHost, 'localhost');
  for (const bad of ['metrics.internal', '10.0.0.256', '127.0.0.1:9780', '*']) {
    assert.match(
      problems({ ...HTTPS_BASE, LOGFERRY_HTTP_HOST: bad }).LOGFERRY_HTTP_HOST!,
      /must be an IP address/,
      bad,
    );
  }
  assert.equal(statusHost(undefined), '127.0.0.1');
  assert.equal(statusHost('0.0.0.0'), '127.0.0.1');
  assert.equal(statusHost('::'), '127.0.0.1');
  assert.equal(statusHost('::1'), '[::1]');
  assert.equal(statusHost('10.1.2.3'), '10.1.2.3');
});
