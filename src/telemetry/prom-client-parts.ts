// prom-client's Registry, Counter, Gauge and default metrics, loaded without its index.
//
// Why: prom-client's index also loads its Pushgateway, which requires node:https, so node:tls and
// OpenSSL's start, for an agent that only serves /metrics. Measured with /proc/self/status on Node 26,
// `require('tls')`: +5.3 MB of file-backed RSS and +2.3 MB anonymous (+0.4 and +0.5 on Node 20). These
// four files are what the index exports them from; prom-client has no `exports` map, so they are public
// files of the package. Should a later prom-client move them, the index is loaded instead (a unit test
// says which one was taken), as undici-pool.ts does for undici.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

type Parts = Pick<typeof PromClient, 'Registry' | 'Counter' | 'Gauge' | 'collectDefaultMetrics'>;

function load(): { parts: Parts; partial: boolean } {
  try {
    const parts: Parts = {
      Registry: require('prom-client/lib/registry.js'),
      Counter: require('prom-client/lib/counter.js'),
      Gauge: require('prom-client/lib/gauge.js'),
      collectDefaultMetrics: require('prom-client/lib/defaultMetrics.js'),
    };
    if (Object.values(parts).every((p) => typeof p === 'function')) return { parts, partial: true };
  } catch {
    // Not where they were: the index below.
  }
  return { parts: require('prom-client') as typeof PromClient, partial: false };
}

const loaded = load();

export const { Registry, Counter, Gauge, collectDefaultMetrics } = loaded.parts;
export type Registry = PromClient.Registry;
export type Counter = PromClient.Counter;
/** True when only the four files above were loaded (not prom-client's index). */
export const loadedPartially = loaded.partial;
