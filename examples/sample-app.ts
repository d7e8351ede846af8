// A sample app for the demo: writes realistic log lines (levels, now and then a multi-line error) and rotates.
import { appendFileSync, existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'] as const;
const PATHS = ['/api/orders', '/api/users/42', '/healthz', '/api/cart', '/login'];

export function startSampleApp(
  dir: string,
  opts: { intervalMs?: number; rotateBytes?: number } = {},
): () => void {
  const file = join(dir, 'app.log');
  let n = 0;
  const timer = setInterval(() => {
    n++;
    const level = LEVELS[n % LEVELS.length]!;
    const path = PATHS[n % PATHS.length]!;
    let text = `${new Date().toISOString()} ${level} [http] ${level === 'ERROR' ? 'request failed' : 'request handled'} path=${path} status=${level === 'ERROR' ? 500 : 200} duration_ms=${(n * 7) % 300} seq=${n}\n`;
    if (level === 'ERROR' && n % 4 === 1) {
      text += `Error: upstream timed out\n    at fetchOrders (/app/src/orders.js:42:11)\n    at handle (/app/src/server.js:17:5)\n`;
    }
    appendFileSync(file, text);
    if (existsSync(file) && statSync(file).size > (opts.rotateBytes ?? 64 * 1024)) {
      renameSync(file, `${file}.1`);
    }
  }, opts.intervalMs ?? 200);
  return () => clearInterval(timer);
}
