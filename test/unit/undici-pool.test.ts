// The slim undici load (src/send/undici-pool.ts) works with the installed undici: a real request goes through,
// HTTP/2 is not loaded for it, and a connection that does negotiate h2 still gets undici's real connector.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { http2Deferred, loadedPartially, Pool } from '../../src/send/undici-pool.js';

test('undici Pool loaded without the whole index, and it sends a request', async (t) => {
  assert.equal(loadedPartially, true, 'the three modules are where undici keeps them (see undici-pool.ts)');
  const server = createServer((req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
    });
    req.on('end', () => res.end(`got ${n}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 1 });
  t.after(() => pool.close());
  const res = await pool.request({ method: 'POST', path: '/x', body: Buffer.from('hello') });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'got 5');
  assert.equal(http2Deferred(), true, "undici's HTTP/2 connector was not loaded for an HTTP/1.1 request");
});

test('a connection that negotiates h2 loads the real connector through the stand-in', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'logferry-h2-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1'],
  ]);
  const server = createSecureServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    res.end(`h2 ${req.httpVersion}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const pool = new Pool(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    connections: 1,
    allowH2: true,
    connect: { ca: readFileSync(cert) },
  });
  // The pool first: an HTTP/2 server's close waits for its sessions to end.
  t.after(async () => {
    await pool.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const res = await pool.request({ method: 'GET', path: '/' });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'h2 2.0');
  assert.equal(http2Deferred(), false, 'the stand-in gave way to the real connector');
});
