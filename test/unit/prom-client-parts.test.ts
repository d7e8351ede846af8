// prom-client loaded without its index (src/telemetry/prom-client-parts.ts): the parts work, the Pushgateway
// (and with it node:https) is not loaded.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  loadedPartially,
  Registry,
} from '../../src/telemetry/prom-client-parts.js';

const require = createRequire(import.meta.url);

test("prom-client's parts without its index: metrics are served, the Pushgateway is not loaded", async () => {
  assert.equal(loadedPartially, true, 'the four files are where prom-client keeps them');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'x_' });
  const c = new Counter({ name: 'x_things_total', help: 'things', registers: [registry] });
  const g = new Gauge({ name: 'x_level', help: 'level', registers: [registry] });
  c.inc(3);
  g.set(7);
  const text = await registry.metrics();
  assert.match(text, /^x_things_total 3$/m);
  assert.match(text, /^x_level 7$/m);
  assert.match(text, /^x_process_cpu_seconds_total /m);
  assert.equal(require.cache[require.resolve('prom-client/lib/pushgateway.js')], undefined);
  assert.equal(require.cache[require.resolve('prom-client')], undefined, 'the index was not loaded');
});
