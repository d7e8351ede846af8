// Secrets against a real agent: an endpoint's query string and password never reach its output, whatever
// fails; a secret file re-read with a line break holds delivery until fixed; LOGFERRY_HTTP_HOST binds there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, readdir, rename, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { MAIN, startAgent } from '../helpers/agent.js';
import { freePort, rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);

/** `http://127.0.0.1:1234/ingest` → the same with userinfo and a query string holding secrets. */
function withSecrets(url: string): string {
  const u = new URL(url);
  return `http://user:pw-Secret7@${u.host}${u.pathname}?token=SECRET123&api_key=KEY456xyz&x=1`;
}

const SECRETS = ['SECRET123', 'KEY456xyz', 'pw-Secret7', ':pw-'];

function assertClean(what: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${what} holds ${s}:\n${text}`);
}

test('the endpoint query string and userinfo never appear in the agent output, through network errors and 500s', async (t) => {
  const r = await rig(t, { prefix: 'logferry-secrets-' });
  const dead = await freePort();
  await appendFile(r.logFile, 'one\ntwo\n');
  // Network errors: nothing listens on the port.
  const down = await r.start({
    LOGFERRY_ENDPOINT: withSecrets(`http://127.0.0.1:${dead}/ingest`),
    LOGFERRY_LOG_LEVEL: 'trace',
  });
  await waitFor(() => down.logs().some((l) => l.code === 'LOGFERRY_SEND_RETRY'), { what: 'a network retry' });
  const loaded = down.logs().find((l) => l.msg === 'configuration loaded');
  assert.equal(loaded?.endpoint, `http://[redacted]@127.0.0.1:${dead}/ingest?[redacted]`);
  down.kill('SIGKILL');
  await down.exited;
  assertClean('stdout (network errors)', down.stdout);
  assertClean('stderr (network errors)', down.stderr);

  // 500s from a collector that echoes the request line and the Authorization header in its answer.
  let failing = true;
  r.c.fault = (req) =>
    failing ? { status: 500, body: `cannot take ${req.url}; ${req.headers.authorization ?? ''}` } : undefined;
  const agent = await r.start({
    LOGFERRY_ENDPOINT: withSecrets(r.c.url),
    LOGFERRY_BEARER_TOKEN: 'bearer-Secret8',
    LOGFERRY_LOG_LEVEL: 'trace',
  });
  await waitFor(
    () => agent.logs().some((l) => l.code === 'LOGFERRY_SEND_RETRY' && String(l.reason).includes('500')),
    { what: 'a 500 retry' },
  );
  const retry = agent.logs().find((l) => l.code === 'LOGFERRY_SEND_RETRY')!;
  assert.match(String(retry.detail), /cannot take \/ingest\[redacted\]|cannot take \/ingest\?\[redacted\]/);
  failing = false;
  await waitFor(() => r.c.records.length >= 2, { what: 'delivery after the 500s' });
  agent.kill('SIGTERM');
  await agent.exited;
  assertClean('stdout (500)', agent.stdout);
  assertClean('stderr (500)', agent.stderr);
  assert.ok(!agent.stdout.includes('bearer-Secret8'), agent.stdout);
});

test('a bearer token file re-read with a line break holds delivery (no request, no dead letter) until fixed', async (t) => {
  const r = await rig(t, { prefix: 'logferry-secrets-', withHealthPort: true });
  const tokenFile = join(r.dir, 'token');
  await writeFile(tokenFile, 'token-one\n');
  let expected = 'Bearer token-one';
  r.c.fault = (req) => (req.headers.authorization === expected ? undefined : { status: 401 });
  await appendFile(r.logFile, 'a1\na2\n');
  const agent = await r.start({ LOGFERRY_BEARER_TOKEN_FILE: tokenFile });
  await waitFor(() => r.c.records.length === 2, { what: 'first lines' });

  // A rotated Secret with a second line in it: the header would be split, so nothing may be sent.
  await writeFile(`${tokenFile}.tmp`, 'token-two\nX-Injected: 1\n');
  await rename(`${tokenFile}.tmp`, tokenFile);
  // The file is checked at most once a second: a line at a time until a request finds it changed.
  const written = ['a1', 'a2'];
  await waitFor(
    async () => {
      if (agent.logs().some((l) => l.code === 'LOGFERRY_SECRET_INVALID')) return true;
      if (r.c.records.length === written.length) {
        written.push(`b${written.length}`);
        await appendFile(r.logFile, `${written.at(-1)}\n`);
      }
      return false;
    },
    { what: 'the held error' },
  );
  const held = agent.logs().find((l) => l.code === 'LOGFERRY_SECRET_INVALID')!;
  assert.equal(held.level, 'error');
  assert.match(String(held.error), /LOGFERRY_BEARER_TOKEN_FILE/);
  const requestsWhenHeld = r.c.requests;
  // More lines are read while held (the files are the buffer), and none is sent.
  await appendFile(r.logFile, 'c1\n');
  await waitFor(
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${r.port}/metrics`)).text();
      return text.includes(`logferry_lines_read_total{file="${r.logFile}"} ${written.length + 1}`);
    },
    { what: 'the held lines to be read' },
  );
  assert.equal(r.c.requests, requestsWhenHeld, 'a request was sent while the secret was unusable');
  assert.equal(r.c.records.length, written.length - 1, 'only the held line is not delivered');
  assert.equal(
    agent.logs().filter((l) => l.code === 'LOGFERRY_SECRET_INVALID').length,
    1,
    'not rate-limited',
  );
  assert.ok(!agent.stdout.includes('X-Injected'), 'the bad content was logged');

  expected = 'Bearer token-three';
  await writeFile(`${tokenFile}.tmp`, 'token-three\n');
  await rename(`${tokenFile}.tmp`, tokenFile);
  await waitFor(() => r.c.records.length === written.length + 1, { what: 'delivery to resume' });
  assert.deepEqual(
    r.c.records.map((x) => x.message),
    [...written, 'c1'],
  );
  const state = await readdir(r.stateDir);
  assert.ok(!state.some((f) => f.startsWith('dead-letter')), `dead letters: ${state.join(',')}`);
  assert.ok(agent.logs().some((l) => String(l.msg).includes('delivery resumes')));
});

test('a secret file or header value holding a line break at start exits 2 naming the variable', async (t) => {
  const r = await rig(t, { prefix: 'logferry-secrets-' });
  const tokenFile = join(r.dir, 'token');
  await writeFile(tokenFile, 'abc\r\ndef\n');
  const a = startAgent(r.env({ LOGFERRY_BEARER_TOKEN_FILE: tokenFile }));
  assert.equal(await a.exited, 2);
  assert.match(a.stderr, /LOGFERRY_BEARER_TOKEN_FILE: the content of .* holds a line break/);
  assert.ok(!a.stderr.includes('def') && !a.stdout.includes('def'));
  const b = startAgent(r.env({ LOGFERRY_HEADERS: 'X-Key=abc\nX-Evil: 1' }));
  assert.equal(await b.exited, 2);
  assert.match(b.stderr, /LOGFERRY_HEADERS: the value of x-key holds a line break/);
});

test('LOGFERRY_HTTP_HOST: the health server binds the address given; an invalid one exits 2', async (t) => {
  const r = await rig(t, { prefix: 'logferry-secrets-', withHealthPort: true });
  await appendFile(r.logFile, 'x\n');
  await r.start({ LOGFERRY_HTTP_HOST: '127.0.0.1' });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${r.port}/healthz`).catch(() => null))?.status === 200,
    { what: 'healthz on 127.0.0.1' },
  );
  // Not on the machine's other addresses, where there are any.
  const other = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
  if (other !== undefined) {
    const res = await fetch(`http://${other.address}:${r.port}/healthz`).catch((e: Error) => e);
    assert.ok(res instanceof Error, `reachable on ${other.address}`);
  }
  // `logferry status` finds the agent there.
  const status = await run(process.execPath, [MAIN, 'status'], {
    env: { ...r.env({ LOGFERRY_HTTP_HOST: '127.0.0.1' }), PATH: process.env.PATH ?? '' },
  });
  assert.match(status.stdout, /agent: running/);

  const bad = startAgent(r.env({ LOGFERRY_HTTP_HOST: 'metrics.example' }));
  assert.equal(await bad.exited, 2);
  assert.match(bad.stderr, /LOGFERRY_HTTP_HOST: must be an IP address/);
});
