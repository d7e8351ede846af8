// A sample app for the demo: writes realistic log lines (levels, a multi-line error, a leaked secret) and rotates.
import { appendFileSync, existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'] as const;
const PATHS = ['/api/orders', '/api/users/42', '/healthz', '/api/cart', '/login'];
/** Test card numbers of the card networks (Luhn-valid, never issued). */
const CARDS = ['4111 1111 1111 1111', '5555555555554444', '3782-822463-10005'];
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vLXVzZXIifQ.c2lnbmF0dXJlLWRlbW8';

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
    let what = `${level === 'ERROR' ? 'request failed' : 'request handled'} path=${path}`;
    // Now and then a secret the app should not have logged: the demo's LOGFERRY_REDACT hides it.
    if (n % 10 === 3) what = `payment accepted card=${CARDS[n % CARDS.length]} amount=${(n % 90) + 10}.00`;
    if (n % 10 === 7) what += ` authorization="Bearer ${TOKEN}"`;
    let text = `${new Date().toISOString()} ${level} [http] ${what} status=${level === 'ERROR' ? 500 : 200} duration_ms=${(n * 7) % 300} seq=${n}\n`;
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
