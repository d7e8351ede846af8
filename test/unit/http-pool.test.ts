// The sender's HTTP client (src/send/http-pool.ts), pinned by behaviour: keep-alive reuses connections, the
// connection limit holds, HTTP/2 is not used even when the server offers it, timeouts and aborts end a request.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { dumpBody, HttpPool, readBody } from '../../src/send/http-pool.js';
import { tempDir } from '../helpers/agent.js';

const OPTS = { connections: 2, keepAliveTimeout: 30_000, idleTimeout: 10_000, connectTimeout: 5_000 };

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string; connections: () => number }> {
  const server = createServer(handler);
  let n = 0;
  server.on('connection', () => n++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => n,
  };
}

function close(server: { close(cb: () => void): void; closeAllConnections?(): void }): Promise<void> {
  server.closeAllConnections?.();
  return new Promise<void>((r) => server.close(() => r()));
}

/** A pool to the server `s`, both closed when the test ends. */
function poolOn(t: TestContext, s: { server: Server; url: string }, opts = OPTS): HttpPool {
  const pool = new HttpPool(s.url, opts);
  t.after(async () => {
    await pool.destroy();
    await close(s.server);
  });
  return pool;
}

const echo = (req: IncomingMessage, res: ServerResponse) => {
  let n = 0;
  req.on('data', (d: Buffer) => {
    n += d.length;
  });
  req.on('end', () => res.end(`got ${n} over HTTP/${req.httpVersion}`));
};

test('sequential requests reuse one keep-alive connection', async (t) => {
  const s = await listen(echo);
  const pool = poolOn(t, s);
  for (let i = 0; i < 5; i++) {
    const res = await pool.request({ method: 'POST', path: '/x', body: Buffer.from('hello') });
    assert.equal(res.statusCode, 200);
    assert.equal((await readBody(res.body)).toString(), 'got 5 over HTTP/1.1');
  }
  assert.equal(s.connections(), 1);
});

test('concurrent requests open at most `connections` connections, and reuse them', async (t) => {
  const s = await listen((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('ok'), 20));
  });
  const pool = poolOn(t, s);
  const all = Array.from({ length: 8 }, async () => {
    const res = await pool.request({ method: 'POST', path: '/', body: Buffer.alloc(1000) });
    await dumpBody(res.body);
    return res.statusCode;
  });
  assert.deepEqual(await Promise.all(all), Array(8).fill(200));
  assert.equal(s.connections(), 2);
});

test('an https server that offers HTTP/2 is spoken to in HTTP/1.1, with TLS verified against the CA', async (t) => {
  const dir = await tempDir(t, 'logferry-h2-');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  );
  const server = createSecureServer(
    { key: readFileSync(key), cert: readFileSync(cert), allowHTTP1: true },
    (req, res) => {
      res.end(`HTTP/${req.httpVersion}`);
    },
  );
  let sessions = 0;
  server.on('session', () => sessions++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pool = new HttpPool(url, { ...OPTS, tls: { ca: readFileSync(cert), rejectUnauthorized: true } });
  const untrusting = new HttpPool(url, { ...OPTS, tls: { rejectUnauthorized: true } });
  t.after(async () => {
    await pool.destroy();
    await untrusting.destroy();
    await close(server);
  });
  for (let i = 0; i < 2; i++) {
    const res = await pool.request({ method: 'GET', path: '/' });
    assert.equal((await readBody(res.body)).toString(), 'HTTP/1.1');
  }
  assert.equal(sessions, 0, 'no HTTP/2 session was opened');
  await assert.rejects(untrusting.request({ method: 'GET', path: '/' }), /self-signed|SELF_SIGNED/i);
});

test('a server that does not answer: the request fails with LOGFERRY_HTTP_TIMEOUT', async (t) => {
  const s = await listen(() => {});
  const pool = poolOn(t, s, { ...OPTS, idleTimeout: 200 });
  await assert.rejects(pool.request({ method: 'POST', path: '/', body: Buffer.from('x') }), {
    code: 'LOGFERRY_HTTP_TIMEOUT',
  });
});

test('an aborted signal ends the request with its reason', async (t) => {
  const s = await listen(() => {});
  const pool = poolOn(t, s);
  const c = new AbortController();
  const p = pool.request({ method: 'GET', path: '/', signal: c.signal });
  setTimeout(() => c.abort(new DOMException('late', 'TimeoutError')), 50);
  await assert.rejects(p, { name: 'TimeoutError' });
});

test('a connection that breaks in the middle of the answer fails the body read, and nothing else', async (t) => {
  const s = await listen((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': '1000' });
    res.write('part of it');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const pool = poolOn(t, s);
  for (let i = 0; i < 3; i++) {
    const res = await pool.request({ method: 'POST', path: '/', body: Buffer.from('x') });
    assert.equal(res.statusCode, 200);
    await assert.rejects(readBody(res.body));
  }
  // The pool still works afterwards (a new connection each time).
  assert.equal(s.connections(), 3);
});
