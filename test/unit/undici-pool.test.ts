// The slim undici load (src/send/undici-pool.ts) works with the installed undici: a real request goes through.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { loadedPartially, Pool } from '../../src/send/undici-pool.js';

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
});
