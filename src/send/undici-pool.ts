// undici's Pool with the request API, loaded without the rest of undici (fetch, WebSocket, caches, mocks).
//
// Why: `require('undici')` loads undici's whole index, 72-86 ms of a ~250 ms start on this 2-core VM,
// against 26-33 ms for the three modules below (`node -e`, 3 runs each). A catch-up pays it before its
// first request. undici's index does the same three things (loads the Pool, loads the request API, puts
// it on Dispatcher.prototype); undici has no `exports` map, so these paths are public files of the
// package. Should a later undici move them, the whole index is loaded instead: slower, still correct
// (test/unit/undici-pool.test.ts says which one was taken).
import { createRequire } from 'node:module';
import type { Pool as UndiciPool } from 'undici';

const require = createRequire(import.meta.url);

export type PoolClass = typeof UndiciPool;

function load(): { Pool: PoolClass; partial: boolean } {
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
