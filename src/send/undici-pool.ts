// undici's Pool with the request API, loaded without the rest of undici (fetch, WebSocket, caches, mocks).
//
// Why: `require('undici')` loads undici's whole index, 72-86 ms of a ~250 ms start on this 2-core VM,
// against 26-33 ms for the three modules below (`node -e`, 3 runs each). A catch-up pays it before its
// first request. undici's index does the same three things (loads the Pool, loads the request API, puts
// it on Dispatcher.prototype); undici has no `exports` map, so these paths are public files of the
// package. Should a later undici move them, the whole index is loaded instead: slower, still correct
// (test/unit/undici-pool.test.ts says which one was taken).
//
// And without HTTP/2 until a connection negotiates it: undici's client.js requires client-h2.js, which
// requires node:http2 at its top, and node:http2 requires node:tls (OpenSSL's start). The agent never
// asks for h2 (no `allowH2`), so a stand-in for client-h2.js goes into require.cache first (a use the
// Node docs describe: "adding or replacing entries is also possible"); it loads the real file only if
// called. Measured with /proc/self/status on Node 26, `require('tls')` then `require('http2')`: +5.3 and
// +1.0 MB of file-backed RSS, +2.3 and +1.1 MB anonymous (Node 20: +0.4/+0.2, +0.5/+1.1).
import { createRequire, Module } from 'node:module';
import type { Pool as UndiciPool } from 'undici';

const require = createRequire(import.meta.url);

export type PoolClass = typeof UndiciPool;

/** undici's HTTP/2 connector, where client.js requires it; null when it cannot be found. */
const H2_PATH: string | null = (() => {
  try {
    return require.resolve('undici/lib/dispatcher/client-h2.js');
  } catch {
    return null;
  }
})();

/** The stand-in for client-h2.js while it is in require.cache. */
let standIn: Module | null = null;

/** Put the stand-in in place, unless client-h2.js is loaded already. */
function deferHttp2(): void {
  if (H2_PATH === null || H2_PATH in require.cache) return;
  const path = H2_PATH;
  let real: ((...args: unknown[]) => unknown) | null = null;
  const m = new Module(path);
  m.filename = path;
  m.loaded = true;
  m.exports = function connectH2(...args: unknown[]): unknown {
    if (real === null) {
      delete require.cache[path];
      real = require(path) as (...args: unknown[]) => unknown;
    }
    return real(...args);
  };
  require.cache[path] = m;
  standIn = m;
}

/** True while undici's HTTP/2 connector is the stand-in, not the real file (for the unit test). */
export function http2Deferred(): boolean {
  return standIn !== null && H2_PATH !== null && require.cache[H2_PATH] === standIn;
}

function load(): { Pool: PoolClass; partial: boolean } {
  deferHttp2();
  try {
    const Pool = require('undici/lib/dispatcher/pool.js') as PoolClass;
    const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
    const api = require('undici/lib/api/index.js') as Record<string, unknown>;
    if (!('request' in Dispatcher.prototype)) Object.assign(Dispatcher.prototype, api);
    if (typeof Pool === 'function' && typeof Pool.prototype.request === 'function') {
      return { Pool, partial: true };
    }
  } catch {
    // Not where they were: the index below.
  }
  return { Pool: (require('undici') as { Pool: PoolClass }).Pool, partial: false };
}

const loaded = load();

export const Pool: PoolClass = loaded.Pool;
/** True when only the modules above were loaded (not undici's whole index). */
export const loadedPartially = loaded.partial;
